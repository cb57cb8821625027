"""Stored images: uploads, generated results and profile pictures."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from stylestudio.models.base import created_at_field, enum_field
from stylestudio.models.enums import ImageCategory, ModerationStatus


class Image(SQLModel, table=True):
    __tablename__ = "images"
    __table_args__ = (
        sa.Index("ix_images_user_id_category_created_at", "user_id", "category", "created_at"),
        sa.Index("ix_images_public_gallery", "is_featured", "is_disabled_by_admin", "featured_at"),
        sa.Index(
            "ix_images_moderation_status_feature_requested_at",
            "moderation_status",
            "feature_requested_at",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    category: ImageCategory = enum_field(ImageCategory, ImageCategory.PRODUCT)
    filename: str = Field(default="", max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int
    width: int
    height: int
    storage_key: str = Field(max_length=500, unique=True)
    thumbnail_key: str | None = Field(default=None, max_length=500)
    blur_data_url: str | None = Field(default=None, sa_type=sa.Text)
    source_image_id: int | None = Field(
        default=None, foreign_key="images.id", index=True, ondelete="SET NULL"
    )
    generation_id: int | None = Field(
        default=None, foreign_key="generations.id", index=True, ondelete="SET NULL"
    )
    image_order: int = Field(default=0)
    is_primary: bool = Field(default=False)

    # An upload the user removed from the studio's "Recent uploads" strip (the file stays
    # while generations use it).
    removed_from_library_at: datetime | None = None

    sharing_enabled: bool = Field(default=False)
    share_expires_at: datetime | None = None

    is_featured: bool = Field(default=False)
    featured_at: datetime | None = None
    feature_requested_at: datetime | None = None
    moderation_status: ModerationStatus = enum_field(ModerationStatus, ModerationStatus.NONE)
    feature_title: str | None = Field(default=None, max_length=120)
    moderation_reason: str | None = Field(default=None, max_length=500)
    moderated_by_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    moderated_at: datetime | None = None
    is_disabled_by_admin: bool = Field(default=False)
    disabled_by_admin_at: datetime | None = None
    disabled_reason: str | None = Field(default=None, max_length=500)

    created_at: datetime = created_at_field()
