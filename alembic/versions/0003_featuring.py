"""featuring: a title and a moderation reason per image, a user's right to publish

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# recreate="never": plain ADD/DROP COLUMN, no table copy (see 0002).


def upgrade() -> None:
    with op.batch_alter_table("images", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("feature_title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "moderation_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True
            )
        )
    with op.batch_alter_table("users", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("publishing_suspended", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "publishing_suspended_reason",
                sqlmodel.sql.sqltypes.AutoString(length=500),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", recreate="never") as batch_op:
        batch_op.drop_column("publishing_suspended_reason")
        batch_op.drop_column("publishing_suspended")
    with op.batch_alter_table("images", recreate="never") as batch_op:
        batch_op.drop_column("moderation_reason")
        batch_op.drop_column("feature_title")
