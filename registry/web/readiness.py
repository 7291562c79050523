"""The readiness scorecard page, and a compliance officer's approval of a promotion."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from registry.accounts.permissions import can, require
from registry.errors import NotFound
from registry.extensions import db_session
from registry.readiness import AREAS_BY_KEY, evaluate
from registry.readiness.approvals import approve_promotion
from registry.readiness.gate import PromotionRefused
from registry.records import display, reads
from registry.web.systems import current_actor

bp = Blueprint("readiness", __name__)

# The chart: one row per area, its title above a bar whose length is the share of the
# area's criteria met (partial counts half); the status is written after the bar, so
# colour is never the only signal. Sized for a phone screen (viewBox 360 wide).
BAR = {"width": 250, "height": 14, "label": 16, "gap": 12, "top": 4}
SHARE = {"met": 1.0, "partial": 0.5, "missing": 0.0}


def chart(scorecard: Any) -> dict[str, Any]:
    rows = []
    step = BAR["label"] + BAR["height"] + BAR["gap"]
    for i, area in enumerate(scorecard.areas):
        share = sum(SHARE[f.status] for f in area.findings) / len(area.findings)
        top = BAR["top"] + i * step
        rows.append(
            {
                "area": area,
                "label_y": top + BAR["label"] - 4,
                "y": top + BAR["label"],
                "status_y": top + BAR["label"] + BAR["height"] - 2,
                "length": max(2, round(share * BAR["width"])),
                "percent": round(share * 100),
            }
        )
    # "height" is the whole chart's (the viewBox's); a bar's own is "bar_height".
    return {
        **BAR,
        "rows": rows,
        "bar_height": BAR["height"],
        "height": BAR["top"] + len(rows) * step,
    }


def end_of_day(day: str) -> dt.datetime | None:
    """The end of ``day`` (YYYY-MM-DD) in UTC; None for an empty or bad value."""
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        return None
    return dt.datetime.combine(date, dt.time.max, dt.UTC)


@bp.route("/systems/<reference>/readiness")
@login_required
def scorecard(reference: str) -> Any:
    session = db_session()
    actor = current_actor()
    require(session, actor, "read")
    system = reads.get_system(session, reference)
    day = request.args.get("on", "").strip()
    at = end_of_day(day) if day else None
    error = "Not a valid date (YYYY-MM-DD)." if day and at is None else None
    now = dt.datetime.now(dt.UTC)
    when = min(at, now) if at else now
    if at is not None:
        try:
            reads.require_in_register(session, system, as_of=when, effective_at=when)
        except NotFound:  # before it was registered: nothing to score
            said = f"System {system.reference} was not registered on {display.date(at.date())}."
            return render_template(
                "readiness/scorecard.html", system=system, card=None, day=day, missing=said
            ), 404
    card = evaluate(session, system, when)
    return render_template(
        "readiness/scorecard.html",
        system=system,
        card=card,
        chart=chart(card),
        areas=AREAS_BY_KEY,
        day=day,
        error=error,
        past=at is not None and at < now,
        can_approve=can(session, actor, "approve", system) and at is None,
    ), (422 if error else 200)


@bp.route("/systems/<reference>/readiness/approve", methods=["POST"])
@login_required
def approve(reference: str) -> Any:
    session = db_session()
    actor = current_actor()
    system = reads.get_system(session, reference)
    require(session, actor, "approve", system)
    try:
        approve_promotion(session, actor, system, notes=request.form.get("notes") or None)
    except PromotionRefused as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        session.commit()
        flash("Promotion to production approved on today's evidence.", "info")
    return redirect(url_for("readiness.scorecard", reference=reference))
