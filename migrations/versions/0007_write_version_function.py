"""write version: an entry's next version and its audit event in one statement (PostgreSQL)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 06:20:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The same key as registry.ledger.store.LEDGER_LOCK_KEY (a test checks they agree).
LEDGER_LOCK_KEY = 0x5265_6769_7374


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return  # SQLite writes step by step under BEGIN IMMEDIATE; nothing to create.
    # Run as one autocommit statement, the ledger lock is held only inside the server:
    # from here until the statement's own commit. VOLATILE: each statement below has a
    # snapshot taken after the lock was granted (the head as the last holder left it).
    #
    # The event's canonical bytes come from the application as a template
    # (registry.ledger.chain.EventTemplate): p_event_parts with gaps between them, and
    # p_event_slots naming what fills each gap: 'seq' (decimal digits), 'prev_hash' (the
    # head's hash) or 'time' (the event time as Python's isoformat with microseconds,
    # inside the quotes the template keeps). Every filler is ASCII, so its UTF-8 bytes
    # do not depend on the database's encoding.
    #
    # outcome: 'written'; 'stale' or 'retired' (nothing written; current_head says the
    # entry's head); 'missing' (no such entry); 'facts' (nothing written: the entry's
    # kind or system is not the one given, which the event would have named);
    # 'checkpoint' (nothing written: the next
    # event is due for a signed checkpoint, which the application makes in the same
    # transaction as the event, so it writes that one by the step-by-step path);
    # 'profile' (nothing written: a profile change that promotes the system to
    # production, or changes its mark of mirroring another register, given as
    # p_new_stage and p_new_mark: the readiness gate and the mark's rules are checked on
    # the step-by-step path).
    op.execute(
        f"""
        CREATE FUNCTION registry_write_version(
            p_entry_id integer,
            p_base integer,
            p_tombstone boolean,
            p_system_id integer,
            p_kind varchar,
            p_reference varchar,
            p_event_parts bytea[],
            p_event_slots text[],
            p_body text,
            p_body_hash varchar,
            p_effective_from timestamptz,
            p_author_id integer,
            p_author varchar,
            p_reason text,
            p_checkpoint_every bigint,
            p_new_stage varchar,
            p_new_mark text
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
        DECLARE
            h_seq bigint;
            h_hash varchar;
            h_time timestamptz;
            e_head integer;
            e_retired boolean;
            e_facts boolean;
            n_time timestamptz;
            n_time_text text;
            n_effective timestamptz;
            n_event bytea;
            n_hash varchar;
            n_version integer;
            filler text;
            old_body jsonb;
        BEGIN
            PERFORM pg_advisory_xact_lock({LEDGER_LOCK_KEY});
            SELECT a.seq, a.event_hash, a.recorded_at INTO h_seq, h_hash, h_time
                FROM audit_event a ORDER BY a.seq DESC LIMIT 1;
            IF NOT FOUND THEN
                h_seq := 0;
                h_hash := repeat('0', 64);
                h_time := NULL;
            END IF;
            IF p_checkpoint_every IS NOT NULL AND (h_seq + 1) % p_checkpoint_every = 0 THEN
                RETURN QUERY SELECT 'checkpoint'::text, NULL::integer, NULL::bigint,
                    NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::integer;
                RETURN;
            END IF;
            -- A profile change that would promote the system or change its mark is for
            -- the step-by-step path (the base version is the head if the write succeeds).
            IF p_kind = 'profile' THEN
                SELECT v.body::jsonb INTO old_body FROM entry_version v
                    WHERE v.entry_id = p_entry_id AND v.number = p_base;
                IF FOUND AND (
                    (p_new_stage = 'production'
                        AND (old_body->>'stage') IS DISTINCT FROM 'production')
                    OR (old_body->>'mirrors_register') IS DISTINCT FROM p_new_mark
                ) THEN
                    RETURN QUERY SELECT 'profile'::text, NULL::integer, NULL::bigint,
                        NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::integer;
                    RETURN;
                END IF;
            END IF;
            -- The entry's kind and system, which the event names, are checked too.
            UPDATE entry e SET head_number = p_base + 1, retired = p_tombstone
                FROM ai_system s
                WHERE e.id = p_entry_id AND e.head_number = p_base AND NOT e.retired
                    AND e.kind = p_kind AND e.system_id = p_system_id
                    AND s.id = e.system_id AND s.reference = p_reference;
            IF NOT FOUND THEN
                SELECT e.head_number, e.retired,
                        e.kind = p_kind AND e.system_id = p_system_id
                            AND s.reference = p_reference
                    INTO e_head, e_retired, e_facts
                    FROM entry e JOIN ai_system s ON s.id = e.system_id
                    WHERE e.id = p_entry_id;
                RETURN QUERY SELECT
                    CASE WHEN e_head IS NULL THEN 'missing'
                         WHEN NOT e_facts THEN 'facts'
                         WHEN e_head <> p_base THEN 'stale'
                         ELSE 'retired' END,
                    NULL::integer, NULL::bigint, NULL::varchar, NULL::timestamptz,
                    NULL::timestamptz, e_head;
                RETURN;
            END IF;
            -- The server's clock, but always after the previous event's time.
            n_time := greatest(clock_timestamp(), h_time + interval '1 microsecond');
            n_time_text := to_char(
                n_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"');
            n_effective := coalesce(p_effective_from, n_time);
            n_event := p_event_parts[1];
            FOR i IN 1 .. coalesce(array_length(p_event_slots, 1), 0) LOOP
                filler := CASE p_event_slots[i]
                    WHEN 'seq' THEN (h_seq + 1)::text
                    WHEN 'prev_hash' THEN h_hash
                    WHEN 'time' THEN n_time_text
                END;
                IF filler IS NULL THEN
                    RAISE EXCEPTION 'unknown slot % in an event template', p_event_slots[i];
                END IF;
                n_event := n_event || convert_to(filler, 'UTF8') || p_event_parts[i + 1];
            END LOOP;
            n_hash := encode(sha256(n_event), 'hex');
            INSERT INTO audit_event
                (seq, recorded_at, event, prev_hash, event_hash, leaf_hash, system_id)
                VALUES (h_seq + 1, n_time, n_event, h_hash, n_hash,
                        encode(sha256(decode('00', 'hex') || n_event), 'hex'), p_system_id);
            INSERT INTO entry_version (entry_id, number, body, body_hash, recorded_at,
                    effective_from, author_id, author, reason, tombstone, audit_seq)
                VALUES (p_entry_id, p_base + 1, p_body, p_body_hash, n_time, n_effective,
                        p_author_id, p_author, p_reason, p_tombstone, h_seq + 1)
                RETURNING id INTO n_version;
            RETURN QUERY SELECT 'written'::text, n_version, h_seq + 1, n_hash, n_time,
                n_effective, p_base + 1;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION registry_write_version(integer, integer, boolean, integer, varchar, "
            "varchar, bytea[], text[], text, varchar, timestamptz, integer, varchar, text, bigint, "
            "varchar, text)"
        )
