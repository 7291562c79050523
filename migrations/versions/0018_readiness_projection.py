"""the readiness projection: each system's scorecard summary, rebuildable, not ledger

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-05 15:30:00
"""

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0018"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "readiness_projection",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("system_seq", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stable_until", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("unmet", sa.Text(), nullable=False),
        sa.Column("due", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_readiness_projection_system_id_ai_system"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_readiness_projection")),
    )


def downgrade() -> None:
    op.drop_table("readiness_projection")
