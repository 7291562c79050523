"""The audit trail as people read it: the ledger's events, newest first, filtered (by
system, actor, action and dates) and paged by ``seq`` (keyset pagination, with page
numbers from counts of the matches bounded to a few pages either side); and the
actions the ledger holds. Every filter is answered in SQL, on the columns stored
beside each event's bytes (``system_id``, ``action``, ``actor``, ``recorded_at``:
``verify`` checks each against the bytes), never by matching the bytes. Also each
system's last change, and the signed checkpoints as listed."""

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

PAGE_SIZE = 50


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
            rows = session.scalars(
                sa.select(AuditEvent.action)
                .distinct()
                .where(
                    AuditEvent.seq > last, AuditEvent.seq <= head, AuditEvent.action.is_not(None)
                )
            )
            actions.update(rows)
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


def _statement(filters: Filters, system_id: int | None, dialect: str) -> sa.Select[Any]:
    """The matching events, newest first: every filter in SQL, on the columns stored
    beside the bytes (``verify`` checks them against the bytes): the system's and the
    action's by index."""
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
    if filters.action.endswith(".*"):
        # Every action starting "prefix.": the range ["prefix.", "prefix/") of the
        # index, compared as the column's bytes on both engines ("/" follows ".").
        prefix = filters.action[:-1]
        stmt = stmt.where(AuditEvent.action >= prefix, AuditEvent.action < prefix[:-1] + "/")
    elif filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.actor:
        # Part of the actor, case as given (SQLite's LIKE would ignore ASCII case).
        stmt = stmt.where(_contains(dialect, AuditEvent.actor, filters.actor))
    return stmt


def _contains(dialect: str, column: Any, part: str) -> sa.ColumnElement[bool]:
    """Whether ``part`` occurs in ``column`` (case-sensitive on both engines)."""
    found = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    return found(column, part) > 0


def search(
    session: Session, filters: Filters, system_id: int | None, before: int | None
) -> tuple[list[Row], int | None]:
    """Up to a page of matching events older than ``before`` (all: None), newest first,
    and the ``before`` of the next page (None: no older events)."""
    stmt = _statement(filters, system_id, session.get_bind().dialect.name)
    if before is not None:
        stmt = stmt.where(AuditEvent.seq < before)
    found = []
    for seq, recorded_at, event_hash, raw in session.execute(stmt.limit(PAGE_SIZE + 1)):
        raw = bytes(raw)
        found.append(Row(seq, recorded_at, event_hash, json.loads(raw), raw.decode()))
    if len(found) > PAGE_SIZE:
        return found[:PAGE_SIZE], found[PAGE_SIZE - 1].seq
    return found, None


# Pages counted either side of the one shown: a page of the trail never counts more
# than this many pages of matches, so it costs the same however long the ledger is.
COUNTED_PAGES = 10


def _count(session: Session, stmt: sa.Select[Any], limit: int) -> int:
    """How many rows ``stmt`` matches, counting at most ``limit``."""
    counted = stmt.with_only_columns(AuditEvent.seq).limit(limit).subquery()
    return session.scalar(sa.select(sa.func.count()).select_from(counted)) or 0


def page_start(session: Session, filters: Filters, system_id: int | None, page: int) -> int:
    """The ``before`` cursor where page ``page`` (from 1, at most COUNTED_PAGES) of the
    matching events begins; BadQuery when there is no such page."""
    if page > COUNTED_PAGES:
        raise BadQuery(
            f"Pages up to {COUNTED_PAGES} are numbered: further on, follow 'Older events'."
        )
    stmt = _statement(filters, system_id, session.get_bind().dialect.name)
    skip = (page - 1) * PAGE_SIZE
    seq = session.scalar(stmt.with_only_columns(AuditEvent.seq).offset(skip).limit(1))
    if seq is None:
        raise BadQuery(f"There is no page {page} of these events.")
    return seq + 1


def paging(
    session: Session, filters: Filters, system_id: int | None, before: int | None
) -> tuple[int | None, int | None]:
    """(the number of the page that starts at ``before``, the number of pages), each
    None when more than COUNTED_PAGES pages lie that way: bounded counts (keyset pages
    go on with 'Older events')."""
    stmt = _statement(filters, system_id, session.get_bind().dialect.name)
    limit = COUNTED_PAGES * PAGE_SIZE + 1
    number: int | None = 1
    if before is not None:
        newer = _count(session, stmt.where(AuditEvent.seq >= before), limit)
        number = newer // PAGE_SIZE + 1 if newer < limit else None
    older = _count(session, stmt if before is None else stmt.where(AuditEvent.seq < before), limit)
    if number is None or older >= limit:
        return number, None
    return number, number + max(0, -(-older // PAGE_SIZE) - 1)


def last_changed(session: Session, system_ids: list[int] | None = None) -> dict[int, dt.datetime]:
    """The time of each system's latest ledger event (of those ``system_ids``, when
    given), by system id: the event's found in the index on (system_id, seq), and its
    row alone read (not every event of the system, for their times)."""
    latest = (
        sa.select(sa.func.max(AuditEvent.seq))
        .where(AuditEvent.system_id.is_not(None))
        .group_by(AuditEvent.system_id)
    )
    if system_ids is not None:
        if not system_ids:
            return {}
        latest = latest.where(AuditEvent.system_id.in_(system_ids))
    rows = session.execute(
        sa.select(AuditEvent.system_id, AuditEvent.recorded_at).where(AuditEvent.seq.in_(latest))
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
