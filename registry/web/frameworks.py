"""The framework catalogues as pages: the list, one catalogue's items, one item with
the readiness criteria and entry kinds that evidence it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import login_required

from registry.accounts.permissions import require
from registry.applicability import coverage
from registry.extensions import db_session
from registry.frameworks.catalogue import ISO_42001, catalogue, catalogues, crosswalk
from registry.readiness import AREAS_BY_KEY
from registry.records import reads
from registry.records.kinds import KINDS
from registry.sheets import exporting as sheets
from registry.web import downloads
from registry.web.readiness import end_of_day
from registry.web.systems import current_actor

bp = Blueprint("frameworks", __name__)


def _criteria_titles() -> dict[str, str]:
    return {c.key: f"{a.title}: {c.title}" for a in AREAS_BY_KEY.values() for c in a.criteria}


@bp.route("/frameworks")
@login_required
def index() -> str:
    require(db_session(), current_actor(), "read")
    return render_template("frameworks/index.html", catalogues=list(catalogues().values()))


@bp.route("/frameworks/<framework>")
@login_required
def show(framework: str) -> str:
    require(db_session(), current_actor(), "read")
    found = catalogue(framework)
    return render_template("frameworks/show.html", catalogue=found, crosswalk=crosswalk())


@bp.route("/frameworks/<framework>/items/<item>")
@login_required
def item(framework: str, item: str) -> str:
    require(db_session(), current_actor(), "read")
    found = catalogue(framework)
    chosen = found.item(item)
    walk = crosswalk()
    titles = _criteria_titles()
    return render_template(
        "frameworks/item.html",
        catalogue=found,
        item=chosen,
        parent=found.item(chosen.parent) if chosen.parent else None,
        children=found.children(chosen.id),
        criteria=[(key, titles[key]) for key in walk.criteria_of(chosen)],
        kinds=[(key, KINDS[key].title) for key in walk.kinds_of(chosen)],
    )


def _as_of() -> tuple[dt.datetime, str, str | None, bool]:
    """The instant a page shows (the end of the ``on`` day, UTC; now without one), the
    day as given, the error for a bad one, and whether it is in the past."""
    day = request.args.get("on", "").strip()[:20]
    at = end_of_day(day) if day else None
    now = dt.datetime.now(dt.UTC)
    error = "Not a valid date (YYYY-MM-DD)." if day and at is None else None
    return (min(at, now) if at else now), day, error, at is not None and at < now


@bp.route("/systems/<reference>/frameworks")
@login_required
def system_coverage(reference: str) -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    at, day, error, past = _as_of()
    found = coverage.assess(session, system, at)
    fmt = request.args.get("format", "")
    if fmt in sheets.FORMATS and not error:
        return _coverage_sheet(fmt, found)
    return render_template(
        "frameworks/coverage.html",
        system=system,
        coverage=found,
        catalogues=list(catalogues().values()),
        day=day,
        error=error,
        past=past,
    ), (422 if error else 200)


COVERAGE_HEADER = (
    "Framework",
    "Item",
    "Title",
    "Applies",
    "Decided",
    "Justification",
    "Status",
    "Implemented by",
)


def _coverage_sheet(fmt: str, found: coverage.SystemCoverage) -> Response:
    """A system's coverage (its Statements of Applicability) as CSV or XLSX."""
    lines = (
        (
            row.item.catalogue,
            row.item.ref,
            row.item.title,
            "yes" if row.applicable else "no",
            "yes" if row.decision else "no",
            row.decision.body["justification"] if row.decision else row.proposal.reason,
            row.status,
            ", ".join(
                f"{e['kind']} {e['entry_id']} v{e['version']}" for e in row.to_dict()["evidence"]
            ),
        )
        for row in found.items
    )
    return downloads.sheet(fmt, "Coverage", COVERAGE_HEADER, lines, f"coverage-{found.reference}")


@bp.route("/frameworks/iso-42001/statement-of-applicability")
@login_required
def organisation_statement() -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    at, day, error, past = _as_of()
    statement = coverage.organisation_statement(session, at)
    fmt = request.args.get("format", "")
    if fmt in sheets.FORMATS and not error:
        return _statement_sheet(fmt, statement)
    return render_template(
        "frameworks/statement.html",
        catalogue=catalogue(ISO_42001),
        statement=statement,
        day=day,
        error=error,
        past=past,
    ), (422 if error else 200)


STATEMENT_HEADER = (
    "Control",
    "Title",
    "Applies",
    "Status",
    "System",
    "Applies to the system",
    "Status for the system",
    "Justification",
    "Implemented by",
)


def _evidence(found: list[dict[str, Any]]) -> str:
    return ", ".join(f"{e['kind']} {e['entry_id']} v{e['version']}" for e in found)


def _statement_sheet(fmt: str, statement: dict[str, Any]) -> Response:
    """The organisation's Statement of Applicability as CSV or XLSX: a row per control
    and system in scope (one row for a control when no system is), as the page shows it."""
    lines = []
    for row in statement["items"]:
        control = (row["item"], row["title"], "yes" if row["applicable"] else "no", row["status"])
        per_system = row["systems"] or [None]
        for s in per_system:
            lines.append(
                control
                + (
                    (
                        s["system"],
                        "yes" if s["applicable"] else "no",
                        s["status"],
                        s["justification"],
                        _evidence(s["implemented_by"]),
                    )
                    if s
                    else ("", "", "", "", "")
                )
            )
    return downloads.sheet(
        fmt,
        "Statement of Applicability",
        STATEMENT_HEADER,
        lines,
        "iso-42001-statement-of-applicability",
    )
