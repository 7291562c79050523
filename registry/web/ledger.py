"""The ledger's public keys (for anyone) and its verification status (for readers)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask_login import login_required

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.ledger.checkpoints import last_checkpoint, settings_of
from registry.ledger.status import shared_verification, verifier_keys
from registry.web.systems import current_actor

bp = Blueprint("ledger", __name__, url_prefix="/ledger")


@bp.route("/keys")
def keys() -> Response:
    """The verifier keys, one a line: the current signing key first. No login needed."""
    return Response(
        "".join(f"{line}\n" for line in verifier_keys(db_session())), mimetype="text/plain"
    )


@bp.route("/")
@login_required
def status() -> str:
    session = db_session()
    require(session, current_actor(), "read")
    signer = settings.signer if (settings := settings_of(session)) else None
    report, verified_at = shared_verification(session)
    return render_template(
        "ledger/status.html",
        report=report,
        verified_at=verified_at,
        checkpoint=last_checkpoint(session),
        signer=signer,
    )
