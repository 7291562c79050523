"""merkle blocks: the roots of aligned 256-event subtrees, for fast proofs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merkle_block",
        sa.Column("block", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("block", name=op.f("pk_merkle_block")),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER merkle_block_append_only BEFORE UPDATE OR DELETE ON merkle_block "
            "FOR EACH ROW EXECUTE FUNCTION registry_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER merkle_block_no_truncate BEFORE TRUNCATE ON merkle_block "
            "FOR EACH STATEMENT EXECUTE FUNCTION registry_refuse_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER merkle_block_no_{action.lower()} BEFORE {action} ON merkle_block "
                f"BEGIN SELECT RAISE(ABORT, 'merkle_block is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    op.drop_table("merkle_block")
