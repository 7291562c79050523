"""readiness projection: the order by last change read with what tells whether a row is
current (system_seq, evaluated_at, stable_until), in place of the index of system_seq
alone

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 02:15:00
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

TABLE = "readiness_projection"


def upgrade() -> None:
    op.create_index(
        "ix_readiness_projection_recency", TABLE, ["system_seq", "evaluated_at", "stable_until"]
    )
    op.drop_index("ix_readiness_projection_system_seq", table_name=TABLE)


def downgrade() -> None:
    op.create_index("ix_readiness_projection_system_seq", TABLE, ["system_seq"])
    op.drop_index("ix_readiness_projection_recency", table_name=TABLE)
