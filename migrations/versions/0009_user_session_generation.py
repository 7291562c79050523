"""user session generation: signing out, deactivation, a role or password change end
every session of the user

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 07:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A sign-in cookie carries the generation it was issued under; a cookie of an older
    # generation is refused. Existing users start at 0 (their cookies carry none and are
    # refused once: everyone signs in again after the upgrade).
    op.add_column(
        "user",
        sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    # DROP COLUMN on both engines (SQLite 3.35+): the table is not rebuilt.
    op.drop_column("user", "session_generation")
