"""readiness projection: the dashboard's counts read in the order of their groups
(listed, retired, stage, risk tier, active, ready), with every column they read, so
that SQLite counts them without sorting every row first

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 09:00:00
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

TABLE = "readiness_projection"
COLUMNS = [
    "listed",
    "retired",
    "stage",
    "risk_tier",
    "active",
    "ready",
    "evaluated_at",
    "stable_until",
    "due_soon",
    "incident_count",
    "expired_count",
    "system_id",
]


def upgrade() -> None:
    op.create_index("ix_readiness_projection_groups", TABLE, COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_readiness_projection_groups", table_name=TABLE)
