"""The audit trail as people read it: the ledger's events, newest first, filtered (by
system, actor, action and dates) and paged by ``seq`` (keyset pagination, with page
numbers from a count of the matches); and the actions the ledger holds. Filters on the
event's fields are prefiltered in SQL on the canonical bytes and confirmed in Python, so
a request examines at most ``MAX_SCAN`` events. Also each system's last change, and the
signed checkpoints as listed."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.errors import NotFound
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.store import event_like

PAGE_SIZE = 50
BATCH = 500  # events read per query while filtering in Python
MAX_SCAN = 10_000  # events examined per request at most; then the page says so


class BadQuery(ValueError):
    """A filter that cannot be understood (the web shows it, status 400)."""


@dataclass(frozen=True)
class Filters:
    """What the trail is filtered by, as given: a system's reference, part of an actor,
    an action (or ``prefix.*``), and dates (YYYY-MM-DD, both days included)."""

    system: str = ""
    actor: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""

    def args(self) -> dict[str, str]:
        """The filters as query parameters (empty ones left out)."""
        names = {
            "system": self.system,
            "actor": self.actor,
            "action": self.action,
            "from": self.date_from,
            "to": self.date_to,
        }
        return {k: v for k, v in names.items() if v}


@dataclass(frozen=True)
class Row:
    """One event of the trail: its fields, and its canonical bytes as text."""

    seq: int
    recorded_at: dt.datetime
    event_hash: str
    fields: dict[str, Any]
    raw: str

    @property
    def action(self) -> str:
        return str(self.fields.get("action", ""))

    @property
    def actor(self) -> str:
        return str(self.fields.get("actor", ""))


# The actions present in each ledger, read once and then only from the events appended
# since: database URL -> (last seq read, actions).
_actions: dict[str, tuple[int, set[str]]] = {}
_actions_lock = threading.Lock()


def present_actions(session: Session) -> list[str]:
    """Every action the ledger holds, sorted, with ``<prefix>.*`` for each prefix that
    has more than one action."""
    url = session.get_bind().url.render_as_string(hide_password=True)
    head = session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    with _actions_lock:
        last, actions = _actions.get(url, (0, set()))
        if head < last:  # a different ledger at the same address
            last, actions = 0, set()
        if head > last:
            actions = set(actions)
            rows = session.execute(
                sa.select(AuditEvent.event).where(AuditEvent.seq > last, AuditEvent.seq <= head)
            )
            for (raw,) in rows:
                action = json.loads(bytes(raw)).get("action")
                if isinstance(action, str):
                    actions.add(action)
            _actions[url] = (head, actions)
    prefixes: dict[str, int] = {}
    for action in actions:
        if "." in action:
            prefix = action.rsplit(".", 1)[0]
            prefixes[prefix] = prefixes.get(prefix, 0) + 1
    groups = {f"{p}.*" for p, n in prefixes.items() if n > 1}
    return sorted(actions | groups)


def _date(name: str, value: str) -> dt.date | None:
    """The date ``value`` (YYYY-MM-DD) of the filter ``name``; None when empty."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{value!r} is not a date: use the form YYYY-MM-DD.") from None


def _like_part(text: str) -> bytes | None:
    """``text`` as it appears inside a canonical JSON string, for a LIKE pattern; None when
    it holds a backslash (an escape character on PostgreSQL). ``%`` and ``_`` are left as
    they are: they only widen the pattern, and every candidate is checked in Python."""
    inner = json.dumps(text, ensure_ascii=False)[1:-1]
    return None if "\\" in inner else inner.encode()


def _matches(fields: dict[str, Any], filters: Filters) -> bool:
    action = fields.get("action")
    if filters.action:
        if not isinstance(action, str):
            return False
        if filters.action.endswith(".*"):
            if not action.startswith(filters.action[:-1]):
                return False
        elif action != filters.action:
            return False
    if filters.actor:
        actor = fields.get("actor")
        if not isinstance(actor, str) or filters.actor not in actor:
            return False
    return True


def _statement(filters: Filters, system_id: int | None, dialect: str) -> sa.Select[Any]:
    stmt = sa.select(
        AuditEvent.seq, AuditEvent.recorded_at, AuditEvent.event_hash, AuditEvent.event
    ).order_by(AuditEvent.seq.desc())
    if system_id is not None:
        stmt = stmt.where(AuditEvent.system_id == system_id)
    start = _date("from", filters.date_from)
    end = _date("to", filters.date_to)
    if start and end and start > end:
        raise BadQuery("The 'from' date is after the 'to' date.")
    if start:
        stmt = stmt.where(
            AuditEvent.recorded_at >= dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
        )
    if end and end < dt.date.max:
        after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        stmt = stmt.where(AuditEvent.recorded_at < after)
    # Prefilters on the canonical bytes (keys sorted, no spaces): exact matches are
    # confirmed in Python.
    if filters.action:
        part = _like_part(filters.action.removesuffix("*"))
        if part is not None:
            close = b"" if filters.action.endswith(".*") else b'"'
            stmt = stmt.where(event_like(dialect, b'%"action":"' + part + close + b"%"))
    if filters.actor:
        part = _like_part(filters.actor)
        if part is not None:
            stmt = stmt.where(event_like(dialect, b'%"actor":"%' + part + b"%"))
    return stmt


