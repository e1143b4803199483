"""The ``conversations`` and ``messages`` tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column


class Conversation(UUIDv7AuditBase):
    """One pair of users about one ad (or about no ad); the pair is stored ordered."""

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("user_low_id < user_high_id", name="pair_ordered"),
        # send: find the conversation of a pair about an ad (NULL ad included) or create it
        Index(
            "uq_conversations_pair_ad",
            "user_low_id",
            "user_high_id",
            "ad_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        # inbox: a user's conversations, newest first (one index per side of the pair)
        Index("ix_conversations_low_last", "user_low_id", text("last_message_at DESC")),
        Index("ix_conversations_high_last", "user_high_id", text("last_message_at DESC")),
        # deleting an ad sets its conversations' ad to NULL
        Index("ix_conversations_ad_id", "ad_id"),
    )

    ad_id: Mapped[UUID | None] = mapped_column(ForeignKey("ads.id", ondelete="SET NULL"), default=None)
    user_low_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_high_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    last_message_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=text("now()"))


class Message(UUIDv7AuditBase):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("char_length(content) BETWEEN 1 AND 2000", name="content_length"),
        # a conversation's messages, keyset-paged newest first
        Index("ix_messages_conversation_created", "conversation_id", text("created_at DESC"), text("id DESC")),
        # unread counts: a recipient's unread messages per conversation
        Index(
            "ix_messages_unread_recipient",
            "recipient_id",
            "conversation_id",
            postgresql_where=text("read_at IS NULL"),
        ),
        # deleting a user removes the messages they sent
        Index("ix_messages_sender_id", "sender_id"),
    )

    conversation_id: Mapped[UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(String(2000))
    read_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
