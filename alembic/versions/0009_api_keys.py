"""api keys: scopes and last use of a key; the first answers to idempotent API requests

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# recreate="never": plain ADD/DROP COLUMN, no table copy (see 0002).


def upgrade() -> None:
    with op.batch_alter_table("api_keys", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "scopes",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column("last_used_ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    op.create_table(
        "api_idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_api_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_api_idempotency_keys_user_id_key")),
        sqlite_autoincrement=True,  # ids are never handed out twice (see 0007)
    )
    op.create_index(op.f("ix_api_idempotency_keys_user_id"), "api_idempotency_keys", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_idempotency_keys_user_id"), table_name="api_idempotency_keys")
    op.drop_table("api_idempotency_keys")
    with op.batch_alter_table("api_keys", recreate="never") as batch_op:
        batch_op.drop_column("last_used_ip")
        batch_op.drop_column("scopes")
