"""Initial schema: accounts, catalog, ads and messaging, with every index the API's queries use.

Each index carries a comment naming the query it serves.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 03:18:13.062912
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("parent_id", GUID(length=16), nullable=True),
        sa.Column("display_order", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["categories.id"], name=op.f("fk_categories_parent_id_categories"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_categories_slug")),
    )
    # GET /api/categories: active categories in display order
    op.create_index(
        "ix_categories_active_order",
        "categories",
        ["display_order", "name"],
        unique=False,
        postgresql_where=sa.text("is_active"),
    )
    # search by category: a parent's sub-categories
    op.create_index("ix_categories_parent_id", "categories", ["parent_id"], unique=False)
    op.create_table(
        "provinces",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("iso_code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_provinces")),
        sa.UniqueConstraint("iso_code", name=op.f("uq_provinces_iso_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("province_code", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), server_default=sa.text("'user'"), nullable=False),
        sa.Column("blocked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sessions_valid_after", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role_known")),
        sa.CheckConstraint("email = lower(btrim(email))", name=op.f("ck_users_email_normalised")),
        sa.ForeignKeyConstraint(
            ["province_code"], ["provinces.code"], name=op.f("fk_users_province_code_provinces"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    # login and register: the normalised email is unique
    op.create_index("uq_users_email", "users", ["email"], unique=True)
    op.create_table(
        "ads",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("owner_id", GUID(length=16), nullable=False),
        sa.Column("category_id", GUID(length=16), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("price", sa.Numeric(precision=15, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default=sa.text("'ARS'"), nullable=False),
        sa.Column("province_code", sa.String(length=32), nullable=False),
        sa.Column("locality", sa.String(length=120), nullable=False),
        sa.Column("condition", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False),
        sa.Column("is_featured", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expiry_warned_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("deleted_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("suspended_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "search_document",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('spanish'::regconfig, lower(translate(title, 'áàâäãéèêëíìîïóòôöõúùûüñçÁÀÂÄÃÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÑÇ', 'aaaaaeeeeiiiiooooouuuuncAAAAAEEEEIIIIOOOOOUUUUNC'))), 'A') || setweight(to_tsvector('spanish'::regconfig, lower(translate(locality, 'áàâäãéèêëíìîïóòôöõúùûüñçÁÀÂÄÃÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÑÇ', 'aaaaaeeeeiiiiooooouuuuncAAAAAEEEEIIIIOOOOOUUUUNC'))), 'B') || setweight(to_tsvector('spanish'::regconfig, lower(translate(description, 'áàâäãéèêëíìîïóòôöõúùûüñçÁÀÂÄÃÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÑÇ', 'aaaaaeeeeiiiiooooouuuuncAAAAAEEEEIIIIOOOOOUUUUNC'))), 'C')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("condition IS NULL OR condition IN ('new', 'used')", name=op.f("ck_ads_condition_known")),
        sa.CheckConstraint("currency IN ('ARS', 'USD')", name=op.f("ck_ads_currency_known")),
        sa.CheckConstraint("status IN ('active', 'paused', 'sold', 'expired')", name=op.f("ck_ads_status_known")),
        sa.CheckConstraint("price IS NULL OR price >= 0", name=op.f("ck_ads_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name=op.f("fk_ads_category_id_categories"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_ads_owner_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["province_code"], ["provinces.code"], name=op.f("fk_ads_province_code_provinces"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ads")),
    )
    # the expiry job: active ads by expiry date
    op.create_index(
        "ix_ads_active_expires_at",
        "ads",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL"),
    )
    # search by category and province together, sort=recent (the commonest filter pair)
    op.create_index(
        "ix_ads_live_category_province_recent",
        "ads",
        [
            "category_id",
            "province_code",
            sa.literal_column("is_featured DESC"),
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    # search by category (and its sub-categories), sort=recent
    op.create_index(
        "ix_ads_live_category_recent",
        "ads",
        [
            "category_id",
            sa.literal_column("is_featured DESC"),
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    # search with minPrice/maxPrice, sort=price_asc/price_desc (prices compare within one currency)
    op.create_index(
        "ix_ads_live_currency_price",
        "ads",
        ["currency", "price", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    # search by province, sort=recent
    op.create_index(
        "ix_ads_live_province_recent",
        "ads",
        [
            "province_code",
            sa.literal_column("is_featured DESC"),
            sa.literal_column("created_at DESC"),
            sa.literal_column("id DESC"),
        ],
        unique=False,
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    # search, sort=recent, no filter: featured first, then newest
    op.create_index(
        "ix_ads_live_recent",
        "ads",
        [sa.literal_column("is_featured DESC"), sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    # search with q: Spanish full text over title, locality and description
    op.create_index(
        "ix_ads_live_search_document",
        "ads",
        ["search_document"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    # GET /api/me/ads and a seller's public profile: one owner's ads, newest first
    op.create_index("ix_ads_owner_created", "ads", ["owner_id", sa.literal_column("created_at DESC")], unique=False)
    op.create_table(
        "saved_searches",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("last_alerted_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("frequency IN ('instant', 'daily')", name=op.f("ck_saved_searches_frequency_known")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saved_searches_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_searches")),
    )
    # the alert jobs: saved searches of one frequency
    op.create_index("ix_saved_searches_frequency", "saved_searches", ["frequency", "last_alerted_at"], unique=False)
    # GET /api/me/saved-searches
    op.create_index(
        "ix_saved_searches_user", "saved_searches", ["user_id", sa.literal_column("created_at DESC")], unique=False
    )
    op.create_table(
        "ad_images",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("ad_id", GUID(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'processing'"), nullable=False),
        sa.Column("original_key", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column(
            "sizes", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('processing', 'ready', 'failed')", name=op.f("ck_ad_images_status_known")),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"], name=op.f("fk_ad_images_ad_id_ads"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_images")),
    )
    # ad detail: an ad's images in order; the upload limit counts them
    op.create_index("ix_ad_images_ad_position", "ad_images", ["ad_id", "position"], unique=False)
    op.create_table(
        "conversations",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("ad_id", GUID(length=16), nullable=True),
        sa.Column("user_low_id", GUID(length=16), nullable=False),
        sa.Column("user_high_id", GUID(length=16), nullable=False),
        sa.Column("last_message_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("user_low_id < user_high_id", name=op.f("ck_conversations_pair_ordered")),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"], name=op.f("fk_conversations_ad_id_ads"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["user_high_id"], ["users.id"], name=op.f("fk_conversations_user_high_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_low_id"], ["users.id"], name=op.f("fk_conversations_user_low_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    # deleting an ad sets its conversations' ad to NULL
    op.create_index("ix_conversations_ad_id", "conversations", ["ad_id"], unique=False)
    # inbox: the conversations where the user is the higher id of the pair, newest first
    op.create_index(
        "ix_conversations_high_last",
        "conversations",
        ["user_high_id", sa.literal_column("last_message_at DESC")],
        unique=False,
    )
    # inbox: the conversations where the user is the lower id of the pair, newest first
    op.create_index(
        "ix_conversations_low_last",
        "conversations",
        ["user_low_id", sa.literal_column("last_message_at DESC")],
        unique=False,
    )
    # send: find the conversation of a pair about an ad (NULL ad included) or create it
    op.create_index(
        "uq_conversations_pair_ad",
        "conversations",
        ["user_low_id", "user_high_id", "ad_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "favorites",
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("ad_id", GUID(length=16), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"], name=op.f("fk_favorites_ad_id_ads"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_favorites_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "ad_id", name=op.f("pk_favorites")),
    )
    # deleting an ad cascades to its favorites
    op.create_index("ix_favorites_ad_id", "favorites", ["ad_id"], unique=False)
    # GET /api/me/favorites: a user's saved ads, newest first (the primary key serves lookups)
    op.create_index(
        "ix_favorites_user_created", "favorites", ["user_id", sa.literal_column("created_at DESC")], unique=False
    )
    op.create_table(
        "reports",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("ad_id", GUID(length=16), nullable=False),
        sa.Column("reporter_id", GUID(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("resolved_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reason IN ('spam', 'prohibited', 'fraud', 'duplicate', 'miscategorized', 'other')",
            name=op.f("ck_reports_reason_known"),
        ),
        sa.ForeignKeyConstraint(["ad_id"], ["ads.id"], name=op.f("fk_reports_ad_id_ads"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["users.id"], name=op.f("fk_reports_reporter_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("ad_id", "reporter_id", name="uq_reports_ad_reporter"),
    )
    # GET /api/admin/reports: open reports, newest first
    op.create_index(
        "ix_reports_open_created",
        "reports",
        [sa.literal_column("created_at DESC")],
        unique=False,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "messages",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("conversation_id", GUID(length=16), nullable=False),
        sa.Column("sender_id", GUID(length=16), nullable=False),
        sa.Column("recipient_id", GUID(length=16), nullable=False),
        sa.Column("content", sa.String(length=2000), nullable=False),
        sa.Column("read_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("char_length(content) BETWEEN 1 AND 2000", name=op.f("ck_messages_content_length")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_messages_recipient_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_messages_sender_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    # a conversation's messages, keyset-paged newest first
    op.create_index(
        "ix_messages_conversation_created",
        "messages",
        ["conversation_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    # deleting a user removes the messages they sent
    op.create_index("ix_messages_sender_id", "messages", ["sender_id"], unique=False)
    # unread counts: a recipient's unread messages per conversation
    op.create_index(
        "ix_messages_unread_recipient",
        "messages",
        ["recipient_id", "conversation_id"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unread_recipient", table_name="messages", postgresql_where=sa.text("read_at IS NULL"))
    op.drop_index("ix_messages_sender_id", table_name="messages")
    op.drop_index("ix_messages_conversation_created", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_reports_open_created", table_name="reports", postgresql_where=sa.text("resolved_at IS NULL"))
    op.drop_table("reports")
    op.drop_index("ix_favorites_user_created", table_name="favorites")
    op.drop_index("ix_favorites_ad_id", table_name="favorites")
    op.drop_table("favorites")
    op.drop_index("uq_conversations_pair_ad", table_name="conversations", postgresql_nulls_not_distinct=True)
    op.drop_index("ix_conversations_low_last", table_name="conversations")
    op.drop_index("ix_conversations_high_last", table_name="conversations")
    op.drop_index("ix_conversations_ad_id", table_name="conversations")
    op.drop_table("conversations")
    op.drop_index("ix_ad_images_ad_position", table_name="ad_images")
    op.drop_table("ad_images")
    op.drop_index("ix_saved_searches_user", table_name="saved_searches")
    op.drop_index("ix_saved_searches_frequency", table_name="saved_searches")
    op.drop_table("saved_searches")
    op.drop_index("ix_ads_owner_created", table_name="ads")
    op.drop_index(
        "ix_ads_live_search_document",
        table_name="ads",
        postgresql_using="gin",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    op.drop_index(
        "ix_ads_live_recent",
        table_name="ads",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    op.drop_index(
        "ix_ads_live_province_recent",
        table_name="ads",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    op.drop_index(
        "ix_ads_live_currency_price",
        table_name="ads",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    op.drop_index(
        "ix_ads_live_category_recent",
        table_name="ads",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    op.drop_index(
        "ix_ads_live_category_province_recent",
        table_name="ads",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"),
    )
    op.drop_index(
        "ix_ads_active_expires_at",
        table_name="ads",
        postgresql_where=sa.text("status = 'active' AND deleted_at IS NULL"),
    )
    op.drop_table("ads")
    op.drop_index("uq_users_email", table_name="users")
    op.drop_table("users")
    op.drop_table("provinces")
    op.drop_index("ix_categories_parent_id", table_name="categories")
    op.drop_index("ix_categories_active_order", table_name="categories", postgresql_where=sa.text("is_active"))
    op.drop_table("categories")
