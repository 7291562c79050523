"""Writing AI systems and their versioned entries (reading them: ``records.reads``).

Every write — create, update, retire, reinstate — goes through :func:`_write_version`, which in
the caller's transaction takes the ledger lock, checks the base version, appends the
audit event, inserts the immutable version and moves the entry's head. Services take
the actor explicitly, flush, and never commit: the surface commits once.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import json_merge_patch
import psycopg
import sqlalchemy as sa
from marshmallow import ValidationError
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from registry.accounts.actor import Actor
from registry.accounts.permissions import (
    can,
    may_write_as_named_owner,
    may_write_everywhere,
    names_technical_owner,
    require,
)
from registry.db import (
    MAX_ID,
    UTCDateTime,
    array_literal,
    driver_connection,
    driver_sql,
    utcnow,
)
from registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleVersion
from registry.ledger.canonical import canonical_bytes, sha256_hex
from registry.ledger.chain import event_template
from registry.ledger.checkpoints import checkpoint_due_by_time, settings_of
from registry.ledger.models import AuditEvent
from registry.ledger.store import (
    INSERT_EVENT,
    LedgerHead,
    after_append,
    event_time,
    head_from_row,
    lock_ledger,
    next_event,
)
from registry.records.kinds import KINDS, normalise_body
from registry.records.models import AISystem, Entry, EntryVersion, live_owner_entries
from registry.records.reads import check_instant as _check_instant
from registry.records.reads import get_entry, get_version, profile_entry
from registry.records.reads import last_live_version as _last_live_version
from registry.records.reads import valid_id as _valid_id
from registry.text import text_problem

MAX_REASON = 2_000


# ----------------------------------------------------------------------------- input


def _validated(kind: str, body: Any) -> tuple[dict[str, Any], bytes]:
    try:
        clean = normalise_body(kind, body)
    except ValidationError as exc:
        messages = (
            exc.messages
            if isinstance(exc.messages, dict)
            else {exc.field_name or "_schema": exc.messages}
        )
        raise InvalidInput(f"The {kind} is not valid.", messages) from None
    try:
        return clean, canonical_bytes(clean)
    except (ValueError, UnicodeError) as exc:  # rfc8785's errors are ValueErrors
        raise InvalidInput(
            f"The {kind} cannot be recorded: {exc}",
            {
                "_schema": [
                    "The body holds text that is not valid Unicode or a number out of range."
                ]
            },
        ) from None


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if problem := text_problem(reason):
        raise InvalidInput("The reason is not valid text.", {"reason": [problem]})
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            "The reason is too long.", {"reason": [f"Longer than maximum length {MAX_REASON}."]}
        )
    return reason


# ----------------------------------------------------------------------------- writes


def _write_version(
    session: Session,
    actor: Actor,
    system: AISystem,
    entry: Entry,
    *,
    action: str,
    data: bytes,
    base_version: int,
    effective_from: dt.datetime | None,
    reason: str,
    tombstone: bool = False,
    reinstating: bool = False,
    head: LedgerHead,
) -> EntryVersion:
    """The one write path: move the head, append the event, insert the version.

    ``head``: the ledger head the caller read when it took the ledger lock, before its
    permission check (so nothing it checked can change before this write commits).
    ``reinstating``: the entry is retired and this version brings it back (otherwise a
    retired entry cannot change).
    """
    if entry.id is None:
        session.add(entry)
        session.flush()
    number = base_version + 1
    body_hash = sha256_hex(data)
    fields = _event_fields(
        actor,
        action,
        system.reference,
        system.id,
        entry.id,
        entry.kind,
        number,
        body_hash,
        reason,
        tombstone,
    )
    now = event_time(head)
    # Without a stated effective time a version is effective when recorded.
    effective_from = effective_from or now
    fields["effective_from"] = _iso(effective_from)
    event = next_event(head, fields, system.id, now)
    values = {
        "entry_id": entry.id,
        "number": number,
        "body": data.decode(),
        "body_hash": body_hash,
        "recorded_at": event["recorded_at"],
        "effective_from": effective_from,
        "author_id": actor.user_id,
        "author": actor.label,
        "reason": reason,
        "tombstone": tombstone,
        "audit_seq": event["seq"],
    }
    version_id = _persist(session, base_version, event, values, reinstating)
    if version_id is None:
        _explain_refusal(session, entry.id, base_version, reinstating)
    if entry.kind == "owner":
        _forget_owner_entries(session, system.id)
    after_append(session, event)
    session.expire(entry, ["head_number", "retired"])
    # The row is written; attach an object for it to the session without a second INSERT.
    version = EntryVersion(id=version_id, **values)
    make_transient_to_detached(version)
    session.add(version)
    # The caller gets the entry with the version, without loading it again.
    set_committed_value(version, "entry", entry)
    return version


def _event_fields(
    actor: Actor,
    action: str,
    reference: str,
    system_id: int,
    entry_id: int,
    kind: str,
    number: int,
    body_hash: str,
    reason: str,
    tombstone: bool,
) -> dict[str, Any]:
    """What the audit event of a version says, but for its time, effective time, ``seq``
    and previous hash."""
    return {
        "action": action,
        "actor": actor.label,
        "system": reference,
        "system_id": system_id,
        "entry_id": entry_id,
        "kind": kind,
        "version": number,
        "body_sha256": body_hash,
        "reason_sha256": sha256_hex(reason.encode()),
        "tombstone": tombstone,
    }


def _persist(
    session: Session,
    base_version: int,
    event: dict[str, Any],
    values: dict[str, Any],
    reinstating: bool = False,
) -> int | None:
    """Move the entry's head from ``base_version``, insert the event and the version,
    all or nothing. Returns the new version's id, or None when the head was not at
    ``base_version`` or the entry is retired (not retired, when ``reinstating``): then
    nothing was written."""
    connection = session.connection()
    move = {
        "m_entry_id": values["entry_id"],
        "m_base": base_version,
        "m_number": values["number"],
        "m_retired": values["tombstone"],
        "m_was_retired": reinstating,
    }
    if connection.dialect.name == "postgresql":
        # One statement, one round trip: the inserts happen only if the head moved.
        params = {
            **move,
            **{f"e_{k}": v for k, v in event.items()},
            **{f"v_{k}": v for k, v in values.items()},
        }
        # The statement is rendered once and handed to the driver as is: this is the
        # hottest statement of the registry, and every value is already a driver type.
        return connection.exec_driver_sql(_WRITE_PG_SQL, params).scalar()
    if connection.execute(_MOVE_HEAD, move).rowcount != 1:
        return None
    connection.execute(INSERT_EVENT, event)
    return connection.execute(_INSERT_VERSION, values).scalar_one()


def _explain_refusal(
    session: Session, entry_id: int, base_version: int, reinstating: bool = False
) -> None:
    current = session.execute(
        sa.select(Entry.head_number, Entry.retired).where(Entry.id == entry_id)
    ).one()
    if current.head_number != base_version:
        raise StaleVersion(entry_id, base_version, current.head_number)
    if reinstating:
        raise Conflict(f"Entry {entry_id} is not retired; only a retired entry is reinstated.")
    raise Conflict(f"Entry {entry_id} is retired; a retired entry cannot change.")


# The hot path's statements, built once (Core: no unit-of-work overhead per write).
_entry = Entry.__table__
_version = EntryVersion.__table__
_event = AuditEvent.__table__
_MOVE_HEAD = (
    sa.update(_entry)
    .where(
        _entry.c.id == sa.bindparam("m_entry_id"),
        _entry.c.head_number == sa.bindparam("m_base"),
        _entry.c.retired == sa.bindparam("m_was_retired"),
    )
    .values(head_number=sa.bindparam("m_number"), retired=sa.bindparam("m_retired"))
)
_INSERT_VERSION = sa.insert(_version).returning(_version.c.id)


def _write_statement_pg() -> sa.Select[Any]:
    """WITH moved AS (UPDATE entry … RETURNING), ev AS (INSERT audit_event … FROM moved),
    ver AS (INSERT entry_version … FROM ev) SELECT id FROM ver."""
    moved = _MOVE_HEAD.returning(_entry.c.id).cte("moved")
    event_columns = [c.name for c in _event.columns]
    ev = (
        sa.insert(_event)
        .from_select(
            event_columns,
            sa.select(
                *[sa.bindparam(f"e_{c}", type_=_event.c[c].type) for c in event_columns]
            ).select_from(moved),
        )
        .returning(_event.c.seq)
        .cte("ev")
    )
    version_columns = [c.name for c in _version.columns if c.name not in ("id", "audit_seq")]
    ver = (
        sa.insert(_version)
        .from_select(
            [*version_columns, "audit_seq"],
            sa.select(
                *[sa.bindparam(f"v_{c}", type_=_version.c[c].type) for c in version_columns],
                ev.c.seq,
            ),
        )
        .returning(_version.c.id)
        .cte("ver")
    )
    return sa.select(ver.c.id)


_WRITE_PG = _write_statement_pg()
_WRITE_PG_SQL = str(_WRITE_PG.compile(dialect=postgresql.psycopg.dialect()))


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat(timespec="microseconds")


def create_system(
    session: Session,
    actor: Actor,
    profile: Any,
    *,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
) -> tuple[AISystem, EntryVersion]:
    """Register a new AI system with its first profile version."""
    require(session, actor, "create_system")
    clean, data = _validated("profile", profile)
    reason = _check_reason(reason)
    _check_instant(effective_from, "effective_from")
    head = lock_ledger(session)
    reference = clean["reference"]
    if session.scalar(sa.select(AISystem.id).where(AISystem.reference == reference)):
        raise Conflict(
            f"A system with reference {reference!r} already exists.",
            errors={"reference": ["Already in use."]},
        )
    system = AISystem(reference=reference, created_at=utcnow())
    session.add(system)
    session.flush()
    entry = Entry(system_id=system.id, kind="profile", head_number=0, retired=False)
    version = _write_version(
        session,
        actor,
        system,
        entry,
        head=head,
        action="system.create",
        data=data,
        base_version=0,
        effective_from=effective_from,
        reason=reason,
    )
    return system, version


def create_entry(
    session: Session,
    actor: Actor,
    system: AISystem,
    kind: str,
    body: Any,
    *,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
) -> EntryVersion:
    """Add a new entry of ``kind`` to ``system`` (its version 1)."""
    require(session, actor, "write", system)  # refuse early; checked again under the lock
    _require_for_kind(session, actor, kind, system)
    if kind == "profile":
        raise Conflict("A system has exactly one profile: update it instead.")
    # Validation needs nothing from the database: it runs before the ledger lock, which
    # serialises every write of the registry and is held until commit.
    clean, data = _validated(kind, body)
    reason = _check_reason(reason)
    _check_instant(effective_from, "effective_from")
    head = lock_ledger(session)  # before the permission check reads owner entries
    require(session, actor, "write", system)
    _require_for_kind(session, actor, kind, system)
    _check_references(session, system, kind, clean)
    entry = Entry(system_id=system.id, kind=kind, head_number=0, retired=False)
    return _write_version(
        session,
        actor,
        system,
        entry,
        action="entry.create",
        data=data,
        base_version=0,
        effective_from=effective_from,
        reason=reason,
        head=head,
    )


def update_entry(
    session: Session,
    actor: Actor,
    entry: Entry | int,
    body: Any,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
    commit: bool = False,
) -> EntryVersion:
    """Replace an entry's body with a new version based on ``base_version``.

    ``entry``: the entry, or its id (then it is loaded together with the ledger lock).
    ``commit``: commit the session before returning (see :func:`_write_committed`).
    """
    base_version = _check_base(base_version)
    if commit:
        written = _write_committed(
            session,
            actor,
            entry,
            body,
            base_version=base_version,
            effective_from=effective_from,
            reason=reason,
            tombstone=False,
        )
        if written is not None:
            return written
    # The ledger lock serialises every write of the registry until commit, so the body
    # is validated before it is taken whenever the entry's kind is already known (an
    # entry's kind and system never change). Errors are raised in the usual order.
    early = _validate_early(session, entry, body)
    entry, head = _entry_for_write(session, entry)
    _remember(session, entry)
    require(session, actor, "write", entry.system)
    if early is not None and early[0] == _facts_of(entry):
        outcome = early[1]
        if isinstance(outcome, InvalidInput):
            raise outcome
        clean, data = outcome
    else:
        clean, data = _validated(entry.kind, body)
    _check_reference_kept(entry.kind, entry.system.reference, clean)
    _require_for_kind(session, actor, entry.kind, entry.system)
    reason = _check_reason(reason)
    _check_instant(effective_from, "effective_from")
    _check_references(session, entry.system, entry.kind, clean, entry=entry)
    if entry.kind == "profile":
        _check_profile_change(session, actor, entry, clean, effective_from)
    version = _write_version(
        session,
        actor,
        entry.system,
        entry,
        action="entry.update",
        data=data,
        base_version=base_version,
        effective_from=effective_from,
        reason=reason,
        head=head,
    )
    if commit:
        session.commit()
    return version


def _require_for_kind(
    session: Session, actor: Actor, kind: str, system: AISystem, *, retiring: bool = False
) -> None:
    """Waivers and approvals are a compliance officer's to write; a profile is a
    compliance officer's to retire (or reinstate)."""
    if kind in KINDS and KINDS[kind].officer_only:
        require(session, actor, "approve", system)
    if retiring and kind in KINDS and KINDS[kind].officer_retires:
        require(session, actor, "govern", system)


