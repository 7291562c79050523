"""Writing AI systems and their versioned entries: one path for every change.

Every create, update, patch, retirement and reinstatement takes the same three
steps, run by one runner (:func:`_run`); a service checks its input, names what it
reads and locks (a :class:`Target`) and gives its decision (``decide_*``):

1. **Lock and read** the state the decision rests on (:class:`State`): the ledger
   lock of the entry's system (or the whole ledger, for a new system), then the entry
   with its system and head version, the system's live owner entries when the actor's
   right depends on them, and the system's last event. On PostgreSQL the lock and
   these reads go to the server as one pipeline (``ledger.append.lock_and_read``),
   with the API token's lookup and the transaction's ``BEGIN``: one round trip; the
   reads see every change committed before the lock was granted.
2. **Decide**, in pure Python (``decide_*``): the refusal, in the documented order
   (not found, permission, body, reason, instants, stale base, retired), or a
   :class:`Plan`: the version to write, its event's fields, and the precondition it
   rests on: "the system's last event is still ``seq`` X", which holds (it was read
   under the lock; checked all the same).
3. **Append** (``ledger.append``): the event is sealed in Python and stored with the
   version and the entry's new head, in the round trip of the request's ``COMMIT``.
   A refusal stores nothing; its rollback releases the lock.

A promotion to production (or the reinstatement of a production system) also meets
the readiness gate, read under the lock: the caller passes it in (``gate``, a
:class:`PromotionGate`: ``readiness.gate.check_promotion``), since readiness sits
above records. Services take the actor explicitly and never commit: the request or
CLI command owns the transaction, and the ledger lock is held until it ends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import json_merge_patch
import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from registry.accounts.actor import Actor, is_known
from registry.accounts.permissions import denied, may, may_write_as_named_owner
from registry.db import utcnow
from registry.documents.service import held
from registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleVersion
from registry.ledger.append import (
    Locked,
    Precondition,
    Statement,
    ledger_seq,
    lock_and_read,
    lock_statement,
    next_time,
    scope_seq,
    seal,
    store,
)
from registry.ledger.canonical import canonical_bytes, instant_text, sha256_hex
from registry.ledger.systems_map import LINK
from registry.records.inputs import (
    check_base,
    check_instant,
    check_reason,
    valid_id,
    validated,
)
from registry.records.kinds import KINDS, Kind, stored_attachments, unheld_attachments
from registry.records.models import (
    AISystem,
    Entry,
    EntryVersion,
    in_force_at,
    live_owner_entries,
)


class PromotionGate(Protocol):
    """The check a promotion to production passes under the ledger lock, raising to
    refuse it: ``readiness.gate.check_promotion``, given by the callers that may promote
    (the surfaces, the demo loader), since readiness sits above records."""

    def __call__(
        self,
        session: Session,
        system: AISystem,
        old_profile: dict[str, Any],
        new_profile: dict[str, Any],
        when: dt.datetime,
        /,
    ) -> None: ...


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Current:
    """An entry as the decision sees it: identity, system, head and the head's body."""

    entry_id: int
    kind: str
    system_id: int
    reference: str
    head_number: int
    retired: bool
    head_body: str
    head_effective_from: dt.datetime


@dataclass(frozen=True)
class InForce:
    """A profile's version in force at the instant a technical owner's change takes
    effect, as read under the lock (for the classification it keeps), and the next
    instant at which another of its versions takes effect (None: none does)."""

    body: str | None  # None: no version in force then
    retired: bool
    next_effective: dt.datetime | None


@dataclass(frozen=True)
class State:
    """What a write's decision rests on, read under the ledger lock."""

    last_seq: int  # the scope's last event (a system's, or the ledger's)
    system_id: int | None = None
    reference: str | None = None
    entry: Current | None = None
    owners: tuple[str, ...] = ()  # owner entry bodies in force (read for technical owners)
    in_force: InForce | None = None  # a profile's version in force (read with the owners)
    now: dt.datetime | None = None  # the instant the write is recorded at, if it is
    exists: bool = False  # create_system: the reference is taken
    named: dict[int, tuple[str, bool]] | None = None  # entry id -> (kind, retired)
    cited: dict[tuple[int, int], tuple[str, str]] | None = None  # (id, n) -> (hash, kind)
    restored: str | None = None  # reinstate: the body of the last version before retiring
    held: frozenset[str] = frozenset()  # attached SHA-256s the system's documents hold
    # The body as the state's reader validated it: (kind, body, clean, canonical bytes).
    checked: tuple[str, Any, dict[str, Any], bytes] | None = None


@dataclass(frozen=True)
class Plan:
    """A write decided: the version to append and what the decision rests on."""

    precondition: Precondition
    action: str
    system_id: int
    reference: str
    entry_id: int | None  # None: a new entry
    kind: str
    base: int
    data: bytes
    reason: str
    effective_from: dt.datetime | None
    tombstone: bool = False
    promotion: tuple[dict[str, Any], dict[str, Any]] | None = None  # the readiness gate's
    new_system: bool = False

    @property
    def number(self) -> int:
        return self.base + 1

    @property
    def system_prev(self) -> int:
        """The link of the version's event to the system's previous event: the one the
        precondition names (a new system has none: 0)."""
        return 0 if self.new_system else self.precondition.seq


