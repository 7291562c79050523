"""The ledger's public keys (for anyone) and its verification status (for readers)."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template
from flask_login import login_required

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.ledger.checkpoints import last_checkpoint
from registry.ledger.keys import KeyFileError, load_key
from registry.ledger.models import AuditEvent
from registry.ledger.store import verify_ledger
from registry.web.systems import current_actor

bp = Blueprint("ledger", __name__, url_prefix="/ledger")


def _signing_key():
    try:
        return load_key(Path(current_app.config["SIGNING_KEY_PATH"]))
    except KeyFileError:
        return None


def recorded_keys() -> list[str]:
    """Verifier keys recorded in the ledger's key events, oldest first."""
    rows = db_session().scalars(
        sa.select(AuditEvent.event)
        .where(AuditEvent.event.op("LIKE")(b'%"action":"key.%'))
        .order_by(AuditEvent.seq)
    )
    keys: list[str] = []
    for raw in rows:
        event = json.loads(raw)
        for name in ("previous_verifier_key", "verifier_key"):
            if event.get(name) and event[name] not in keys:
                keys.append(event[name])
    return keys


@bp.route("/keys")
def keys() -> Response:
    """The verifier keys, one a line: the current signing key first. No login needed."""
    signer = _signing_key()
    lines = [signer.verifier_key] if signer else []
    lines += [k for k in reversed(recorded_keys()) if k not in lines]
    return Response("".join(f"{line}\n" for line in lines), mimetype="text/plain")


@bp.route("/")
@login_required
def status() -> str:
    session = db_session()
    require(session, current_actor(), "read")
    signer = _signing_key()
    report = verify_ledger(session, [signer.verifier_key] if signer else [])
    return render_template(
        "ledger/status.html", report=report, checkpoint=last_checkpoint(session), signer=signer
    )
