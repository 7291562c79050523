"""The audit trail: the ledger's events for readers, newest first, filtered and paged
by ``seq`` (keyset pagination)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from flask_login import login_required
from sqlalchemy.orm import Session

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.ledger.models import AuditEvent
from registry.ledger.store import event_like
from registry.records.models import AISystem
from registry.text import text_problem
from registry.web.paging import Paging
from registry.web.systems import current_actor

bp = Blueprint("audit", __name__)

PAGE_SIZE = 50
BATCH = 500  # events read per query while filtering in Python
MAX_SCAN = 10_000  # events examined per request at most; then the page says so
MAX_PARAM = 40
MAX_TEXT = 200
MAX_SEQ = 2**63 - 1
ACTION_FORMAT = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?")


class BadQuery(ValueError):
    """A filter that cannot be understood: shown on the page, status 400."""


@dataclass(frozen=True)
class Filters:
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


def _text(name: str, limit: int) -> str:
    value = request.args.get(name, "").strip()
    if problem := text_problem(value):
        raise BadQuery(f"The {name} filter is not valid: {problem}")
    if len(value) > limit:
        raise BadQuery(f"The {name} filter is too long (at most {limit} characters).")
    return value


def _date(name: str, value: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadQuery(f"{value!r} is not a date: use the form YYYY-MM-DD.") from None


def _before() -> int | None:
    raw = request.args.get("before", "").strip()
    if not raw:
        return None
    if len(raw) > MAX_PARAM or not raw.isascii() or not raw.isdigit() or int(raw) > MAX_SEQ:
        raise BadQuery("'before' must be the number of an event.")
    return int(raw)


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


def _search(
    session: Session, filters: Filters, system_id: int | None, before: int | None
) -> tuple[list[Row], int | None, bool]:
    """Up to a page of matching events older than ``before``; the ``before`` of the next
    page (None: no older events); whether the search stopped at ``MAX_SCAN`` events."""
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


def _page_start(session: Session, stmt: sa.Select[Any], filters: Filters, page: int) -> int:
    """The ``before`` cursor where page ``page`` (from 1) begins."""
    skip = (page - 1) * PAGE_SIZE
    if not (filters.action or filters.actor):
        seq = session.scalar(stmt.with_only_columns(AuditEvent.seq).offset(skip).limit(1))
    else:
        found, _ = _matches_in(session, stmt, filters, stop=skip + 1)
        seq = found[skip] if len(found) > skip else None
    if seq is None:
        raise BadQuery(f"There is no page {page} of these events.")
    return seq + 1


def _paging(
    session: Session, filters: Filters, system_id: int | None, before: int | None
) -> tuple[int | None, int | None]:
    """(the number of matching events, the number of the page that starts at ``before``)."""
    stmt = _statement(filters, system_id, session.get_bind().dialect.name)
    total = _count(session, stmt, filters)
    if before is None:
        return total, 1
    newer = _count(session, stmt.where(AuditEvent.seq >= before), filters)
    return total, None if newer is None else newer // PAGE_SIZE + 1


def _page_number() -> int | None:
    raw = request.args.get("page", "").strip()
    if not raw:
        return None
    if len(raw) > MAX_PARAM or not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise BadQuery("'page' must be a page number: 1, 2, 3 …")
    return int(raw)


@bp.route("/audit")
@login_required
def index() -> tuple[str, int]:
    session = db_session()
    require(session, current_actor(), "read")
    context: dict[str, Any] = {
        "filters": Filters(),
        "rows": [],
        "next_before": None,
        "partial": False,
        "before": None,
        "error": None,
        "actions": present_actions(session),
        "paging": None,
    }
    try:
        filters = Filters(
            system=_text("system", 100),
            actor=_text("actor", MAX_TEXT),
            action=_text("action", 100),
            date_from=_text("from", MAX_PARAM),
            date_to=_text("to", MAX_PARAM),
        )
        context["filters"] = filters
        if filters.action and not ACTION_FORMAT.fullmatch(filters.action):
            raise BadQuery(f"{filters.action!r} is not an action such as entry.create.")
        before = _before()
        context["before"] = before
        system_id = None
        if filters.system:
            system_id = session.scalar(
                sa.select(AISystem.id).where(AISystem.reference == filters.system)
            )
            if system_id is None:
                context["error"] = f"No system with reference {filters.system!r}."
                return render_template("audit/index.html", **context), 404
        wanted = _page_number()
        if wanted is not None:
            dialect = session.get_bind().dialect.name
            stmt = _statement(filters, system_id, dialect)
            before = None if wanted == 1 else _page_start(session, stmt, filters, wanted)
            context["before"] = before
        total, number = _paging(session, filters, system_id, before)
        if total is not None and number is not None:
            context["paging"] = Paging(number, max(1, -(-total // PAGE_SIZE)))
        rows, next_before, partial = _search(session, filters, system_id, before)
    except BadQuery as exc:
        context["error"] = str(exc)
        return render_template("audit/index.html", **context), 400
    context.update(rows=rows, next_before=next_before, partial=partial)
    return render_template("audit/index.html", **context), 200
