"""Queueing notifications: who is told of each due item and of each change the ledger
records, in the outbox, once per item, recipient and channel.

The scan reads; it never runs inside a write. Record changes are read from the ledger
after a stored cursor (``notify_cursor``), so a write does no notification work at all,
and a change the scan has not reached yet is found by the next one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.models import User, UserRole
from registry.accounts.permissions import actor_keys, roles_named
from registry.db import ANALYZE_AFTER, analyze, json_table
from registry.ledger.models import AuditEvent
from registry.notifications import due_list
from registry.notifications.addresses import ANY, AddressPolicy, modes, normalise
from registry.notifications.due import AHEAD, DueItem
from registry.notifications.models import (
    NotificationPreference,
    NotifyCursor,
    OutboxMessage,
    SystemSubscription,
    WebhookSubscription,
)
from registry.readiness import projection
from registry.records.models import Entry, EntryVersion
from registry.records.reads import in_force

# The owner roles told of their systems' due items (a DPO is not, unless subscribed).
TOLD_OWNERS = frozenset({"business", "technical", "oversight"})
# What a webhook subscription may ask for.
EVENTS = {
    "record.changed": "Every change to a record (versions created, retired, reinstated)",
    "incident": "Incidents: recorded or changed, and their Art 73 deadlines",
    "due_item": "Every reminder: reviews, recertifications, expiries, deadlines",
    "readiness.changed": "A system in production that is no longer ready",
}
CURSOR = "ledger"
# Keys compared with the outbox per statement, and rows inserted per statement: each
# statement carries them as one JSON parameter, so its text is the same every time.
COMPARED = 10_000
INSERTED = 2_000
# The columns an outbox row carries in that parameter (the others are the same for
# every row of a chunk, and bound as they are).
CARRIED: tuple[tuple[str, Any], ...] = (
    ("key", sa.Text),
    ("channel", sa.Text),
    ("user_id", sa.Integer),
    ("webhook_id", sa.Integer),
    ("address", sa.Text),
    ("event_type", sa.Text),
    ("payload", sa.Text),
    ("n", sa.Integer),
)
BOUND = ("digest_day", "state", "attempts", "next_attempt_at", "created_at", "last_error")


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def unqueued(session: Session, keys: list[str]) -> set[str]:
    """The keys of ``keys`` no outbox row has: compared in SQL through the unique index,
    :data:`COMPARED` a statement, so only what is new comes back."""
    fresh: set[str] = set()
    for start in range(0, len(keys), COMPARED):
        candidate = json_table(session, keys[start : start + COMPARED], ())
        queued = sa.exists().where(OutboxMessage.key == candidate.c.value)
        fresh.update(session.scalars(sa.select(candidate.c.value).where(~queued)))
    return fresh


def enqueue(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping those whose key is queued already: the count new.
    The keys are compared with the outbox in SQL first (:func:`unqueued`), so a scan
    that finds everything queued writes nothing and reads back nothing; the new rows are
    inserted :data:`INSERTED` a statement, in their order, each statement still skipping
    a key another scan queued meanwhile (``ON CONFLICT DO NOTHING``). After queueing
    many, PostgreSQL's statistics of the outbox are refreshed (``ANALYZE``), so the next
    scan's comparisons go through the unique index."""
    if not rows:
        return 0
    fresh = unqueued(session, [r["key"] for r in rows])
    carried = [name for name, _type in CARRIED if name != "n"]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for n, row in enumerate(r for r in rows if r["key"] in fresh):
        fresh.discard(row["key"])  # a key twice in ``rows``: its first row
        bound = tuple((name, row[name]) for name in BOUND)
        groups[bound].append({**{name: row[name] for name in carried}, "n": n})
    insert = pg_insert if _postgresql(session) else sqlite_insert
    table = OutboxMessage.__table__
    new = 0
    for bound, found in groups.items():
        for start in range(0, len(found), INSERTED):
            c = json_table(session, found[start : start + INSERTED], CARRIED)
            select = sa.select(
                *(c.c[name] for name in carried),
                *(sa.literal(value, table.c[name].type) for name, value in bound),
            ).order_by(c.c.n)
            names = carried + [name for name, _value in bound]
            statement = (
                insert(table)
                .from_select(names, select)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(table.c.id)
            )
            new += len(session.execute(statement).all())
    if new >= ANALYZE_AFTER and _postgresql(session):
        # Fresh statistics now, not at autovacuum's next round: with the table's old
        # ones the planner reads the whole outbox for each chunk of keys compared.
        analyze(session, table)
    return new


@dataclass(frozen=True)
class Recipients:
    """Who is told of a system's due items: by user id, and the addresses of owners who
    are not users."""

    officers: frozenset[int]
    owners: dict[int, set[int]]  # system id -> users named owner
    subscribers: dict[int, set[int]]  # system id -> subscribed users
    addresses: dict[int, set[str]]  # system id -> owners' addresses (not users')

    def of(self, system_id: int) -> set[int]:
        return (
            set(self.officers)
            | self.owners.get(system_id, set())
            | self.subscribers.get(system_id, set())
        )