_e = Entry.__table__
_s = AISystem.__table__
_v = EntryVersion.__table__
_SYSTEM_OF_ENTRY = (
    sa.select(_e.c.system_id).where(_e.c.id == sa.bindparam("entry_id")).scalar_subquery()
)
_STATE_OF_ENTRY = (
    sa.select(
        _e.c.id,
        _e.c.kind,
        _e.c.system_id,
        _e.c.head_number,
        _e.c.retired,
        _s.c.reference,
        _v.c.body,
        _v.c.effective_from,
        scope_seq(_e.c.system_id).label("last_seq"),
    )
    .join(_s, _s.c.id == _e.c.system_id)
    .join(_v, (_v.c.entry_id == _e.c.id) & (_v.c.number == _e.c.head_number))
    .where(_e.c.id == sa.bindparam("entry_id"))
)
# The instant a write takes effect, or the request's when it takes effect on recording.
_AT = sa.bindparam("at", type_=_v.c.effective_from.type)
_OWNERS_OF_ENTRY = live_owner_entries(_SYSTEM_OF_ENTRY, _AT)
_f = _v.alias("f")
_h = _v.alias("h")
_IN_FORCE_CONDITIONS, _IN_FORCE_ORDER = in_force_at(_f.c, _AT, entry_id=_e.c.id)
# A profile's version in force at ``at`` (none: no row, or nulls) and the next instant
# another of its versions takes effect; no row for an entry of another kind.
_PROFILE_IN_FORCE = (
    sa.select(
        _v.c.body,
        _v.c.tombstone,
        sa.select(sa.func.min(_h.c.effective_from))
        .where(_h.c.entry_id == _e.c.id, _h.c.effective_from > _AT)
        .scalar_subquery()
        .label("next_effective"),
    )
    .select_from(
        _e.outerjoin(
            _v,
            (_v.c.entry_id == _e.c.id)
            & (
                _v.c.number
                == sa.select(_f.c.number)
                .where(_f.c.entry_id == _e.c.id, *_IN_FORCE_CONDITIONS)
                .order_by(*_IN_FORCE_ORDER)
                .limit(1)
                .correlate(_e)
                .scalar_subquery()
            ),
        )
    )
    .where(_e.c.id == sa.bindparam("entry_id"), _e.c.kind == "profile")
)
_LOCK_FOR_ENTRY = lock_statement(_SYSTEM_OF_ENTRY)
_STATE_OF_SYSTEM = sa.select(
    _s.c.id, _s.c.reference, scope_seq(sa.bindparam("system_id")).label("last_seq")
).where(_s.c.id == sa.bindparam("system_id"))
_OWNERS_OF_SYSTEM = live_owner_entries(sa.bindparam("system_id"), _AT)
_LOCK_FOR_SYSTEM = lock_statement(sa.bindparam("system_id", type_=sa.Integer))
_STATE_OF_REFERENCE = sa.select(
    ledger_seq().label("last_seq"),
    sa.exists().where(_s.c.reference == sa.bindparam("reference")).label("taken"),
)
_LOCK_FOR_LEDGER = lock_statement(None)
_NAMED = sa.select(_e.c.id, _e.c.kind, _e.c.retired).where(
    _e.c.id.in_(sa.bindparam("ids", expanding=True)), _e.c.system_id == sa.bindparam("system_id")
)
_CITED = (
    sa.select(_v.c.entry_id, _v.c.number, _v.c.body_hash, _e.c.kind)
    .join(_e, _e.c.id == _v.c.entry_id)
    .where(
        _e.c.system_id == sa.bindparam("system_id"),
        _v.c.entry_id.in_(sa.bindparam("ids", expanding=True)),
    )
)
_LAST_LIVE = (
    sa.select(_v.c.body)
    .where(
        _v.c.entry_id == sa.bindparam("entry_id"),
        _v.c.number < sa.bindparam("before"),
        _v.c.tombstone.is_(False),
    )
    .order_by(_v.c.number.desc())
    .limit(1)
)


@dataclass(frozen=True)
class Target:
    """The ledger lock a write takes (the entry's system, the system, or the whole
    ledger: a new system), the tables it may add a row to (``new_rows``: their ids are
    taken with the lock), and what it reads under the lock: ``reads``, in the lock's
    round trip; ``state`` makes the decision's :class:`State` of their rows, reading
    what depends on them (the records a body names, a retired profile's last body)."""

    reads: list[Statement]
    lock_with: tuple[sa.Select[Any], sa.Select[Any]]
    lock_params: dict[str, Any]
    new_rows: tuple[sa.Table, ...]
    state: Callable[[Session, list[list[Any]]], State]


# What a target reads once the first reads are in: the state, completed.
More = Callable[[Session, State], State]


def _owner_reads(actor: Actor, *statements: sa.Select[Any], **params: Any) -> list[Any]:
    """The reads of ``statements`` (the owner entries in force, a profile's version in
    force), at the instant ``params["at"]``, when the actor's right depends on them (or
    may: an actor known only once the state is read, an API token's)."""
    if is_known(actor) and not may_write_as_named_owner(actor):
        return []
    return [(statement, params) for statement in statements]


def _owners(reads: list[list[Any]], owner_reads: list[Any]) -> tuple[str, ...]:
    """The owner entries' bodies, when they were read (the second read)."""
    return tuple(r.body for r in reads[1]) if owner_reads else ()


