"""append-only witness_cosignature: the database refuses UPDATE, DELETE (and TRUNCATE)

A witness's cosignature (or its refusal, an alarm) is evidence of what the ledger was
when the witness saw it: it is history, as the events and checkpoints are. The same
triggers as migration 0002's, on the same function (PostgreSQL) and in the same form
(SQLite).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLE = "witness_cosignature"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        # registry_refuse_change() is migration 0002's.
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION registry_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION registry_refuse_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{action.lower()} BEFORE {action} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {TABLE}_no_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER {TABLE}_append_only ON {TABLE}")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER {TABLE}_no_{action}")
