"""The dashboard: what needs a compliance officer's attention across the register."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template
from flask_login import login_required

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.readiness.overview import describe, overview
from registry.records.search import SystemCount
from registry.web.systems import current_actor

bp = Blueprint("dashboard", __name__)
SHOWN_GAPS = 50  # the rows of each list here (systems not ready: the systems list has them all)


@bp.route("/dashboard")
@login_required
def index() -> str:
    session = db_session()
    require(session, current_actor(), "read")
    now = dt.datetime.now(dt.UTC)
    view = overview(session, now, shown=SHOWN_GAPS)
    return render_template(
        "dashboard/index.html",
        view=view,
        # Every listed system is counted once by stage and tier, retired ones (out of
        # use or retired from the register) under "retired" (search.listed_stage, the
        # rule of the systems list's stage filter): count_systems's figures, read from
        # the projection rather than from every profile.
        count=SystemCount(
            sum(view.by_stage_and_tier.values()),
            sum(n for (stage, _tier), n in view.by_stage_and_tier.items() if stage == "retired"),
        ),
        shown_gaps=SHOWN_GAPS,
        now=now,
        describe=describe,
    )