def _in_force(reads: list[list[Any]], owner_reads: list[Any]) -> InForce | None:
    """A profile's version in force, when it was read (the third read) and the entry
    is a profile."""
    if len(owner_reads) < 2 or not reads[2]:
        return None
    row = reads[2][0]
    return InForce(
        body=row.body,
        retired=bool(row.tombstone),
        next_effective=None if row.next_effective is None else _aware(row.next_effective),
    )


def _of_entry(
    actor: Actor,
    entry_id: int,
    more: More | None = None,
    effective_from: dt.datetime | None = None,
) -> Target:
    """A write to an entry taking effect at ``effective_from`` (None: when recorded):
    the entry with its system and head version, the system's last event and, for a
    technical owner, the system's owner entries in force now and, for a profile, its
    version in force when the write takes effect."""
    params = {"entry_id": entry_id}
    now = utcnow()
    takes_effect = now  # a time without a zone is refused by the decision, in its order
    if isinstance(effective_from, dt.datetime) and effective_from.tzinfo is not None:
        takes_effect = effective_from
    owners = _owner_reads(actor, _OWNERS_OF_ENTRY, entry_id=entry_id, at=now) + _owner_reads(
        actor, _PROFILE_IN_FORCE, entry_id=entry_id, at=takes_effect
    )

    def state(session: Session, reads: list[list[Any]]) -> State:
        found = _entry_state(reads, _owners(reads, owners), _in_force(reads, owners))
        return found if more is None or found.entry is None else more(session, found)

    return Target([(_STATE_OF_ENTRY, params), *owners], _LOCK_FOR_ENTRY, params, (_v,), state)


def _of_system(actor: Actor, system_id: int, more: More) -> Target:
    """A new entry of a system: the system, its last event and, for a technical owner,
    its live owner entries."""
    params = {"system_id": system_id}
    owners = _owner_reads(actor, _OWNERS_OF_SYSTEM, system_id=system_id, at=utcnow())

    def state(session: Session, reads: list[list[Any]]) -> State:
        row = reads[0][0]
        found = State(
            last_seq=int(row.last_seq),
            system_id=row.id,
            reference=row.reference,
            owners=_owners(reads, owners),
        )
        return more(session, found)

    return Target([(_STATE_OF_SYSTEM, params), *owners], _LOCK_FOR_SYSTEM, params, (_e, _v), state)


def _of_reference(reference: str) -> Target:
    """A new system: whether its reference is taken, and the ledger's last event."""

    def state(session: Session, reads: list[list[Any]]) -> State:
        row = reads[0][0]
        return State(last_seq=int(row.last_seq), exists=bool(row.taken))

    reads: list[Statement] = [(_STATE_OF_REFERENCE, {"reference": reference})]
    return Target(reads, _LOCK_FOR_LEDGER, {}, (_s, _e, _v), state)


def _entry_state(
    reads: list[list[Any]], owners: tuple[str, ...], in_force: InForce | None
) -> State:
    rows = reads[0]
    if not rows:
        return State(last_seq=0)
    row = rows[0]
    current = Current(
        entry_id=row.id,
        kind=row.kind,
        system_id=row.system_id,
        reference=row.reference,
        head_number=row.head_number,
        retired=row.retired,
        head_body=row.body,
        head_effective_from=_aware(row.effective_from),
    )
    return State(
        last_seq=int(row.last_seq),
        system_id=row.system_id,
        reference=row.reference,
        entry=current,
        owners=owners,
        in_force=in_force,
    )


def _aware(value: dt.datetime) -> dt.datetime:
    """An instant as read by either driver, as an aware UTC datetime."""
    if value.tzinfo is None:  # SQLite's text, read without the column's type
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _naming(body: Any, kind: str | None = None) -> More:
    """The state completed with what ``body`` (of ``kind``, else the entry's) names:
    the documents its attachments name that the system holds, and the entries and
    versions it names (read in the transaction that will hold the ledger lock)."""

    def more(session: Session, state: State) -> State:
        of = kind or (state.entry.kind if state.entry is not None else "")
        spec = KINDS.get(of)
        if spec is None:
            return state
        try:
            clean, data = validated(of, body)
        except InvalidInput:
            return state  # refused by the decision, in its order
        assert state.system_id is not None
        stored = held(session, state.system_id, stored_attachments(clean))
        state = replace(state, held=frozenset(stored), checked=(of, body, clean, data))
        if not (spec.refers_to or spec.cites_versions):
            return state
        named, cited = _referenced(session, spec, clean, state.system_id)
        return replace(state, named=named, cited=cited)

    return more


def _referenced(
    session: Session, spec: Kind, clean: dict[str, Any], system_id: int
) -> tuple[dict[int, tuple[str, bool]], dict[tuple[int, int], tuple[str, str]]]:
    """The entries of system ``system_id`` a valid body of ``spec`` names (kind, retired)
    and the versions it cites (hash, kind)."""
    connection = session.connection()
    named_ids = {clean[name] for name, _ in spec.refers_to if clean.get(name) is not None}
    named = {
        r.id: (r.kind, r.retired)
        for r in connection.execute(_NAMED, {"ids": list(named_ids), "system_id": system_id})
    }
    cited: dict[tuple[int, int], tuple[str, str]] = {}
    if spec.cites_versions and clean.get(spec.cites_versions):
        ids = list({item["entry_id"] for item in clean[spec.cites_versions]})
        cited = {
            (r.entry_id, r.number): (r.body_hash, r.kind)
            for r in connection.execute(_CITED, {"ids": ids, "system_id": system_id})
        }
    return named, cited


