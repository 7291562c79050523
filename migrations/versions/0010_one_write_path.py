"""one write path: the ledger lock with the scope's last event; the write functions of
0007 and 0008 go (the rules of a write live in Python alone)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:30:00
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The same key as registry.ledger.store.LEDGER_LOCK_KEY (a test checks they agree).
LEDGER_LOCK_KEY = 0x5265_6769_7374

OLD_FUNCTIONS = (
    "registry_write_version_as_owner(text[], integer, integer, boolean, integer, varchar, "
    "varchar, bytea[], text[], text, varchar, timestamptz, integer, varchar, text, bigint, "
    "varchar, text)",
    "registry_write_version(integer, integer, boolean, integer, varchar, varchar, bytea[], "
    "text[], text, varchar, timestamptz, integer, varchar, text, bigint, varchar, text)",
)


def upgrade() -> None:
    # A system's last event is read from the index alone.
    op.create_index("ix_audit_event_system_id_seq", "audit_event", ["system_id", "seq"])
    op.drop_index("ix_audit_event_system_id", table_name="audit_event")
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE holds the write lock; nothing to create.
    for function in OLD_FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    # The lock, then the head and the last seq of one system (NULL: of the whole ledger),
    # read with a snapshot taken once the lock is granted (VOLATILE): the writer compares
    # that seq with the one its decision was made on (registry.ledger.append). No rule of
    # any write is here, and no hash.
    op.execute(
        f"""
        CREATE FUNCTION registry_ledger_lock_scope(p_system_id integer)
        RETURNS TABLE (seq bigint, event_hash varchar, recorded_at timestamptz,
                       scope_seq bigint)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({LEDGER_LOCK_KEY});
            RETURN QUERY
                SELECT h.seq, h.event_hash, h.recorded_at,
                    CASE WHEN p_system_id IS NULL THEN coalesce(h.seq, 0)
                         ELSE coalesce((SELECT max(a.seq) FROM audit_event a
                                        WHERE a.system_id = p_system_id), 0) END
                FROM (SELECT 1) AS one
                LEFT JOIN LATERAL (SELECT a.seq, a.event_hash, a.recorded_at
                                   FROM audit_event a ORDER BY a.seq DESC LIMIT 1) AS h
                    ON true;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION registry_ledger_lock_scope(integer)")
        # Below 0010 the write functions exist again, exactly as 0007 and 0008 made them.
        for name in ("0007_write_version_function", "0008_owner_checked_write"):
            path = Path(__file__).with_name(f"{name}.py")
            spec = importlib.util.spec_from_file_location(f"registry_migration_{name}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.upgrade()
    op.create_index("ix_audit_event_system_id", "audit_event", ["system_id"])
    op.drop_index("ix_audit_event_system_id_seq", table_name="audit_event")
