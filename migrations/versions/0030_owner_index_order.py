"""readiness projection: the owner index holds, with each person a row names, the row's
columns "My systems" filters and orders by (and what tells whether it is current), with
an index in that order, so that a page of "My systems" reads its first entries and its
count reads that index alone.

The projection is rebuildable and never part of the ledger: its owner index is made
again with the new columns, the projection's rows and cursor are removed with it, and
the first read after the upgrade (or the downgrade) evaluates every system again.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 05:00:00
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime, bytewise

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

TABLE = "readiness_owner"


def _owner(extra: list[sa.Column]) -> None:
    op.execute("DELETE FROM readiness_cursor")
    op.drop_index(op.f("ix_readiness_owner_system_id"), table_name=TABLE)
    op.drop_table(TABLE)
    op.execute("DELETE FROM readiness_projection")
    op.create_table(
        TABLE,
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["readiness_projection.system_id"],
            name=op.f("fk_readiness_owner_system_id_readiness_projection"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person", "system_id", "role", name=op.f("pk_readiness_owner")),
    )
    op.create_index(op.f("ix_readiness_owner_system_id"), TABLE, ["system_id"])


def upgrade() -> None:
    _owner(
        [
            sa.Column("evaluated_at", UTCDateTime(timezone=True), nullable=False),
            sa.Column("stable_until", UTCDateTime(timezone=True), nullable=False),
            sa.Column("listed", sa.Boolean(), nullable=False),
            sa.Column("retired", sa.Boolean(), nullable=False),
            sa.Column("ready", sa.Boolean(), nullable=False),
            sa.Column("tier_rank", sa.Integer(), nullable=False),
            sa.Column("stage_rank", sa.Integer(), nullable=False),
            sa.Column("unmet_count", sa.Integer(), nullable=False),
            sa.Column("reference", bytewise(), nullable=False),
        ]
    )
    op.create_index(
        "ix_readiness_owner_owned",
        TABLE,
        [
            "person",
            "listed",
            "retired",
            "ready",
            "tier_rank",
            "stage_rank",
            sa.literal_column("unmet_count DESC"),
            "reference",
            "system_id",
            "evaluated_at",
            "stable_until",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_readiness_owner_owned", table_name=TABLE)
    _owner([])