def officers(session: Session) -> frozenset[int]:
    """The active users who are compliance officers: told of every system's due items."""
    return frozenset(
        session.scalars(
            sa.select(UserRole.user_id)
            .join(User, User.id == UserRole.user_id)
            .where(UserRole.role == "compliance_officer", User.is_active.is_(True))
        ).all()
    )


def named_systems(session: Session, actor: Actor, now: dt.datetime) -> set[int]:
    """The systems whose owner entries in force name ``actor`` on ``now``'s day in a role
    told of due items, as :func:`recipients` finds them for a user (``roles_named``),
    read from the readiness projection's owner index (``named_by``, the rule both
    apply) rather than every system's owner entries."""
    keys = actor_keys(actor)
    if not keys:
        return set()
    kept = projection.current(session, now)
    ids = [r["system_id"] for r in kept.rows(session, (), columns=("reference",), naming=keys)]
    return {i for i, roles in kept.roles(session, keys, ids).items() if roles & TOLD_OWNERS}


def recipients(
    session: Session,
    system_ids: Iterable[int] | None,
    on: dt.date,
    *,
    policy: AddressPolicy = ANY,
) -> Recipients:
    """Who is told of each system's due items: the active users who are compliance
    officers, business, technical or oversight owners the live owner entries name on
    ``on`` (by the permissions' rule, ``roles_named``) or the system's subscribers; and
    the addresses of such owners who are not users (``notifications.addresses``), unless
    ``policy`` refuses an address. What each asked for per kind is the caller's to read
    (``preferences``)."""
    every = list(session.scalars(sa.select(User)))
    users = {u.id: u for u in every if u.is_active}
    known = {u.email.casefold() for u in every}
    by_email = {u.email.casefold(): u for u in users.values()}
    officers_now = officers(session)
    owners: dict[int, set[int]] = defaultdict(set)
    addresses: dict[int, set[str]] = defaultdict(set)
    ids = list(system_ids) if system_ids is not None else None
    owner_bodies = in_force(ids, kinds=["owner"]).with_only_columns(
        Entry.system_id, EntryVersion.body
    )
    for system_id, body in session.execute(owner_bodies):
        person = json.loads(body).get("person") or {}
        address = normalise(str(person.get("email") or ""))
        candidates = {users.get(person.get("user_id")), by_email.get(address)}
        for user in candidates - {None}:
            assert user is not None
            if roles_named(Actor.for_user(user), [body], on=on) & TOLD_OWNERS:
                owners[system_id].add(user.id)
        if person.get("user_id") is None and address not in known and policy.allows(address):
            owner = Actor(label=f"owner:{address}", roles=frozenset(), email=address)
            if roles_named(owner, [body], on=on) & TOLD_OWNERS:
                addresses[system_id].add(address)
    subscribers: dict[int, set[int]] = defaultdict(set)
    for user_id, system_id in session.execute(
        sa.select(SystemSubscription.user_id, SystemSubscription.system_id)
    ):
        if user_id in users:
            subscribers[system_id].add(user_id)
    return Recipients(officers_now, dict(owners), dict(subscribers), dict(addresses))


def preferences(session: Session) -> dict[tuple[int | str, str], str]:
    """What each user (by id) and each owner's address asked for, by kind: no entry,
    e-mail at once."""
    chosen: dict[tuple[int | str, str], str] = {
        (user_id, kind): mode
        for user_id, kind, mode in session.execute(
            sa.select(
                NotificationPreference.user_id,
                NotificationPreference.kind,
                NotificationPreference.mode,
            )
        )
    }
    chosen.update(modes(session))
    return chosen


def due_events(item: DueItem) -> set[str]:
    """The webhook events a due item is sent for."""
    events = {"due_item"}
    if item.kind == "incident_deadline":
        events.add("incident")
    if item.kind == "readiness_lost":
        events.add("readiness.changed")
    return events


def _hooks(session: Session) -> list[WebhookSubscription]:
    return list(
        session.scalars(sa.select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))
    )


def _matches(hook: WebhookSubscription, system_id: int | None, events: set[str]) -> bool:
    return (hook.system_id is None or hook.system_id == system_id) and bool(hook.event_set & events)


@dataclass(frozen=True)
class Scan:
    items: int
    queued: int
    changes: int


