"""recent uploads: an upload the user removed from the studio's "Recent uploads" strip

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# recreate="never": plain ADD/DROP COLUMN, no table copy (see 0002).


def upgrade() -> None:
    with op.batch_alter_table("images", recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("removed_from_library_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("images", recreate="never") as batch_op:
        batch_op.drop_column("removed_from_library_at")
