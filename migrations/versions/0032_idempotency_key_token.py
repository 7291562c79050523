"""idempotency keys: the token that made the request, the only one its answer is
replayed to

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keys stored before have none: their answers are replayed to no token (a retry runs
    # its request again, with its token's permissions), and they expire within a day.
    op.add_column("idempotency_key", sa.Column("token_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # DROP COLUMN on both engines (SQLite 3.35+): the table is not rebuilt.
    op.drop_column("idempotency_key", "token_id")