def due_rows(
    session: Session, now: dt.datetime, *, ahead: dt.timedelta = AHEAD, policy: AddressPolicy = ANY
) -> tuple[int, list[dict[str, Any]]]:
    """What the scan queues, read only: a reminder of every item due as of ``now`` (the
    kept list of due items, as "My tasks" reads it: ``due_list.current``) for each
    recipient (a user, or an owner who is not a user as ``policy`` permits, by their
    preference for its kind: e-mail at once, the day's digest, or nothing) and each
    webhook subscribed to it: (items found, outbox rows)."""
    items = due_list.current(session, now, ahead).page(session)
    told = recipients(session, None, now.date(), policy=policy)
    prefs = preferences(session)
    hooks = _hooks(session)
    rows: list[dict[str, Any]] = []
    for item in items:
        payload = json.dumps({"type": f"due_item.{item.kind}", "data": item.to_dict()})
        event_type = f"due_item.{item.kind}"
        digest_day = now.date()
        recipients_of: list[tuple[str, int | str]] = [
            (f"user:{user_id}", user_id) for user_id in sorted(told.of(item.system_id))
        ]
        recipients_of += [
            (f"address:{address}", address)
            for address in sorted(told.addresses.get(item.system_id, ()))
        ]
        for name, recipient in recipients_of:
            mode = prefs.get((recipient, item.kind), "email")
            if mode == "none":
                continue
            rows.append(
                _row(
                    f"{item.key}|{name}|{mode}",
                    mode,
                    event_type,
                    payload,
                    now,
                    user_id=recipient if isinstance(recipient, int) else None,
                    address=recipient if isinstance(recipient, str) else None,
                    digest_day=digest_day if mode == "digest" else None,
                )
            )
        events = due_events(item)
        for hook in hooks:
            if _matches(hook, item.system_id, events):
                rows.append(
                    _row(
                        f"{item.key}|webhook:{hook.id}",
                        "webhook",
                        f"due_item.{item.kind}",
                        payload,
                        now,
                        webhook_id=hook.id,
                    )
                )
    return len(items), rows


def scan_due(
    read: Session,
    write: Session,
    now: dt.datetime,
    *,
    ahead: dt.timedelta = AHEAD,
    policy: AddressPolicy = ANY,
) -> tuple[int, int]:
    """Queue the reminders due as of ``now``: computed on ``read`` (on SQLite a deferred
    transaction, so writers are not held up while the register is scored), inserted on
    ``write``: (items found, messages newly queued)."""
    items, rows = due_rows(read, now, ahead=ahead, policy=policy)
    return items, enqueue(write, rows)


def _row(
    key: str,
    channel: str,
    event_type: str,
    payload: str,
    now: dt.datetime,
    *,
    user_id: int | None = None,
    webhook_id: int | None = None,
    digest_day: dt.date | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    return {
        "key": key,
        "channel": channel,
        "user_id": user_id,
        "webhook_id": webhook_id,
        "address": address,
        "event_type": event_type,
        "payload": payload,
        "digest_day": digest_day,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "last_error": "",
    }


def change_events(event: dict[str, Any]) -> set[str]:
    """The webhook events a ledger event about a record is sent for."""
    if not str(event.get("action", "")).startswith(("entry.", "system.")):
        return set()
    events = {"record.changed"}
    if event.get("kind") == "incident":
        events.add("incident")
    return events


def scan_changes(session: Session, now: dt.datetime, *, limit: int = 10_000) -> int:
    """Queue a webhook message for each record change the ledger recorded after the
    cursor (at most ``limit``), and move the cursor on: the messages newly queued. The
    first scan starts at the ledger's head (no flood of history)."""
    cursor = session.get(NotifyCursor, CURSOR)
    if cursor is None:
        head = session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
        session.add(NotifyCursor(name=CURSOR, seq=head))
        session.flush()
        return 0
    hooks = _hooks(session)
    rows: list[dict[str, Any]] = []
    last = cursor.seq
    for seq, raw in session.execute(
        sa.select(AuditEvent.seq, AuditEvent.event)
        .where(AuditEvent.seq > cursor.seq)
        .order_by(AuditEvent.seq)
        .limit(limit)
    ):
        last = seq
        if not hooks:
            continue
        event = json.loads(raw)
        events = change_events(event)
        if not events:
            continue
        data = {
            "seq": seq,
            "action": event.get("action"),
            "system": event.get("system"),
            "entry_id": event.get("entry_id"),
            "kind": event.get("kind"),
            "version": event.get("version"),
            "actor": event.get("actor"),
            "recorded_at": event.get("recorded_at"),
        }
        kind = "incident.changed" if "incident" in events else "record.changed"
        payload = json.dumps({"type": kind, "data": data})
        for hook in hooks:
            if _matches(hook, event.get("system_id"), events):
                rows.append(
                    _row(
                        f"event:{seq}|webhook:{hook.id}",
                        "webhook",
                        kind,
                        payload,
                        now,
                        webhook_id=hook.id,
                    )
                )
    cursor.seq = last
    session.flush()
    return enqueue(session, rows)


def scan(
    read: Session,
    write: Session,
    now: dt.datetime,
    *,
    ahead: dt.timedelta = AHEAD,
    policy: AddressPolicy = ANY,
) -> Scan:
    """Both scans: the reminders due as of ``now`` (computed on ``read``) and the changes
    since the cursor (on ``write``, which takes the queued rows)."""
    items, queued = scan_due(read, write, now, ahead=ahead, policy=policy)
    changes = scan_changes(write, now)
    return Scan(items, queued, changes)