def _restoring(session: Session, state: State) -> State:
    """A retired profile's state, with the body of its last version before retiring."""
    current = state.entry
    assert current is not None
    if not current.retired:
        return state
    params = {"entry_id": current.entry_id, "before": current.head_number}
    return replace(state, restored=session.connection().scalar(_LAST_LIVE, params))


# ----------------------------------------------------------------------------- decisions


def _require(
    actor: Actor, action: str, state: State, *, owners_read: bool = True, system: bool = True
) -> None:
    if not may(actor, action, state.owners if owners_read else (), on_system=system):
        raise denied(actor, action, state.reference if system else None)


def _require_for_kind(actor: Actor, kind: str, state: State, *, retiring: bool = False) -> None:
    """Waivers and approvals are a compliance officer's to write; a profile is a
    compliance officer's to retire (or reinstate)."""
    if kind in KINDS and KINDS[kind].officer_only:
        _require(actor, "approve", state)
    if retiring and kind in KINDS and KINDS[kind].officer_retires:
        _require(actor, "govern", state)


def _check_references(
    state: State, kind: str, clean: dict[str, Any], before: dict[str, Any]
) -> None:
    """Every entry a body names is a live entry of the right kind in the same system,
    and every entry version it cites is one of the same system, of the kind it says,
    with that hash. A reference the entry's head already makes stands as recorded:
    retiring a procedure does not freeze the reviews that followed it."""
    spec = KINDS[kind]
    errors: dict[Any, Any] = unheld_attachments(clean, before, state.held)
    errors.update(_wrongly_named(state, spec, clean, before))
    if spec.cites_versions and (wrong := _wrongly_cited(state, spec, clean, before)):
        errors[spec.cites_versions] = wrong
    if errors:
        raise InvalidInput(f"The {spec.title.lower()} names records it cannot.", errors)


def _wrongly_named(
    state: State, spec: Kind, clean: dict[str, Any], before: dict[str, Any]
) -> dict[str, list[str]]:
    """The fields naming an entry (``refers_to``) that is not a live entry of their
    kind in the system, unless the head already names it."""
    named = state.named or {}
    errors = {}
    for name, target in spec.refers_to:
        value = clean.get(name)
        if value is None or value == before.get(name):
            continue
        found = named.get(value)
        if found is None or found[0] != target or found[1]:
            title = KINDS[target].title.lower()
            errors[name] = [f"Must name a live {title} of system {state.reference!r}."]
    return errors


def _wrongly_cited(
    state: State, spec: Kind, clean: dict[str, Any], before: dict[str, Any]
) -> dict[int, dict[str, list[str]]]:
    """The items of the field citing entry versions (``cites_versions``) that name no
    version of the system with that hash (and kind), unless the head already cites
    them."""
    field = spec.cites_versions
    assert field is not None
    kept = before.get(field) or []
    cited = state.cited or {}
    return {
        i: {"hash": [f"Must be the hash of a version of system {state.reference!r}."]}
        for i, item in enumerate(clean.get(field) or [])
        if item not in kept
        and (
            (hit := cited.get((item["entry_id"], item["version"]))) is None
            or hit[0] != item["hash"]
            or item.get("kind") not in (None, hit[1])
        )
    }


