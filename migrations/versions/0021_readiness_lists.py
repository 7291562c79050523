"""the readiness projection holds what the dashboard and "My systems" show of each
system (profile, attention order, reviews due soon, open incidents, expired evidence,
owner entries), an owner index and the cursor of the ledger it has read up to.

The projection is rebuildable and never part of the ledger: its table is made again
empty, and the first read after the upgrade evaluates every system.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 19:30:00
"""

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _projection(extra: list[sa.Column]) -> None:
    op.create_table(
        "readiness_projection",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("system_seq", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stable_until", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("unmet", sa.Text(), nullable=False),
        sa.Column("due", sa.Text(), nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_readiness_projection_system_id_ai_system"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_readiness_projection")),
    )


def upgrade() -> None:
    op.drop_table("readiness_projection")
    _projection(
        [
            sa.Column("listed", sa.Boolean(), nullable=False),
            sa.Column("retired", sa.Boolean(), nullable=False),
            sa.Column("active", sa.Boolean(), nullable=False),
            sa.Column("reference", sa.Text(), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("stage", sa.Text(), nullable=False),
            sa.Column("risk_tier", sa.Text(), nullable=False),
            sa.Column("tier_rank", sa.Integer(), nullable=False),
            sa.Column("stage_rank", sa.Integer(), nullable=False),
            sa.Column("unmet_count", sa.Integer(), nullable=False),
            sa.Column("due_soon", sa.Integer(), nullable=False),
            sa.Column("first_due", sa.Date(), nullable=True),
            sa.Column("incidents", sa.Text(), nullable=False),
            sa.Column("incident_count", sa.Integer(), nullable=False),
            sa.Column("incident_undated", sa.Boolean(), nullable=True),
            sa.Column("incident_at", registry.db.UTCDateTime(timezone=True), nullable=True),
            sa.Column("expired", sa.Text(), nullable=False),
            sa.Column("expired_count", sa.Integer(), nullable=False),
            sa.Column("expired_first", sa.Date(), nullable=True),
            sa.Column("owners", sa.Text(), nullable=False),
        ]
    )
    op.create_index(
        op.f("ix_readiness_projection_stable_until"), "readiness_projection", ["stable_until"]
    )
    op.create_index(
        "ix_readiness_projection_attention",
        "readiness_projection",
        [
            "active",
            "ready",
            "tier_rank",
            "stage_rank",
            sa.literal_column("unmet_count DESC"),
            "reference",
        ],
    )
    for name, columns in (
        (
            "tally",
            [
                "stable_until",
                "evaluated_at",
                "listed",
                "retired",
                "stage",
                "risk_tier",
                "active",
                "ready",
                "due_soon",
                "incident_count",
                "expired_count",
                "system_id",
                "system_seq",
            ],
        ),
        ("first_due", ["first_due", "reference"]),
        ("incident", ["incident_undated", "incident_at", "reference"]),
        ("expired_first", ["expired_first", "reference"]),
    ):
        op.create_index(f"ix_readiness_projection_{name}", "readiness_projection", columns)
    op.create_table(
        "readiness_owner",
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["readiness_projection.system_id"],
            name=op.f("fk_readiness_owner_system_id_readiness_projection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person", "system_id", "role", name=op.f("pk_readiness_owner")),
    )
    op.create_index(op.f("ix_readiness_owner_system_id"), "readiness_owner", ["system_id"])
    op.create_table(
        "readiness_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_cursor")),
    )


def downgrade() -> None:
    op.drop_table("readiness_cursor")
    op.drop_index(op.f("ix_readiness_owner_system_id"), table_name="readiness_owner")
    op.drop_table("readiness_owner")
    op.drop_table("readiness_projection")
    _projection([])
