"""system_search_cursor: the ledger position up to which every system's search index
row is current; the rows are brought up to date by the reads that use them

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 02:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No row: the first read looks at every event once and makes again the rows of the
    # systems whose row was made from an earlier event than their last.
    op.create_table(
        "system_search_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_search_cursor")),
    )


def downgrade() -> None:
    op.drop_table("system_search_cursor")
