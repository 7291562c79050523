"""The systems list and a system's page (read-only here; editing is the web UI's work)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.permissions import can, require
from registry.documents.models import DOCUMENT_TYPES
from registry.documents.service import documents_of
from registry.errors import InvalidInput, NotFound
from registry.extensions import db_session
from registry.ledger import trail
from registry.notifications.service import is_subscribed
from registry.readiness.overview import attention as attention_ranking
from registry.readiness.overview import recency
from registry.records import display, reads
from registry.records.kinds import KINDS, RISK_TIERS, STAGES, risk_tier
from registry.records.models import AISystem
from registry.records.search import count_of, count_systems, ordered_systems, page_of, rows_of
from registry.sheets import exporting as sheets
from registry.web import downloads
from registry.web.paging import Paging

bp = Blueprint("systems", __name__)
PAGE_SIZE = 50
PER_KIND = reads.PER_KIND  # entries of each kind on a system's page


def current_actor() -> Actor:
    return Actor.for_user(current_user)


def entry_refs(session: Session, system: AISystem) -> display.Refs:
    """How a page names the entries a body refers to (a review's procedure): the
    entry's kind and name, linked to its history; None for no such entry."""

    @functools.cache
    def resolve(entry_id: int) -> tuple[str, str | None] | None:
        try:
            entry = reads.get_entry(session, entry_id, system)
        except NotFound:
            return None
        name = display.entry_name(entry.kind, entry.id, reads.history(session, entry))
        address = url_for("history.history", reference=system.reference, entry_id=entry.id)
        return display.entry_reference(entry.kind, name, entry.id), address

    return resolve


SORTS = {
    "name": "name",
    "reference": "reference",
    "stage": "stage",
    "risk_tier": "risk tier",
    "changed": "last changed (newest first)",
    "attention": "needs attention first",
}
ATTENTION = {"not_ready": "not ready (not retired)"}


# Systems in the register, or only those whose profile is live, or only retired ones.
STATUSES = {"live": "in the register", "retired": "retired from the register"}


@bp.route("/systems")
@login_required
def index() -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    query = request.args.get("q", "").strip()[:200]
    stage = request.args.get("stage", "")[:40]
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    tier = request.args.get("tier", "")
    tier = tier if tier in RISK_TIERS else ""
    attention = request.args.get("attention", "")
    attention = attention if attention in ATTENTION else ""
    sort = request.args.get("sort", "")
    sort = sort if sort in SORTS else ("attention" if attention else "name")
    # The filters are the register's own (records.search), as in the API and the counts;
    # the list is sorted and paged in SQL, and only the page shown is read.
    ranked = changed_ranking = None
    now = dt.datetime.now(dt.UTC)
    if attention or sort == "attention":  # the dashboard's list, in its order
        ranked = attention_ranking(session, now)
    if sort == "changed":
        changed_ranking = recency(session, now)
    error = None
    try:
        listed = ordered_systems(
            session,
            sort=sort,
            ranked=ranked,
            only_ranked=bool(attention),
            changed=changed_ranking,
            q=query or None,
            stage=stage or None,
            risk_tier=tier or None,
            status=status or None,
            page=PAGE_SIZE,
        )
    except InvalidInput as exc:  # text no record can hold: nothing matches
        error, listed = exc.message, None
    fmt = request.args.get("format", "")
    if fmt in sheets.FORMATS:  # the whole list as filtered and sorted, not one page
        rows = rows_of(session, listed) if listed is not None else []
        return _spreadsheet(fmt, rows, trail.last_changed(session))
    register_count = count_systems(session)
    filtered = bool(query or stage or tier or status or attention)
    if listed is None:
        total = 0
    elif filtered:
        total = count_of(session, listed)
    else:  # the list is the register: counted once
        total = register_count.systems
    page = max(1, request.args.get("page", 1, type=int) or 1)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    paging = Paging(page, pages)
    shown = (
        page_of(session, listed, (page - 1) * PAGE_SIZE, PAGE_SIZE, total)
        if listed is not None
        else []
    )
    changed = trail.last_changed(session, [r.system.id for r in shown])
    return render_template(
        "systems/index.html",
        rows=shown,
        total=total,
        register_count=register_count,
        filtered=filtered,
        error=error,
        attention=attention,
        attentions=ATTENTION,
        can_export=can(session, current_actor(), "export"),
        page=page,
        pages=pages,
        paging=paging,
        q=query,
        stage=stage,
        status=status,
        statuses=STATUSES,
        tier=tier,
        sort=sort,
        stages=STAGES,
        tiers=RISK_TIERS,
        sorts=SORTS,
        changed=changed,
        can_create=can(session, current_actor(), "create_system"),
    )


SHEET_HEADER = (
    "Reference",
    "Name",
    "Stage",
    "Risk tier",
    "Role",
    "Organisation",
    "Retired",
    "Last changed (UTC)",
)


def _spreadsheet(fmt: str, rows: list[Any], changed: dict[int, Any]) -> Response:
    """The systems list as CSV or XLSX (formula injection neutralised)."""
    lines = (
        (
            r.system.reference,
            r.profile.get("name"),
            r.profile.get("stage"),
            risk_tier(r.profile),
            r.profile.get("role"),
            r.profile.get("organisation"),
            "yes" if r.retired else "no",
            changed[r.system.id].isoformat() if changed.get(r.system.id) else "",
        )
        for r in rows
    )
    return downloads.sheet(fmt, "Systems", SHEET_HEADER, lines, "systems")


ENTRY_COLUMNS = (
    "System",
    "Entry",
    "Name",
    "Version",
    "Effective from (UTC)",
    "Recorded at (UTC)",
    "Author",
)


def _entries_sheet(
    session: Session, fmt: str, system: AISystem, entries: list[Any], kind: str
) -> Response:
    """A system's live entries of one kind as CSV or XLSX: who and when, then each field
    of the kind as the page shows it (formula injection neutralised)."""
    names = [n for n in KINDS[kind].schema().fields if n != "attachments"] + ["attachments"]
    refs = entry_refs(session, system)
    lines = []
    for e in sorted(entries, key=lambda e: e.entry_id):
        shown = {f.name: f.text for f in display.fields_of(kind, e.body, refs=refs, names=names)}
        lines.append(
            (
                system.reference,
                e.entry_id,
                e.label,
                e.version.number,
                e.version.effective_from.isoformat(),
                e.version.recorded_at.isoformat(),
                e.version.author,
                *(shown.get(n, "") for n in names),
            )
        )
    header = (*ENTRY_COLUMNS, *(display.path_label(n) for n in names))
    return downloads.sheet(fmt, KINDS[kind].title, header, lines, f"{system.reference}-{kind}")


@bp.route("/systems/<reference>")
@login_required
def show(reference: str) -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    state = reads.system_state(session, system)
    # A system with thousands of entries: the first of each kind, then page by page
    # (?kind=…&after=<entry id>, keyset) for one kind.
    only = request.args.get("kind", "")
    if only and only not in KINDS:
        raise NotFound(f"No entry kind {only!r}.")
    fmt = request.args.get("format", "")
    if fmt in sheets.FORMATS:  # every entry of the kind, not one page
        if not only:
            raise InvalidInput(
                "Choose the kind of entries to download.", {"kind": ["Choose a kind."]}
            )
        return _entries_sheet(session, fmt, system, state.of_kind(only), only)
    after = request.args.get("after", 0, type=int) or 0
    entries = [e for e in state.entries if not only or (e.kind == only and e.entry_id > after)]
    page = reads.first_of_each_kind(entries, lambda e: e.kind, lambda e: e.entry_id, PER_KIND)
    can_write = can(session, current_actor(), "write", system)
    can_approve = can(session, current_actor(), "approve", system)
    retired = reads.retired_profile(session, system)
    return render_template(
        "systems/show.html",
        state=state,
        retired=retired,
        last_profile=json.loads(retired[2].body) if retired else None,
        can_govern=can(session, current_actor(), "govern", system),
        kinds={k: v for k, v in KINDS.items() if not only or k == only},
        page=page,
        only=only,
        can_write=can_write,
        can_approve=can_approve,
        can_export=can(session, current_actor(), "export"),
        refs=entry_refs(session, system),
        documents=documents_of(session, system.id),
        document_types=DOCUMENT_TYPES,
        following=is_subscribed(session, current_actor(), system),
    )