def officer_fields_changed(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields only a compliance officer may change (a profile's classification)
    whose value differs between two bodies of ``kind``."""
    return [f for f in KINDS[kind].officer_fields if old.get(f) != new.get(f)]


def _profile_change(
    actor: Actor,
    state: State,
    old: dict[str, Any],
    new: dict[str, Any],
    effective_from: dt.datetime | None,
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A profile change: the mark of mirroring another register is set only when the
    system is registered (so it cannot open the readiness gate later), its
    classification is a compliance officer's, and a promotion to production meets the
    readiness gate (returned: the old and new profile)."""
    if new.get("mirrors_register") and not old.get("mirrors_register"):
        raise Conflict(
            "Only a system registered as mirroring another register carries that mark: "
            "it cannot be added later.",
            errors={"mirrors_register": ["Set only when the system is registered."]},
        )
    if not may(actor, "govern"):
        _keeps_classification(actor, state, old, new, effective_from)
    if new.get("stage") == "production" and old.get("stage") != "production":
        return old, new
    return None


def _keeps_classification(
    actor: Actor,
    state: State,
    old: dict[str, Any],
    new: dict[str, Any],
    effective_from: dt.datetime | None,
) -> None:
    """Refuse a profile version by someone who may not classify (a technical owner)
    that changes the classification: against the head (``old``), and against the
    version in force when the new one takes effect, which it replaces from then until
    the next version takes effect (a version dated before or after others must not
    bring a classification forward or back). None in force then: nothing to keep, so
    refused, as is a version dated into a retirement (a reinstatement)."""
    changed = officer_fields_changed("profile", old, new)
    if changed:
        raise _not_classifying(actor, state, changed, "")
    if state.entry is not None and state.entry.retired:
        return  # refused as retired, in its order (a retired profile cannot change)
    in_force, now = state.in_force, state.now
    assert in_force is not None and now is not None  # read for such an actor, under the lock
    takes_effect = effective_from or now
    if effective_from is None and in_force.next_effective is not None:
        if in_force.next_effective <= now:  # took effect after it was read: decide anew
            raise Conflict(
                f"A version of the profile of system {state.reference!r} took effect "
                "while this change was being recorded; send it again.",
            )
    when = f" in force on {instant_text(takes_effect)}"
    if in_force.body is None or in_force.retired:
        if effective_from is None:  # e.g. a system registered to take effect later
            raise PermissionDenied(
                f"{actor.label} may not change the profile of system {state.reference!r} "
                "while no version of it is in force (only a compliance officer may).",
            )
        raise PermissionDenied(
            f"{actor.label} may not date a version of the profile of system "
            f"{state.reference!r} to {instant_text(takes_effect)}: no version of it is "
            "in force then (only a compliance officer may).",
            errors={"effective_from": ["Only a compliance officer may date it so."]},
        )
    changed = officer_fields_changed("profile", json.loads(in_force.body), new)
    if changed:
        raise _not_classifying(actor, state, changed, when)


def _not_classifying(actor: Actor, state: State, changed: list[str], when: str) -> PermissionDenied:
    return PermissionDenied(
        f"{actor.label} may not change the classification{when} of system "
        f"{state.reference!r}: {', '.join(changed)} (only a compliance officer may).",
        errors={f: ["Only a compliance officer may change this field."] for f in changed},
    )


def _validated(state: State, kind: str, body: Any) -> tuple[dict[str, Any], bytes]:
    """``inputs.validated(kind, body)``: as the state's reader found it, when it
    validated this very body as that kind (its clean body and bytes); else now."""
    if state.checked is not None and state.checked[0] == kind and state.checked[1] is body:
        return state.checked[2], state.checked[3]
    return validated(kind, body)


def _existing(state: State, entry_id: Any) -> Current:
    if state.entry is None:
        raise NotFound(f"No entry {entry_id}.")
    return state.entry


def _next_version(
    state: State,
    action: str,
    base: int,
    data: bytes,
    reason: str,
    effective_from: dt.datetime | None,
    **extra: Any,
) -> Plan:
    """The plan of the version after ``base`` of the entry of ``state``, resting on its
    system's last event."""
    current = state.entry
    assert current is not None
    return Plan(
        precondition=Precondition(current.system_id, state.last_seq),
        action=action,
        system_id=current.system_id,
        reference=current.reference,
        entry_id=current.entry_id,
        kind=current.kind,
        base=base,
        data=data,
        reason=reason,
        effective_from=effective_from,
        **extra,
    )


def _check_head(current: Current, base: int) -> None:
    if current.head_number != base:
        raise StaleVersion(current.entry_id, base, current.head_number)
    if current.retired:
        raise Conflict(f"Entry {current.entry_id} is retired; a retired entry cannot change.")


def decide_update(
    actor: Actor,
    state: State,
    entry_id: Any,
    body: Any,
    base: int,
    effective_from: dt.datetime | None,
    reason: str | None,
) -> Plan:
    """An update of ``entry_id`` to ``body`` on version ``base``, or its refusal."""
    current = _existing(state, entry_id)
    _require(actor, "write", state)
    clean, data = _validated(state, current.kind, body)
    if current.kind == "profile" and clean["reference"] != current.reference:
        raise InvalidInput(
            "A system's reference cannot change.",
            {"reference": [f"Must stay {current.reference!r}."]},
        )
    _require_for_kind(actor, current.kind, state)
    reason = check_reason(reason)
    check_instant(effective_from, "effective_from")
    before = json.loads(current.head_body)
    _check_references(state, current.kind, clean, before)
    promotion = None
    if current.kind == "profile":
        promotion = _profile_change(actor, state, before, clean, effective_from)
    _check_head(current, base)
    return _next_version(
        state,
        "entry.update",
        base,
        data,
        reason,
        effective_from,
        promotion=promotion,
    )


def decide_patch(
    actor: Actor,
    state: State,
    entry_id: Any,
    body: Any,
    base: int,
    effective_from: dt.datetime | None,
    reason: str | None,
) -> Plan | None:
    """A JSON Merge Patch of version ``base``, ``body`` being its result (None: there
    is no live version ``base`` to patch), or a whole body that may be the head's
    (:func:`update_entry_if_changed`): refused as an update on ``base`` is, or None
    when ``body`` is the head's body, byte for byte once canonical (nothing to write),
    or the update."""
    current = state.entry
    if current is not None and body is None:
        _require(actor, "write", state)
        _require_for_kind(actor, current.kind, state)
        _check_head(current, base)  # refuses: ``base`` is a tombstone or not there
    plan = decide_update(actor, state, entry_id, body, base, effective_from, reason)
    assert current is not None
    return None if plan.data == current.head_body.encode() else plan


def decide_retire(
    actor: Actor,
    state: State,
    entry_id: Any,
    base: int,
    effective_from: dt.datetime | None,
    reason: str | None,
) -> Plan:
    """A retirement (a tombstone version) of ``entry_id`` on ``base``, or its refusal."""
    current = _existing(state, entry_id)
    _require(actor, "write", state)
    _require_for_kind(actor, current.kind, state, retiring=True)
    reason = check_reason(reason)
    check_instant(effective_from, "effective_from")
    _check_head(current, base)
    data = canonical_bytes({})
    return _next_version(state, "entry.retire", base, data, reason, effective_from, tombstone=True)


def decide_reinstate(
    actor: Actor,
    state: State,
    base: int,
    effective_from: dt.datetime | None,
    reason: str | None,
    now: dt.datetime,
) -> Plan:
    """Bringing back a retired profile: its last version before the retirement again."""
    current = state.entry
    assert current is not None  # every system has its profile
    _require(actor, "write", state)
    _require_for_kind(actor, current.kind, state, retiring=True)
    if current.head_number != base:
        raise StaleVersion(current.entry_id, base, current.head_number)
    if not current.retired:
        raise Conflict(f"System {current.reference!r} is not retired.")
    retired_from = current.head_effective_from
    if effective_from is None and retired_from > now:
        effective_from = retired_from  # a retirement stated to take effect later
    if effective_from is not None and effective_from < retired_from:
        raise InvalidInput(
            "A system cannot be reinstated before it was retired.",
            {"effective_from": [f"Must not be before {instant_text(retired_from)}."]},
        )
    assert state.restored is not None  # version 1 of an entry is never a retirement
    restored = json.loads(state.restored)
    return _next_version(
        state,
        "entry.reinstate",
        base,
        state.restored.encode(),
        reason or "",
        effective_from,
        promotion=({}, restored) if restored.get("stage") == "production" else None,
    )


def decide_create_entry(
    actor: Actor,
    state: State,
    kind: str,
    body: Any,
    effective_from: dt.datetime | None,
    reason: str | None,
) -> Plan:
    """A new entry of ``kind`` in the system of ``state`` (its version 1)."""
    assert state.system_id is not None and state.reference is not None
    _require(actor, "write", state)
    _require_for_kind(actor, kind, state)
    if kind == "profile":
        raise Conflict("A system has exactly one profile: update it instead.")
    clean, data = _validated(state, kind, body)
    reason = check_reason(reason)
    check_instant(effective_from, "effective_from")
    _check_references(state, kind, clean, {})
    return Plan(
        precondition=Precondition(state.system_id, state.last_seq),
        action="entry.create",
        system_id=state.system_id,
        reference=state.reference,
        entry_id=None,
        kind=kind,
        base=0,
        data=data,
        reason=reason,
        effective_from=effective_from,
    )


def decide_create_system(
    actor: Actor,
    state: State,
    clean: dict[str, Any],
    data: bytes,
    effective_from: dt.datetime | None,
    reason: str,
) -> Plan:
    """A new system with its first profile version."""
    reference = clean["reference"]
    if errors := unheld_attachments(clean, {}, frozenset()):  # no document is stored yet
        raise InvalidInput("The profile names documents the registry does not hold.", errors)
    if state.exists:
        raise Conflict(
            f"A system with reference {reference!r} already exists.",
            errors={"reference": ["Already in use."]},
        )
    return Plan(
        precondition=Precondition(None, state.last_seq),
        action="system.create",
        system_id=0,
        reference=reference,
        entry_id=None,
        kind="profile",
        base=0,
        data=data,
        reason=reason,
        effective_from=effective_from,
        new_system=True,
    )


# ----------------------------------------------------------------------------- appending

_MOVE_HEAD = (
    sa.update(_e)
    .where(_e.c.id == sa.bindparam("m_entry_id"), _e.c.head_number == sa.bindparam("m_base"))
    .values(head_number=sa.bindparam("m_number"), retired=sa.bindparam("m_retired"))
    .returning(_e.c.id)
)


def _insert(table: sa.Table, prefix: str) -> sa.Insert:
    """An INSERT of every column of ``table`` (``id`` given), parameters ``prefix`` +
    column name."""
    values = {c.name: sa.bindparam(prefix + c.name, type_=c.type) for c in table.columns}
    return sa.insert(table).values(values).returning(table.c.id)


_INSERT_VERSION = _insert(_v, "")
_INSERT_ENTRY = _insert(_e, "n_")
_INSERT_SYSTEM = _insert(_s, "s_")


def _event_fields(actor: Actor, plan: Plan, system_id: int, entry_id: int) -> dict[str, Any]:
    """What the audit event of a version says, but for its time, ``seq`` and previous
    hash."""
    return {
        "action": plan.action,
        "actor": actor.label,
        "system": plan.reference,
        "system_id": system_id,
        "entry_id": entry_id,
        "kind": plan.kind,
        "version": plan.number,
        "body_sha256": sha256_hex(plan.data),
        "reason_sha256": sha256_hex(plan.reason.encode()),
        "tombstone": plan.tombstone,
        LINK: plan.system_prev,
    }


def _run(
    session: Session,
    actor: Actor,
    target: Target,
    decide: Callable[[State], Plan | None],
    gate: PromotionGate | None = None,
) -> EntryVersion | None:
    """Every write: lock and read, decide, append. None: the decision was to write
    nothing (a patch that changes nothing)."""
    locked, rows = lock_and_read(
        session, target.lock_with, target.lock_params, target.new_rows, target.reads
    )
    now = next_time(locked.head)  # the instant the write is recorded at, if it is
    plan = decide(replace(target.state(session, rows), now=now))
    if plan is None:
        return None
    if not locked.holds(plan.precondition):  # read under the lock: it cannot fail
        raise RuntimeError("a write's precondition failed under the ledger lock")
    return _append(session, actor, locked, plan, gate, now)


def _write(
    session: Session,
    actor: Actor,
    target: Target,
    decide: Callable[[State], Plan],
    gate: PromotionGate | None = None,
) -> EntryVersion:
    """A write whose decision always plans a version (all but a patch's): :func:`_run`."""
    version = _run(session, actor, target, decide, gate)
    assert version is not None
    return version


def _append(
    session: Session,
    actor: Actor,
    locked: Locked,
    plan: Plan,
    gate: PromotionGate | None,
    now: dt.datetime,
) -> EntryVersion:
    """Carry ``plan`` out at ``now``: the lock is held and its precondition holds."""
    effective_from = plan.effective_from or now  # effective when recorded, unless stated
    ids = iter(locked.ids)
    system_id = next(ids) if plan.new_system else plan.system_id
    entry_id = next(ids) if plan.entry_id is None else plan.entry_id
    version_id = next(ids)
    if plan.promotion is not None:
        if gate is None:  # a caller that may promote passes the gate: never skipped
            raise RuntimeError(
                f"{plan.action} would make system {plan.reference!r} production, "
                "and no readiness gate was given to check it"
            )
        system = session.get(AISystem, system_id)
        assert system is not None
        gate(session, system, *plan.promotion, effective_from)
    fields = _event_fields(actor, plan, system_id, entry_id)
    fields["effective_from"] = instant_text(effective_from)
    event = seal(locked.head, fields, system_id, now)
    values = {
        "id": version_id,
        "entry_id": entry_id,
        "number": plan.number,
        "body": plan.data.decode(),
        "body_hash": fields["body_sha256"],
        "recorded_at": now,
        "effective_from": effective_from,
        "author_id": actor.user_id,
        "author": actor.label,
        "reason": plan.reason,
        "tombstone": plan.tombstone,
        "audit_seq": event["seq"],
    }
    rows: list[Statement] = []
    if plan.new_system:
        rows.append(
            (
                _INSERT_SYSTEM,
                {"s_id": system_id, "s_reference": plan.reference, "s_created_at": now},
            )
        )
    if plan.entry_id is None:
        entry = {
            "id": entry_id,
            "system_id": system_id,
            "kind": plan.kind,
            "head_number": plan.number,
            "retired": plan.tombstone,
            "created_at": now,
        }
        rows.append((_INSERT_ENTRY, {f"n_{k}": v for k, v in entry.items()}))
    else:
        move = {
            "m_entry_id": entry_id,
            "m_base": plan.base,
            "m_number": plan.number,
            "m_retired": plan.tombstone,
        }
        rows.append((_MOVE_HEAD, move))
    rows.append((_INSERT_VERSION, values))
    store(session, event, rows)
    return _attached(session, plan, system_id, entry_id, version_id, values)


def _attached(
    session: Session,
    plan: Plan,
    system_id: int,
    entry_id: int,
    version_id: int,
    values: dict[str, Any],
) -> EntryVersion:
    """The written version as a persistent object of the session (no query), with its
    entry and system: those of the session when it holds them, kept up to date."""
    system = _persistent(session, AISystem, system_id, reference=plan.reference)
    entry = _persistent(session, Entry, entry_id, system_id=system_id, kind=plan.kind)
    set_committed_value(entry, "head_number", plan.number)
    set_committed_value(entry, "retired", plan.tombstone)
    set_committed_value(entry, "system", system)
    version = EntryVersion(**values)
    make_transient_to_detached(version)
    session.add(version)
    set_committed_value(version, "entry", entry)
    return version


def _persistent(session: Session, model: Any, id_: int, **known: Any) -> Any:
    held = session.identity_map.get(identity_key(model, id_))
    if held is not None:
        return held
    obj = model(id=id_, **known)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


# ----------------------------------------------------------------------------- services


def _entry_id(entry: Entry | int) -> int:
    entry_id = entry.id if isinstance(entry, Entry) else entry
    if not valid_id(entry_id):
        raise NotFound(f"No entry {entry_id}.")
    return entry_id


def update_entry(
    session: Session,
    actor: Actor,
    entry: Entry | int,
    body: Any,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
    gate: PromotionGate | None = None,
) -> EntryVersion:
    """Replace an entry's body with a new version based on ``base_version``. A
    profile's promotion to production must pass ``gate`` (refused without one)."""
    base = check_base(base_version)
    entry_id = _entry_id(entry)
    target = _of_entry(actor, entry_id, _naming(body), effective_from)

    def decide(state: State) -> Plan:
        return decide_update(actor, state, entry_id, body, base, effective_from, reason)

    return _write(session, actor, target, decide, gate)


def update_entry_if_changed(
    session: Session,
    actor: Actor,
    entry: Entry | int,
    body: Any,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
    gate: PromotionGate | None = None,
) -> tuple[EntryVersion, bool]:
    """:func:`update_entry`, unless ``body`` is the head's body (compared as the
    canonical bytes a version would store): then nothing is written and the head is
    returned, once the update's checks have passed, as for a patch that changes
    nothing (:func:`decide_patch`). Returns the version and whether it was written now.
    A web form saved without a change."""
    base = check_base(base_version)
    entry_id = _entry_id(entry)
    written = _update_unless_same(
        session, actor, entry_id, body, base, effective_from, reason, gate
    )
    if written is None:  # the checks passed: version ``base`` is the head
        head = session.scalar(
            sa.select(EntryVersion).where(
                EntryVersion.entry_id == entry_id, EntryVersion.number == base
            )
        )
        assert head is not None
        return head, False
    return written, True


def _update_unless_same(
    session: Session,
    actor: Actor,
    entry_id: int,
    body: Any,
    base: int,
    effective_from: dt.datetime | None,
    reason: str | None,
    gate: PromotionGate | None,
) -> EntryVersion | None:
    """The update of ``entry_id`` to ``body`` on version ``base`` (``body`` None: there
    is no live version ``base``), or None when ``body`` is the head's (nothing written):
    :func:`decide_patch`."""

    def decide(state: State) -> Plan | None:
        return decide_patch(actor, state, entry_id, body, base, effective_from, reason)

    target = _of_entry(actor, entry_id, _naming(body), effective_from)
    return _run(session, actor, target, decide, gate)


def retire_entry(
    session: Session,
    actor: Actor,
    entry: Entry | int,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
) -> EntryVersion:
    """Retire an entry: a tombstone version. Nothing is deleted."""
    base = check_base(base_version)
    entry_id = _entry_id(entry)

    def decide(state: State) -> Plan:
        return decide_retire(actor, state, entry_id, base, effective_from, reason)

    return _write(session, actor, _of_entry(actor, entry_id), decide)


def reinstate_system(
    session: Session,
    actor: Actor,
    system: AISystem,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
    gate: PromotionGate | None = None,
) -> EntryVersion:
    """Bring back a system whose profile is retired: the profile's next version, after
    the retirement, is its last version before it (action ``entry.reinstate``).

    A compliance officer's decision, like the retirement. 409 when the profile is not
    retired; 422 when ``effective_from`` is before the retirement took effect. A system
    that comes back in production passes ``gate``, as a promotion does.
    """
    if not may(actor, "govern"):  # refused before anything is read
        raise denied(actor, "govern", system.reference)
    base = check_base(base_version)
    reason = check_reason(reason)
    check_instant(effective_from, "effective_from")
    entry_id = session.scalar(
        sa.select(Entry.id).where(Entry.system_id == system.id, Entry.kind == "profile")
    )
    if entry_id is None:  # pragma: no cover - create_system always makes one
        raise NotFound(f"System {system.reference!r} has no profile.")

    def decide(state: State) -> Plan:
        return decide_reinstate(actor, state, base, effective_from, reason, utcnow())

    return _write(session, actor, _of_entry(actor, entry_id, _restoring), decide, gate)


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

    def decide(state: State) -> Plan:
        return decide_create_entry(actor, state, kind, body, effective_from, reason)

    return _write(session, actor, _of_system(actor, system.id, _naming(body, kind)), decide)


def create_system(
    session: Session,
    actor: Actor,
    profile: Any,
    *,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
) -> tuple[AISystem, EntryVersion]:
    """Register a new AI system with its first profile version."""
    if not may(actor, "create_system", on_system=False):
        raise denied(actor, "create_system")
    clean, data = validated("profile", profile)
    reason = check_reason(reason)
    check_instant(effective_from, "effective_from")

    def decide(state: State) -> Plan:
        return decide_create_system(actor, state, clean, data, effective_from, reason)

    version = _write(session, actor, _of_reference(clean["reference"]), decide)
    return version.entry.system, version


def patch_entry(
    session: Session,
    actor: Actor,
    entry_id: int,
    patch: Any,
    *,
    base_version: int,
    effective_from: dt.datetime | None = None,
    reason: str | None = None,
    gate: PromotionGate | None = None,
) -> tuple[EntryVersion, bool]:
    """Apply a JSON Merge Patch (RFC 7396) to version ``base_version`` of an entry and
    record the result as the entry's next version, decided as an update (every rule of
    an update applies, in its order of errors: :func:`decide_patch`).

    Returns the version and whether it was written now. A patch that leaves the
    head's body as it is (compared as the canonical bytes a version would store)
    writes nothing and returns the head, once the update's checks have passed (the
    actor's right to write, the reason and the effective time among them). A patch
    based on another version than the head, or on one that does not exist, is refused
    as an update would be (412), even when it would change nothing; a retired entry
    cannot change (409).
    """
    base = check_base(base_version)
    entry_id = _entry_id(entry_id)
    version = session.scalar(
        sa.select(EntryVersion).where(
            EntryVersion.entry_id == entry_id, EntryVersion.number == base
        )
    )
    body = None  # nothing to apply the patch to: refused as an update on that base is
    if version is not None and not version.tombstone:
        try:
            body = json_merge_patch.merge(json.loads(version.body), patch)
        except RecursionError:  # deeper than any body of any kind can be
            raise InvalidInput(
                "The patch is not valid.", {"_schema": ["Nested too deeply."]}
            ) from None

    written = _update_unless_same(
        session, actor, entry_id, body, base, effective_from, reason, gate
    )
    if written is None:
        assert version is not None  # the head, which the patch leaves as it is
        return version, False
    return written, True
