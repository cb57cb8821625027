"""studio in depth: variations and batches per generation, model multipliers in billing settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# recreate="never": plain ADD/DROP COLUMN, no table copy (see 0002).


def upgrade() -> None:
    with op.batch_alter_table("generations", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("variations", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("batch_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
    with op.batch_alter_table("billing_settings", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("model_multipliers", sa.JSON(), server_default="{}", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_settings", recreate="never") as batch_op:
        batch_op.drop_column("model_multipliers")
    with op.batch_alter_table("generations", recreate="never") as batch_op:
        batch_op.drop_column("batch_key")
        batch_op.drop_column("variations")
