"""advanced-alchemy's repository service for users: the account handlers build it on ``uow.session``
(never committing; the unit of work does), and login reads the credentials through it."""

from __future__ import annotations

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService

from domain.accounts.models import User


class UserService(SQLAlchemyAsyncRepositoryService[User, SQLAlchemyAsyncRepository[User]]):
    class Repository(SQLAlchemyAsyncRepository[User]):
        model_type = User

    repository_type = Repository
