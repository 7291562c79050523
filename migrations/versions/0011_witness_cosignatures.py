"""witness cosignatures: each witness's cosignature of a checkpoint, or its refusal

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:30:00
"""

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witness_cosignature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=True),
        sa.Column("witness", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("received_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoint.id"],
            name=op.f("fk_witness_cosignature_checkpoint_id_checkpoint"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_witness_cosignature")),
    )
    op.create_index(op.f("ix_witness_cosignature_tree_size"), "witness_cosignature", ["tree_size"])


def downgrade() -> None:
    op.drop_index(op.f("ix_witness_cosignature_tree_size"), table_name="witness_cosignature")
    op.drop_table("witness_cosignature")