def _check_references(
    session: Session,
    system: AISystem,
    kind: str,
    clean: dict[str, Any],
    *,
    entry: Entry | None = None,
) -> None:
    """Every entry a body names is a live entry of the right kind in the same system,
    and every entry version it cites is one of the same system, of the kind it says,
    with that hash (read under the ledger lock, so none of them can change before the
    write commits). Updating ``entry``, a reference its head already makes stands as
    recorded: retiring a procedure does not freeze the reviews that followed it."""
    spec = KINDS[kind]
    if not spec.refers_to and not spec.cites_versions:
        return
    before: dict[str, Any] = {}
    if entry is not None and entry.head_number:
        before = json.loads(get_version(session, entry, entry.head_number).body)
    errors: dict[str, Any] = {}
    for name, target in spec.refers_to:
        named = clean.get(name)
        if named is None or named == before.get(name):
            continue
        found = session.execute(
            sa.select(Entry.kind, Entry.retired).where(
                Entry.id == named, Entry.system_id == system.id
            )
        ).first()
        if found is None or found.kind != target or found.retired:
            title = KINDS[target].title.lower()
            errors[name] = [f"Must name a live {title} of system {system.reference!r}."]
    cited = spec.cites_versions
    if cited and clean.get(cited):
        kept = before.get(cited) or []
        items = [(i, item) for i, item in enumerate(clean[cited]) if item not in kept]
        rows = session.execute(
            sa.select(
                EntryVersion.entry_id, EntryVersion.number, EntryVersion.body_hash, Entry.kind
            )
            .join(Entry, Entry.id == EntryVersion.entry_id)
            .where(
                Entry.system_id == system.id,
                EntryVersion.entry_id.in_({item["entry_id"] for _, item in items}),
            )
        )
        found_versions = {(r.entry_id, r.number): (r.body_hash, r.kind) for r in rows}
        wrong = {
            i: {"hash": [f"Must be the hash of a version of system {system.reference!r}."]}
            for i, item in items
            if (hit := found_versions.get((item["entry_id"], item["version"]))) is None
            or hit[0] != item["hash"]
            or item.get("kind") not in (None, hit[1])
        }
        if wrong:
            errors[cited] = wrong
    if errors:
        raise InvalidInput(f"The {spec.title.lower()} names records it cannot.", errors)


