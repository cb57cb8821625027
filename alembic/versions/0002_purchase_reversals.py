"""purchase reversals: refunded and clawed-back amounts, accounts flagged for review

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# recreate="never": on SQLite, batch mode would otherwise copy the table, and dropping the
# original `users` or `purchases` with foreign keys on cascades into every child table
# (credit ledger, sessions, images...). Plain ADD/DROP COLUMN (SQLite >= 3.35) needs no copy.
# The server defaults are plain strings for the same reason (a SQL expression as default
# makes Alembic copy the table); '0' reads as 0 and as false on SQLite and PostgreSQL alike.


def upgrade() -> None:
    with op.batch_alter_table("purchases", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("refunded_cents", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("clawed_back_credits", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("uncollected_credits", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("users", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("flagged_for_review", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("flag_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", recreate="never") as batch_op:
        batch_op.drop_column("flag_reason")
        batch_op.drop_column("flagged_for_review")
    with op.batch_alter_table("purchases", recreate="never") as batch_op:
        batch_op.drop_column("uncollected_credits")
        batch_op.drop_column("clawed_back_credits")
        batch_op.drop_column("refunded_cents")
