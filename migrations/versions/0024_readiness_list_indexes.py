"""the dashboard's lists of reviews due, open incidents and expired evidence read their
first rows from an index of the readiness projection each

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 23:00:00
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_readiness_projection_due", ["active", "first_due", "reference"]),
    (
        "ix_readiness_projection_incidents",
        ["active", "incident_undated", "incident_at", "reference"],
    ),
    ("ix_readiness_projection_expired", ["listed", "expired_first", "reference"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(name, "readiness_projection", columns)


def downgrade() -> None:
    for name, _columns in INDEXES:
        op.drop_index(name, table_name="readiness_projection")