def _check_profile_change(
    session: Session,
    actor: Actor,
    entry: Entry,
    new: dict[str, Any],
    effective_from: dt.datetime | None,
) -> None:
    """A profile change that promotes the system to production passes the readiness gate
    (registry.readiness.gate). A profile mirroring an external register (exempt from the
    gate: its stage is as published there) is marked so when the system is registered;
    a system registered here cannot be marked later, so the mark cannot open the gate,
    and only a compliance officer may change or remove it."""
    old = json.loads(get_version(session, entry, entry.head_number).body)
    if new.get("mirrors_register") and not old.get("mirrors_register"):
        raise Conflict(
            "Only a system registered as mirroring another register carries that mark: "
            "it cannot be added later.",
            errors={"mirrors_register": ["Set only when the system is registered."]},
        )
    changed = _officer_fields_changed(entry.kind, old, new)
    if changed and not can(session, actor, "govern", entry.system):
        raise PermissionDenied(
            f"{actor.label} may not change the classification of system "
            f"{entry.system.reference!r}: {', '.join(changed)} "
            "(only a compliance officer may).",
            errors={f: ["Only a compliance officer may change this field."] for f in changed},
        )
    if new.get("stage") == "production" and old.get("stage") != "production":
        from registry.readiness.gate import check_promotion  # readiness reads records

        check_promotion(session, entry.system, old, new, effective_from or utcnow())


