"""owner-checked write: a technical owner's update in one statement (PostgreSQL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:10:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The same key as registry.ledger.store.LEDGER_LOCK_KEY (a test checks they agree).
LEDGER_LOCK_KEY = 0x5265_6769_7374

WRITE_VERSION_ARGS = (
    "p_entry_id integer, p_base integer, p_tombstone boolean, p_system_id integer, "
    "p_kind varchar, p_reference varchar, p_event_parts bytea[], p_event_slots text[], "
    "p_body text, p_body_hash varchar, p_effective_from timestamptz, p_author_id integer, "
    "p_author varchar, p_reason text, p_checkpoint_every bigint, p_new_stage varchar, "
    "p_new_mark text"
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite writes step by step under BEGIN IMMEDIATE; nothing to create.
    # A technical owner may write to a system while a live owner entry of role
    # 'technical' names them. The application reads the system's live owner entries
    # without the lock, decides by its own rule (registry.accounts.permissions), and
    # hands over what it read as p_owners: 'entry id:head number:body hash' of each, in
    # entry id order (the hash ties the decision to the very bodies it was made on).
    # Every write takes the ledger lock, so once this function holds it the owner
    # entries cannot change: if they are still exactly those, the decision stands
    # and registry_write_version() (0007) writes (it takes the same lock again, which a
    # transaction already holding it is granted at once). Otherwise the outcome is
    # 'owners' and nothing is written: the application writes by the step-by-step path,
    # where the right is read under the lock.
    op.execute(
        f"""
        CREATE FUNCTION registry_write_version_as_owner(
            p_owners text[], {WRITE_VERSION_ARGS}
        )
        RETURNS TABLE (
            outcome text,
            new_version_id integer,
            new_seq bigint,
            new_event_hash varchar,
            new_recorded_at timestamptz,
            new_effective_from timestamptz,
            current_head integer
        )
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({LEDGER_LOCK_KEY});
            IF (SELECT coalesce(array_agg(e.id::text || ':' || e.head_number::text
                                              || ':' || v.body_hash
                                          ORDER BY e.id), '{{}}'::text[])
                    FROM entry e
                    JOIN entry_version v ON v.entry_id = e.id AND v.number = e.head_number
                    WHERE e.system_id = p_system_id AND e.kind = 'owner' AND NOT e.retired)
                IS DISTINCT FROM p_owners
            THEN
                RETURN QUERY SELECT 'owners'::text, NULL::integer, NULL::bigint,
                    NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::integer;
                RETURN;
            END IF;
            RETURN QUERY SELECT * FROM registry_write_version(
                p_entry_id, p_base, p_tombstone, p_system_id, p_kind, p_reference,
                p_event_parts, p_event_slots, p_body, p_body_hash, p_effective_from,
                p_author_id, p_author, p_reason, p_checkpoint_every, p_new_stage,
                p_new_mark);
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION registry_write_version_as_owner("
            "text[], integer, integer, boolean, integer, varchar, varchar, bytea[], text[], "
            "text, varchar, timestamptz, integer, varchar, text, bigint, varchar, text)"
        )
