"""Read-only views of time: an entry's history, a diff of two versions, and a whole
system as it was at a past instant (as recorded then, or as in effect then)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.records import display, reads
from registry.records.diff import diff_bodies
from registry.records.kinds import KINDS
from registry.records.models import Entry, EntryVersion
from registry.web import forms
from registry.web.systems import current_actor, entry_refs

bp = Blueprint("history", __name__)

MODES = {
    "recorded": "as recorded then",
    "effective": "as in effect then",
}
MAX_PARAM = 40  # longer query values are refused before parsing
END_OF_DAY = dt.time.max.isoformat()  # what a date alone stands for


class BadQuery(ValueError):
    """A query parameter that cannot be understood: shown on the page, status 400."""


def _body(version: EntryVersion) -> dict[str, Any]:
    body = json.loads(version.body)
    return body if isinstance(body, dict) else {"(body)": body}


def _label(entry: Entry, versions: list[EntryVersion]) -> str:
    return display.entry_name(entry.kind, entry.id, versions)


def _version_number(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    raw = raw.strip()
    if len(raw) > MAX_PARAM or not raw.isascii() or not raw.isdigit():
        raise BadQuery(f"The {name!r} version must be a whole number such as 1 or 2.")
    return int(raw)


def _instant(date_text: str, time_text: str) -> dt.datetime:
    """The instant a date (end of that day, UTC) or a date and time (UTC unless the time
    names an offset) stands for."""
    if len(date_text) > MAX_PARAM or len(time_text) > MAX_PARAM:
        raise BadQuery("The date or time is too long.")
    try:
        dt.date.fromisoformat(date_text)
    except ValueError:
        raise BadQuery(f"{date_text!r} is not a date: use the form YYYY-MM-DD.") from None
    if time_text:
        try:
            dt.time.fromisoformat(time_text)
        except ValueError:
            raise BadQuery(
                f"{time_text!r} is not a time: use the form HH:MM or HH:MM:SS."
            ) from None
    try:
        instant = forms.form_instant(date_text, time_text, blank_time=END_OF_DAY)
    except ValueError as exc:
        raise BadQuery(f"That date and time {exc}.") from None
    assert instant is not None  # a date was given
    return instant


@bp.route("/systems/<reference>/entries/<int:entry_id>/history")
@login_required
def history(reference: str, entry_id: int) -> str:
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    entry = reads.get_entry(session, entry_id, system)
    versions = reads.history(session, entry)
    return render_template(
        "history/history.html",
        system=system,
        entry=entry,
        kind=KINDS.get(entry.kind),
        label=_label(entry, versions),
        versions=list(reversed(versions)),
        bodies={v.number: _body(v) for v in versions},
        refs=entry_refs(session, system),
    )


@bp.route("/systems/<reference>/entries/<int:entry_id>/diff")
@login_required
def diff(reference: str, entry_id: int) -> tuple[str, int]:
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    entry = reads.get_entry(session, entry_id, system)
    versions = reads.history(session, entry)
    by_number = {v.number: v for v in versions}
    head = entry.head_number
    context: dict[str, Any] = {
        "system": system,
        "entry": entry,
        "kind": KINDS.get(entry.kind),
        "label": _label(entry, versions),
        "versions": list(reversed(versions)),
        "refs": entry_refs(session, system),
        "error": None,
        "changes": None,
        "before": None,
        "after": None,
    }
    status = 200
    try:
        a = _version_number("from", request.args.get("from"), max(1, head - 1))
        b = _version_number("to", request.args.get("to"), head)
        context["a"], context["b"] = a, b
        missing = [n for n in (a, b) if n not in by_number]
        if missing:
            status = 404
            context["error"] = (
                f"Entry {entry.id} has no version {missing[0]}; its versions are 1 to {head}."
            )
        else:
            context["before"], context["after"] = by_number[a], by_number[b]
            context["changes"] = diff_bodies(_body(by_number[a]), _body(by_number[b]))
    except BadQuery as exc:
        status = 400
        context["error"] = str(exc)
        context["a"], context["b"] = max(1, head - 1), head
    return render_template("history/diff.html", **context), status


@bp.route("/systems/<reference>/as-of")
@login_required
def as_of(reference: str) -> tuple[str, int]:
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    date_text = request.args.get("date", "").strip()
    time_text = request.args.get("time", "").strip()
    mode = request.args.get("mode", "").strip() or "recorded"
    context: dict[str, Any] = {
        "system": system,
        "date": date_text[:MAX_PARAM],
        "time": time_text[:MAX_PARAM],
        "mode": mode if mode in MODES else "recorded",
        "modes": MODES,
        "kinds": KINDS,
        "refs": entry_refs(session, system),
        "error": None,
        "missing": False,
        "moment": None,
        "state": None,
        "late": [],
        "late_profile": None,
    }
    if not date_text:
        # Only the form: nothing chosen yet.
        return render_template("history/as_of.html", **context), 200
    try:
        if mode not in MODES:
            raise BadQuery("Choose whether to show the system as recorded or as in effect.")
        instant = _instant(date_text, time_text)
    except BadQuery as exc:
        context["error"] = str(exc)
        return render_template("history/as_of.html", **context), 400
    context["moment"] = instant
    # What was in effect at the instant, as known today: the entries of it recorded only
    # after the instant are what the record as of then could not show.
    effective = reads.system_state(session, system, effective_at=instant)
    context["late"] = [e for e in effective.entries if e.version.recorded_at > instant]
    context["late_profile"] = next((e for e in context["late"] if e.kind == "profile"), None)
    context["other_mode"] = {"date": date_text, "time": time_text or None}
    if mode == "recorded":
        state = reads.system_state(session, system, as_of=instant)
    else:
        state = effective
    if state.profile is None:
        context["missing"] = True
        return render_template("history/as_of.html", **context), 404
    context["state"] = state
    return render_template("history/as_of.html", **context), 200