def _officer_fields_changed(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields only a compliance officer may change (a profile's classification)
    whose value differs between two bodies of ``kind``."""
    return [f for f in KINDS[kind].officer_fields if old.get(f) != new.get(f)]


def _check_reference_kept(kind: str, reference: str, clean: dict[str, Any]) -> None:
    if kind == "profile" and clean["reference"] != reference:
        raise InvalidInput(
            "A system's reference cannot change.",
            {"reference": [f"Must stay {reference!r}."]},
        )


# (database, entry id) -> (kind, system reference, system id): facts that never change,
# kept per process for the entries it has written, so later writes can validate before
# locking (and write in one statement, see _write_committed).
_ENTRY_FACTS: dict[tuple[str, int], tuple[str, str, int]] = {}
_ENTRY_FACTS_MAX = 100_000
# (database, system id) -> the system's live owner entries as this process last read
# them: ('id:head:body hash' of each, in id order; their bodies). A technical owner's
# right is decided on them without reading them again; the write statement checks under
# the lock that they are still exactly those (migration 0008), so an outdated memory
# costs a write by the step-by-step path, never a wrong decision.
_OWNER_ENTRIES: dict[tuple[str, int], tuple[list[str], list[str]]] = {}
_OWNER_ENTRIES_MAX = 10_000


def _forget_owner_entries(session: Session, system_id: int) -> None:
    """This process changes one of the system's owner entries: read them again next time
    (other processes find out under the lock)."""
    _OWNER_ENTRIES.pop(_facts_key(session, system_id), None)


def _facts_key(session: Session, entry_id: int) -> tuple[str, int]:
    return (_database_name(session.get_bind().engine.url), entry_id)


@functools.lru_cache(maxsize=64)
def _database_name(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def _facts_of(entry: Entry) -> tuple[str, str, int]:
    return (entry.kind, entry.system.reference, entry.system_id)


def _remember(session: Session, entry: Entry) -> None:
    _keep_facts(session, entry.id, _facts_of(entry))


def _keep_facts(session: Session, entry_id: int, facts: tuple[str, str, int]) -> None:
    if len(_ENTRY_FACTS) >= _ENTRY_FACTS_MAX:
        _ENTRY_FACTS.clear()
    _ENTRY_FACTS[_facts_key(session, entry_id)] = facts


def _validate_early(
    session: Session, entry: Entry | int, body: Any
) -> tuple[tuple[str, str, int], tuple[dict[str, Any], bytes] | InvalidInput] | None:
    """The body validated for the entry's known kind, or the InvalidInput it raised;
    None when the kind is not known yet."""
    if isinstance(entry, Entry):
        facts: tuple[str, str, int] | None = _facts_of(entry)
    elif _valid_id(entry):
        facts = _ENTRY_FACTS.get(_facts_key(session, entry))
    else:
        facts = None
    if facts is None:
        return None
    try:
        return facts, _validated(facts[0], body)
    except InvalidInput as exc:
        return facts, exc


def retire_entry(
    session: Session,
    actor: Actor,
    entry: Entry | int,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
    commit: bool = False,
) -> EntryVersion:
    """Retire an entry: a tombstone version. Nothing is deleted.

    ``commit``: commit the session before returning (see :func:`_write_committed`)."""
    base_version = _check_base(base_version)
    if commit:
        written = _write_committed(
            session,
            actor,
            entry,
            None,
            base_version=base_version,
            effective_from=effective_from,
            reason=reason,
            tombstone=True,
        )
        if written is not None:
            return written
    entry, head = _entry_for_write(session, entry)
    require(session, actor, "write", entry.system)
    _require_for_kind(session, actor, entry.kind, entry.system, retiring=True)
    reason = _check_reason(reason)
    _check_instant(effective_from, "effective_from")
    version = _write_version(
        session,
        actor,
        entry.system,
        entry,
        action="entry.retire",
        data=canonical_bytes({}),
        base_version=base_version,
        effective_from=effective_from,
        reason=reason,
        tombstone=True,
        head=head,
    )
    if commit:
        session.commit()
    return version


def reinstate_system(
    session: Session,
    actor: Actor,
    system: AISystem,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
) -> EntryVersion:
    """Bring back a system whose profile is retired: the profile's next version, after
    the retirement, is its last version before it (action ``entry.reinstate``).

    A compliance officer's decision, like the retirement. 409 when the profile is not
    retired; 422 when ``effective_from`` is before the retirement took effect. A system
    that comes back in production passes the readiness gate, as a promotion does.
    """
    require(session, actor, "govern", system)  # refuse early; again under the lock
    base_version = _check_base(base_version)
    entry = profile_entry(session, system)
    reason = _check_reason(reason)
    _check_instant(effective_from, "effective_from")
    entry, head = _entry_for_write(session, entry)
    require(session, actor, "write", system)
    _require_for_kind(session, actor, entry.kind, system, retiring=True)
    session.refresh(entry, ["head_number", "retired"])
    if entry.head_number != base_version:
        raise StaleVersion(entry.id, base_version, entry.head_number)
    if not entry.retired:
        raise Conflict(f"System {system.reference!r} is not retired.")
    tombstone = get_version(session, entry, entry.head_number)
    if effective_from is None and tombstone.effective_from > utcnow():
        effective_from = tombstone.effective_from  # a retirement stated to take effect later
    if effective_from is not None and effective_from < tombstone.effective_from:
        raise InvalidInput(
            "A system cannot be reinstated before it was retired.",
            {"effective_from": [f"Must not be before {_iso(tombstone.effective_from)}."]},
        )
    last = _last_live_version(session, entry, tombstone.number)
    restored = json.loads(last.body)
    if restored.get("stage") == "production":
        from registry.readiness.gate import check_promotion  # readiness reads records

        check_promotion(session, system, {}, restored, effective_from or utcnow())
    return _write_version(
        session,
        actor,
        system,
        entry,
        action="entry.reinstate",
        data=last.body.encode(),
        base_version=base_version,
        effective_from=effective_from,
        reason=reason,
        reinstating=True,
        head=head,
    )


# ----------------------------------------------------------------------------- one statement

_ENTRY_FACTS_QUERY = (
    sa.select(_entry.c.kind, AISystem.__table__.c.reference, _entry.c.system_id)
    .join(AISystem.__table__, AISystem.__table__.c.id == _entry.c.system_id)
    .where(_entry.c.id == sa.bindparam("entry_id"))
)
_WRITE_VERSION_SQL = (
    "SELECT outcome, new_version_id, new_seq, new_recorded_at, new_effective_from, "
    "current_head FROM registry_write_version(%(entry_id)s::integer, %(base)s::integer, "
    "%(tombstone)s::boolean, %(system_id)s::integer, %(kind)s::varchar, "
    "%(reference)s::varchar, %(parts)s::bytea[], %(slots)s::text[], "
    "%(body)s::text, %(body_hash)s::varchar, %(effective_from)s::timestamptz, "
    "%(author_id)s::integer, %(author)s::varchar, %(reason)s::text, %(every)s::bigint, "
    "%(new_stage)s::varchar, %(new_mark)s::text)"
)
# A technical owner's write: the owner entries the right was decided on, checked under
# the lock (migration 0008), then the same function.
_WRITE_VERSION_AS_OWNER_SQL = _WRITE_VERSION_SQL.replace(
    "registry_write_version(", "registry_write_version_as_owner(%(owners)s::text[], ", 1
)
_LIVE_OWNERS = live_owner_entries(sa.bindparam("system_id"))
_VERSION_BODY = sa.select(_version.c.body).where(
    _version.c.entry_id == sa.bindparam("entry_id"),
    _version.c.number == sa.bindparam("number"),
    _version.c.tombstone.is_(False),
)
# (database, entry id, version number) -> the fields only a compliance officer may change,
# as that version holds them: versions never change, so what this process read or wrote
# stays true. A technical owner's profile update is then decided without reading again.
_CLASSIFICATIONS: dict[tuple[str, int, int], dict[str, Any]] = {}
_CLASSIFICATIONS_MAX = 100_000


def _remember_classification(
    session: Session, entry_id: int, number: int, fields: dict[str, Any]
) -> None:
    if len(_CLASSIFICATIONS) >= _CLASSIFICATIONS_MAX:
        _CLASSIFICATIONS.clear()
    _CLASSIFICATIONS[(*_facts_key(session, entry_id), number)] = fields


def _classification_of(
    session: Session,
    engine: sa.Engine,
    cursor: psycopg.Cursor[Any],
    kind: str,
    entry_id: int,
    number: int,
) -> dict[str, Any] | None:
    """The officer-only fields of version ``number`` of an entry of ``kind`` (None: no
    such live version), as this process remembers them or read now without the lock."""
    key = (*_facts_key(session, entry_id), number)
    known = _CLASSIFICATIONS.get(key)
    if known is None:
        query = driver_sql(_VERSION_BODY, engine)
        row = cursor.execute(query.text, query.params(entry_id=entry_id, number=number)).fetchone()
        if row is None:
            return None
        body = json.loads(row.body)
        known = {f: body.get(f) for f in KINDS[kind].officer_fields}
        _remember_classification(session, entry_id, number, known)
    return known


def _write_committed(
    session: Session,
    actor: Actor,
    entry: Entry | int,
    body: Any,
    *,
    base_version: int,
    effective_from: dt.datetime | None,
    reason: str | None,
    tombstone: bool,
) -> EntryVersion | None:
    """An update or retirement, committed: on PostgreSQL one autocommit statement
    (``registry_write_version()``, migration 0007) that takes the ledger lock, reads the
    head, moves the entry's head from ``base_version``, fills in the event's template
    and appends it and the version. The lock is held only inside the server, never
    across a round trip or Python code.

    It is used only when nothing it skips applies, and returns None (nothing written,
    no transaction begun) otherwise, for the step-by-step path:
    - the entry is not a waiver or an approval (written by right of approval), its
      kind names no other records (they are read under the lock), it is not a profile
      retired (a compliance officer's decision), a technical owner's profile change
      keeps the classification of the version it is based on (read without the lock,
      or as this process last read or wrote it, _CLASSIFICATIONS: versions never
      change, and the write moves the head only from that version), and a change neither
      promotes the system to production nor changes its mark of mirroring another
      register (the function answers 'profile': the readiness gate and the mark's
      rules are checked on the other path);
    - the session is bound to an engine and has no transaction and nothing pending
      (the statement commits by itself, on a connection of its own: nothing else may
      be waiting for a commit);
    - the actor may write to every system by role and scopes alone (the permission
      check then reads nothing that the lock would have to protect), or is a technical
      owner whose right is decided here on the system's live owner entries, read
      without the lock (or as this process last read them, see _OWNER_ENTRIES): the
      statement then writes only if, under the lock, those entries are still the same
      ones at the same versions with the same bodies (migration 0008; otherwise it
      answers 'owners' and the other path reads the right under the lock). A technical
      owner not named by them goes the other path too, which refuses (403) in its
      order of errors;
    - no signed checkpoint is due with this event (the function answers 'checkpoint'
      for the N-th event, and the time policy is checked here): a checkpoint is made
      in its event's transaction.
    Errors come in the order of the other path: not found, permission, body, reason,
    instants, and only then a stale base (412) or a retired entry (409).
    """
    if (
        session.in_transaction()
        or session.new
        or session.dirty
        or session.deleted
        or not isinstance(engine := session.get_bind(), sa.Engine)
        or engine.dialect.name != "postgresql"
        or not (may_write_everywhere(actor) or may_write_as_named_owner(actor))
    ):
        return None
    settings = settings_of(session)
    if settings is not None and checkpoint_due_by_time(settings):
        return None
    entry_id = entry.id if isinstance(entry, Entry) else entry
    if not _valid_id(entry_id):
        return None
    # On a connection of its own, in autocommit: the session stays without a
    # transaction, and the statement commits by itself.
    with driver_connection(engine) as driver:
        return _write_in_one_statement(
            session,
            engine,
            driver.cursor(row_factory=namedtuple_row),
            actor,
            entry,
            entry_id,
            body,
            base_version=base_version,
            effective_from=effective_from,
            reason=reason,
            tombstone=tombstone,
            every=settings.every_events if settings is not None else None,
        )


def _write_in_one_statement(
    session: Session,
    engine: sa.Engine,
    cursor: psycopg.Cursor[Any],
    actor: Actor,
    entry: Entry | int,
    entry_id: int,
    body: Any,
    *,
    base_version: int,
    effective_from: dt.datetime | None,
    reason: str | None,
    tombstone: bool,
    every: int | None,
) -> EntryVersion | None:
    if isinstance(entry, Entry):
        facts: tuple[str, str, int] | None = _facts_of(entry)
    else:
        facts = _ENTRY_FACTS.get(_facts_key(session, entry_id))
    remembered = facts is not None
    if facts is None:
        facts_query = driver_sql(_ENTRY_FACTS_QUERY, engine)
        row = cursor.execute(facts_query.text, facts_query.params(entry_id=entry_id)).fetchone()
        if row is None:
            raise NotFound(f"No entry {entry_id}.")
        facts = (row.kind, row.reference, row.system_id)
        _keep_facts(session, entry_id, facts)
    kind, reference, system_id = facts
    spec = KINDS[kind]
    if (
        spec.officer_only
        or spec.refers_to
        or spec.cites_versions
        or (tombstone and spec.officer_retires)
    ):
        # Waivers and approvals are written by right of approval, a profile is retired
        # and classified by right of governing, and references are read under the
        # ledger lock: the step-by-step path checks (and refuses).
        return None
    owners: list[str] | None = None
    owners_remembered = False
    if not may_write_everywhere(actor):  # a technical owner: named by the system?
        owners_key = _facts_key(session, system_id)
        known = _OWNER_ENTRIES.get(owners_key)
        if known is None:
            owners_query = driver_sql(_LIVE_OWNERS, engine)
            rows = cursor.execute(
                owners_query.text, owners_query.params(system_id=system_id)
            ).fetchall()
            known = (
                [f"{r.id}:{r.head_number}:{r.body_hash}" for r in rows],
                [r.body for r in rows],
            )
            if len(_OWNER_ENTRIES) >= _OWNER_ENTRIES_MAX:
                _OWNER_ENTRIES.clear()
            _OWNER_ENTRIES[owners_key] = known
        else:
            owners_remembered = True
        owners, bodies = known
        if not names_technical_owner(actor, bodies):
            # Perhaps remembered from before a change: the other path reads them
            # under the lock, and refuses (403) if the right is not there.
            _forget_owner_entries(session, system_id)
            return None
    new_stage = new_mark = None
    try:
        if tombstone:
            data = canonical_bytes({})
        else:
            clean, data = _validated(kind, body)
            _check_reference_kept(kind, reference, clean)
            # The function leaves a promotion, or a change of the mark of mirroring
            # another register, to the step-by-step path (the readiness gate).
            new_stage, new_mark = clean.get("stage"), clean.get("mirrors_register")
        reason = _check_reason(reason)
        _check_instant(effective_from, "effective_from")
    except InvalidInput:
        if remembered or owners_remembered:
            # Refused on what this process remembers: the entry's facts, or a right
            # decided on owner entries that may have changed since (a 403 comes before
            # a 422). The other path checks both, in its order.
            return None
        raise
    classified: dict[str, Any] | None = None
    if spec.officer_fields and not tombstone:
        classified = {f: clean.get(f) for f in spec.officer_fields}
        if not may_write_everywhere(actor):
            # A technical owner keeps the classification of the version the change is
            # based on (the write moves the head only from that version, so it is the
            # head's); a change to it is refused by the other path, in its order.
            based_on = _classification_of(session, engine, cursor, kind, entry_id, base_version)
            if based_on is None or _officer_fields_changed(kind, based_on, classified):
                return None
    number = base_version + 1
    body_hash = sha256_hex(data)
    fields = _event_fields(
        actor,
        "entry.retire" if tombstone else "entry.update",
        reference,
        system_id,
        entry_id,
        kind,
        number,
        body_hash,
        reason,
        tombstone,
    )
    if effective_from is not None:
        fields["effective_from"] = _iso(effective_from)
        template = event_template(fields, ("time",))
    else:  # effective when recorded
        template = event_template(fields, ("time", "effective_from"))
    if template is None:
        return None
    values: dict[str, Any] = {
        "entry_id": entry_id,
        "number": number,
        "body": data.decode(),
        "body_hash": body_hash,
        "author_id": actor.user_id,
        "author": actor.label,
        "reason": reason,
        "tombstone": tombstone,
    }
    row = cursor.execute(
        _WRITE_VERSION_SQL if owners is None else _WRITE_VERSION_AS_OWNER_SQL,
        {
            "owners": None if owners is None else array_literal(owners),
            **{k: values[k] for k in ("entry_id", "body", "body_hash", "author_id", "author")},
            "base": base_version,
            "tombstone": tombstone,
            "system_id": system_id,
            "kind": kind,
            "reference": reference,
            "parts": array_literal("\\x" + part.hex() for part in template.parts),
            "slots": array_literal(template.slots),
            "effective_from": effective_from,
            "reason": reason,
            "every": every,
            "new_stage": new_stage,
            "new_mark": new_mark,
        },
    ).fetchone()
    if row.outcome == "missing":
        raise NotFound(f"No entry {entry_id}.")
    if row.outcome == "stale":
        raise StaleVersion(entry_id, base_version, row.current_head)
    if row.outcome == "retired":
        raise Conflict(f"Entry {entry_id} is retired; a retired entry cannot change.")
    if row.outcome == "facts":  # not what this process remembered: ask the database
        _ENTRY_FACTS.pop(_facts_key(session, entry_id), None)
        return None
    if row.outcome == "owners":  # the owner entries changed: read them again next time
        _forget_owner_entries(session, system_id)
        return None
    if row.outcome != "written":
        # 'checkpoint': the other path writes it with its checkpoint; 'profile': a
        # promotion or a change of the mark, which the other path checks.
        return None
    if kind == "owner":
        _forget_owner_entries(session, system_id)
    if classified is not None:
        _remember_classification(session, entry_id, number, classified)
    recorded_at = row.new_recorded_at.astimezone(dt.UTC)
    values.update(
        recorded_at=recorded_at,
        effective_from=effective_from or recorded_at,
        audit_seq=row.new_seq,
    )
    # What the caller needs of the entry, its system and the version, as detached
    # objects (the write happened outside the session's unit of work).
    system = AISystem(id=system_id, reference=reference)
    written_entry = Entry(
        id=entry_id, system_id=system_id, kind=kind, head_number=number, retired=tombstone
    )
    version = EntryVersion(id=row.new_version_id, **values)
    for obj in (system, written_entry, version):
        make_transient_to_detached(obj)
    set_committed_value(written_entry, "system", system)
    set_committed_value(version, "entry", written_entry)
    return version


_LEDGER_LOCK_PG = (
    sa.func.registry_ledger_lock()
    .table_valued(
        sa.column("seq", sa.BigInteger),
        sa.column("event_hash", sa.String),
        sa.column("recorded_at", UTCDateTime()),
    )
    .alias("head")
)
# The entry and the ledger lock in one round trip. The entry's row may be read from a
# snapshot taken before the lock was granted: only its head can have moved since, and
# the write itself moves the head only from the base version, so that is safe.
_ENTRY_AND_LOCK_PG = (
    sa.select(
        Entry, _LEDGER_LOCK_PG.c.seq, _LEDGER_LOCK_PG.c.event_hash, _LEDGER_LOCK_PG.c.recorded_at
    )
    .outerjoin(_LEDGER_LOCK_PG, sa.true())
    .where(Entry.id == sa.bindparam("entry_id"))
)


def _entry_for_write(session: Session, entry: Entry | int) -> tuple[Entry, LedgerHead]:
    """The entry to write to, and the ledger head read under the ledger lock, which is
    taken before anything (the permission check included) reads the registry's state."""
    if isinstance(entry, Entry):
        return entry, lock_ledger(session)
    if not _valid_id(entry):
        raise NotFound(f"No entry {entry}.")
    if session.get_bind().dialect.name != "postgresql":
        head = lock_ledger(session)
        return get_entry(session, entry), head
    row = session.execute(_ENTRY_AND_LOCK_PG, {"entry_id": entry}).first()
    if row is None:
        raise NotFound(f"No entry {entry}.")
    return row.Entry, head_from_row(row if row.seq is not None else None)


def _check_base(base_version: object) -> int:
    if (
        not isinstance(base_version, int)
        or isinstance(base_version, bool)
        or not (0 <= base_version < MAX_ID)
    ):
        raise InvalidInput(
            "The base version is not valid.", {"base_version": ["Not a version number."]}
        )
    return base_version


def patch_entry(
    session: Session,
    actor: Actor,
    entry_id: int,
    patch: Any,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
    commit: bool = False,
) -> tuple[EntryVersion, bool]:
    """Apply a JSON Merge Patch (RFC 7396) to version ``base_version`` of an entry and
    record the result as the entry's next version, through :func:`update_entry` (so
    every rule of an update applies, in its order of errors).

    Returns the version and whether it was written now. A patch that leaves the
    head's body as it is (compared as the canonical bytes a version would store)
    writes nothing and returns the head, once the actor's right to write, the reason
    and the effective time have been checked. A patch based on another version than
    the head, or on one that does not exist, is refused as an update would be (412),
    even when it would change nothing; a retired entry cannot change (409).
    ``commit``: as for :func:`update_entry`; a session without a transaction ends its
    read before the write, which can then take the one-statement path.
    """
    base_version = _check_base(base_version)
    fresh = not session.in_transaction()
    entry = get_entry(session, entry_id)
    base = session.scalar(
        sa.select(EntryVersion).where(
            EntryVersion.entry_id == entry.id, EntryVersion.number == base_version
        )
    )
    if base is None or base.tombstone:
        # Nothing to apply the patch to: refused as an update on that base is.
        require(session, actor, "write", entry.system)
        _require_for_kind(session, actor, entry.kind, entry.system)
        _explain_refusal(session, entry.id, base_version)
    assert base is not None
    try:
        body = json_merge_patch.merge(json.loads(base.body), patch)
    except RecursionError:  # deeper than any body of any kind can be
        raise InvalidInput("The patch is not valid.", {"_schema": ["Nested too deeply."]}) from None
    if base_version == entry.head_number and _same_body(entry.kind, body, base):
        require(session, actor, "write", entry.system)
        _require_for_kind(session, actor, entry.kind, entry.system)
        _check_reason(reason)
        _check_instant(effective_from, "effective_from")
        if commit:
            session.commit()
        return base, False
    if commit and fresh:
        session.commit()  # only read so far
    version = update_entry(
        session,
        actor,
        entry.id,
        body,
        base_version=base_version,
        effective_from=effective_from,
        reason=reason,
        commit=commit,
    )
    return version, True


def _same_body(kind: str, body: Any, version: EntryVersion) -> bool:
    """Whether ``body``, validated and normalised, is exactly ``version``'s body."""
    try:
        _, data = _validated(kind, body)
    except InvalidInput:
        return False  # the update refuses it, in its order of errors
    return sha256_hex(data) == version.body_hash
