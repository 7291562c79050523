"""The ledger's public keys (for anyone) and its verification status (for readers)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template
from flask_login import login_required

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.ledger.checkpoints import last_checkpoint, settings_of
from registry.ledger.status import shared_verification, verifier_keys
from registry.ledger.witnessing import (
    WitnessConfigError,
    parse_witnesses,
    refusal_line,
    refusals,
    witness_overview,
)
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
    try:
        witnesses, witness_error = (
            witness_overview(session, parse_witnesses(current_app.config["WITNESSES"])),
            None,
        )
    except WitnessConfigError as exc:
        witnesses, witness_error = [], f"REGISTRY_WITNESSES: {exc}"
    return render_template(
        "ledger/status.html",
        report=report,
        verified_at=verified_at,
        checkpoint=last_checkpoint(session),
        signer=signer,
        witnesses=witnesses,
        witness_error=witness_error,
        alarms=[refusal_line(row) for row in refusals(session)],
    )
