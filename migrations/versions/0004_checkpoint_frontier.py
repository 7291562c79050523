"""checkpoint frontier: the subtree roots that let the next checkpoint start where this one ended

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 02:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both engines: the append-only triggers stay in place.
    op.add_column("checkpoint", sa.Column("frontier", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    # Not a batch operation: recreating the table on SQLite would drop its triggers.
    op.drop_column("checkpoint", "frontier")
