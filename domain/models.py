"""Every table, imported once so that ``metadata`` is complete (migrations, tests)."""

from advanced_alchemy.base import orm_registry

from domain.accounts.models import RevokedToken, User
from domain.ads.models import Ad, AdImage, Favorite, Report, SavedSearch
from domain.catalog.models import Category, Province
from domain.messaging.models import Conversation, Message
from domain.shared.models import EmailDelivery, OutboxJob

metadata = orm_registry.metadata

__all__ = (
    "Ad",
    "AdImage",
    "Category",
    "Conversation",
    "EmailDelivery",
    "Favorite",
    "Message",
    "OutboxJob",
    "Province",
    "Report",
    "RevokedToken",
    "SavedSearch",
    "User",
    "metadata",
)