def search(
    session: Session, filters: Filters, system_id: int | None, before: int | None
) -> tuple[list[Row], int | None, bool]:
    """Up to a page of matching events older than ``before`` (all: None), newest first;
    the ``before`` of the next page (None: no older events); whether the search stopped
    at ``MAX_SCAN`` events."""
    stmt = _statement(filters, system_id, session.get_bind().dialect.name)
    found: list[Row] = []
    scanned = 0
    cursor = before
    while True:
        query = stmt if cursor is None else stmt.where(AuditEvent.seq < cursor)
        batch = session.execute(query.limit(BATCH)).all()
        for seq, recorded_at, event_hash, raw in batch:
            scanned += 1
            cursor = seq
            raw = bytes(raw)
            fields = json.loads(raw)
            if not isinstance(fields, dict) or not _matches(fields, filters):
                continue
            if len(found) == PAGE_SIZE:
                return found, found[-1].seq, False
            found.append(Row(seq, recorded_at, event_hash, fields, raw.decode()))
        if len(batch) < BATCH:
            return found, None, False
        if scanned >= MAX_SCAN:
            return found, cursor, True


def _matches_in(
    session: Session, stmt: sa.Select[Any], filters: Filters, *, stop: int | None = None
) -> tuple[list[int], bool]:
    """The seqs of the events ``stmt`` selects that match the filters checked in Python,
    newest first, up to ``stop`` of them; and whether that is all of them (False when
    ``MAX_SCAN`` candidates were examined first)."""
    found: list[int] = []
    cursor = None
    scanned = 0
    while True:
        query = stmt if cursor is None else stmt.where(AuditEvent.seq < cursor)
        batch = session.execute(query.limit(BATCH)).all()
        for seq, _, _, raw in batch:
            scanned += 1
            cursor = seq
            fields = json.loads(bytes(raw))
            if isinstance(fields, dict) and _matches(fields, filters):
                found.append(seq)
                if stop is not None and len(found) >= stop:
                    return found, True
        if len(batch) < BATCH:
            return found, True
        if scanned >= MAX_SCAN:
            return found, False


def _count(session: Session, stmt: sa.Select[Any], filters: Filters) -> int | None:
    """How many events match (None: more than one request may examine)."""
    if not (filters.action or filters.actor):  # every filter is in SQL
        counted = stmt.with_only_columns(AuditEvent.seq).order_by(None).subquery()
        return session.scalar(sa.select(sa.func.count()).select_from(counted)) or 0
    found, complete = _matches_in(session, stmt, filters)
    return len(found) if complete else None


def page_start(session: Session, filters: Filters, system_id: int | None, page: int) -> int:
    """The ``before`` cursor where page ``page`` (from 1) of the matching events begins;
    BadQuery when there is no such page."""
    stmt = _statement(filters, system_id, session.get_bind().dialect.name)
    skip = (page - 1) * PAGE_SIZE
    if not (filters.action or filters.actor):
        seq = session.scalar(stmt.with_only_columns(AuditEvent.seq).offset(skip).limit(1))
    else:
        found, _ = _matches_in(session, stmt, filters, stop=skip + 1)
        seq = found[skip] if len(found) > skip else None
    if seq is None:
        raise BadQuery(f"There is no page {page} of these events.")
    return seq + 1


def paging(
    session: Session, filters: Filters, system_id: int | None, before: int | None
) -> tuple[int | None, int | None]:
    """(the number of matching events, the number of the page that starts at ``before``)."""
    stmt = _statement(filters, system_id, session.get_bind().dialect.name)
    total = _count(session, stmt, filters)
    if before is None:
        return total, 1
    newer = _count(session, stmt.where(AuditEvent.seq >= before), filters)
    return total, None if newer is None else newer // PAGE_SIZE + 1


def last_changed(session: Session) -> dict[int, dt.datetime]:
    """The time of each system's latest ledger event, by system id."""
    rows = session.execute(
        sa.select(AuditEvent.system_id, sa.func.max(AuditEvent.recorded_at))
        .where(AuditEvent.system_id.is_not(None))
        .group_by(AuditEvent.system_id)
    )
    return {system_id: when for system_id, when in rows}


def checkpoints(
    session: Session, limit: int, *, after: int | None = None, as_of: dt.datetime | None = None
) -> list[Checkpoint]:
    """Up to ``limit`` signed checkpoints by tree size, of a tree larger than ``after``
    and made by ``as_of`` (when given)."""
    stmt = sa.select(Checkpoint).order_by(Checkpoint.tree_size).limit(limit)
    if after is not None:
        stmt = stmt.where(Checkpoint.tree_size > after)
    if as_of is not None:
        stmt = stmt.where(Checkpoint.created_at <= as_of)
    return list(session.scalars(stmt))


def latest_checkpoint(session: Session, as_of: dt.datetime | None = None) -> Checkpoint:
    """The largest signed checkpoint (made by ``as_of``, when given); NotFound if none."""
    stmt = sa.select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1)
    if as_of is not None:
        stmt = stmt.where(Checkpoint.created_at <= as_of)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound("No checkpoint has been signed yet.")
    return row
