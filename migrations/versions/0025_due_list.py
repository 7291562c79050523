"""the kept list of due items ("My tasks" and its paged reads): each system's due items
as last found, when and until when they hold, and the cursor (rebuildable, not ledger);
its order's text compared by code point on PostgreSQL (collation "C")

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 01:30:00
"""

import sqlalchemy as sa
from alembic import op

from registry.db import UTCDateTime, bytewise

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "due_item",
        sa.Column("key", bytewise(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reference", bytewise(), nullable=False),
        sa.Column("system_name", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_due_item_system_id_ai_system"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_due_item")),
    )
    op.create_index(op.f("ix_due_item_system_id"), "due_item", ["system_id"])
    op.create_index("ix_due_item_order", "due_item", ["due_at", "reference", "key"])
    op.create_table(
        "due_state",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("system_seq", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("stable_until", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_due_state_system_id_ai_system"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_due_state")),
    )
    op.create_index(op.f("ix_due_state_evaluated_at"), "due_state", ["evaluated_at"])
    op.create_index(op.f("ix_due_state_stable_until"), "due_state", ["stable_until"])
    op.create_table(
        "due_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ahead", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_due_cursor")),
    )


def downgrade() -> None:
    op.drop_table("due_cursor")
    op.drop_index(op.f("ix_due_state_stable_until"), table_name="due_state")
    op.drop_index(op.f("ix_due_state_evaluated_at"), table_name="due_state")
    op.drop_table("due_state")
    op.drop_index("ix_due_item_order", table_name="due_item")
    op.drop_index(op.f("ix_due_item_system_id"), table_name="due_item")
    op.drop_table("due_item")
