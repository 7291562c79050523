"""The audit trail page: the filters and the page asked for, read from the query; the
events from ``ledger.trail``."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import login_required

from registry.accounts.permissions import require
from registry.errors import NotFound
from registry.extensions import db_session
from registry.ledger import trail
from registry.ledger.trail import BadQuery, Filters
from registry.records import reads
from registry.sheets import exporting as sheets
from registry.text import text_problem
from registry.web import downloads
from registry.web.paging import Paging
from registry.web.systems import current_actor

bp = Blueprint("audit", __name__)

MAX_PARAM = 40
MAX_TEXT = 200
MAX_SEQ = 2**63 - 1
ACTION_FORMAT = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?")


def _text(name: str, limit: int) -> str:
    value = request.args.get(name, "").strip()
    if problem := text_problem(value):
        raise BadQuery(f"The {name} filter is not valid: {problem}")
    if len(value) > limit:
        raise BadQuery(f"The {name} filter is too long (at most {limit} characters).")
    return value


def _before() -> int | None:
    raw = request.args.get("before", "").strip()
    if not raw:
        return None
    if len(raw) > MAX_PARAM or not raw.isascii() or not raw.isdigit() or int(raw) > MAX_SEQ:
        raise BadQuery("'before' must be the number of an event.")
    return int(raw)


def _page_number() -> int | None:
    raw = request.args.get("page", "").strip()
    if not raw:
        return None
    if len(raw) > MAX_PARAM or not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise BadQuery("'page' must be a page number: 1, 2, 3 …")
    return int(raw)


SHEET_HEADER = (
    "Seq",
    "Recorded at (UTC)",
    "Action",
    "System",
    "Actor",
    "Entry",
    "Version",
    "Event SHA-256",
)
MAX_SHEET_ROWS = 100_000


def _spreadsheet(session: Any, fmt: str, filters: Filters, system_id: int | None) -> Response:
    """Every event matching the filters (newest first, at most MAX_SHEET_ROWS), as CSV
    or XLSX with formula injection neutralised."""
    lines: list[tuple[Any, ...]] = []
    before = None
    while len(lines) < MAX_SHEET_ROWS:
        rows, before = trail.search(session, filters, system_id, before)
        lines += [
            (
                r.seq,
                r.recorded_at.isoformat(),
                r.action,
                r.fields.get("system"),
                r.fields.get("actor"),
                r.fields.get("entry_id"),
                r.fields.get("version"),
                r.event_hash,
            )
            for r in rows
        ]
        if before is None:
            break
    return downloads.sheet(fmt, "Audit trail", SHEET_HEADER, lines[:MAX_SHEET_ROWS], "audit-trail")


@bp.route("/audit")
@login_required
def index() -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    context: dict[str, Any] = {
        "filters": Filters(),
        "rows": [],
        "next_before": None,
        "before": None,
        "error": None,
        "actions": trail.present_actions(session),
        "paging": None,
        "more_pages": False,
        "counted_pages": trail.COUNTED_PAGES,
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
            try:
                system_id = reads.get_system(session, filters.system).id
            except NotFound:
                context["error"] = f"No system with reference {filters.system!r}."
                return render_template("audit/index.html", **context), 404
        fmt = request.args.get("format", "")
        if fmt in sheets.FORMATS:
            return _spreadsheet(session, fmt, filters, system_id)
        wanted = _page_number()
        if wanted is not None:
            before = None if wanted == 1 else trail.page_start(session, filters, system_id, wanted)
            context["before"] = before
        number, pages = trail.paging(session, filters, system_id, before)
        if number is not None and pages is not None:
            context["paging"] = Paging(number, max(1, pages))
        context["more_pages"] = pages is None
        rows, next_before = trail.search(session, filters, system_id, before)
    except BadQuery as exc:
        context["error"] = str(exc)
        return render_template("audit/index.html", **context), 400
    context.update(rows=rows, next_before=next_before)
    return render_template("audit/index.html", **context), 200
