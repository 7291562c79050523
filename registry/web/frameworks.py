"""The framework catalogues as pages: the list, one catalogue's items, one item with
the readiness criteria and entry kinds that evidence it."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.frameworks.catalogue import catalogue, catalogues, crosswalk
from registry.readiness import AREAS_BY_KEY
from registry.records.kinds import KINDS
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
