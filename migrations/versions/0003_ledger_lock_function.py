"""ledger lock: take the advisory lock and read the head in one round trip (PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:20:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The same key as registry.ledger.store.LEDGER_LOCK_KEY (a test checks they agree).
LEDGER_LOCK_KEY = 0x5265_6769_7374


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE holds the write lock; nothing to create.
    # VOLATILE: the SELECT runs with a snapshot taken after the lock was granted, so it
    # sees every event committed by the writer that held the lock before.
    op.execute(
        f"""
        CREATE FUNCTION registry_ledger_lock()
        RETURNS TABLE (seq bigint, event_hash varchar, recorded_at timestamptz)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({LEDGER_LOCK_KEY});
            RETURN QUERY
                SELECT a.seq, a.event_hash, a.recorded_at
                FROM audit_event a ORDER BY a.seq DESC LIMIT 1;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION registry_ledger_lock()")
