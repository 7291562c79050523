"""The ledger's public keys (for anyone) and its verification status (for readers)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template
from flask_login import login_required

from registry.accounts.permissions import require
from registry.extensions import db_session
from registry.ledger.checkpoints import last_checkpoint
from registry.ledger.keys import KeyFileError, load_key
from registry.ledger.models import AuditEvent
from registry.ledger.store import ledger_head, verify_ledger
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


# The last verification, per database: (ledger head, monotonic time, verified at, report).
# Verifying a large ledger takes seconds; readers opening the page share one result
# while the ledger has not grown, for at most VERIFY_MAX_AGE seconds.
_last: dict[str, tuple[int, float, dt.datetime, Any]] = {}
_lock = threading.Lock()
VERIFY_MAX_AGE = 60.0


def _verification(session: Any, trusted: list[str]) -> tuple[Any, dt.datetime]:
    url = str(session.get_bind().url)
    head = ledger_head(session).seq
    with _lock:
        cached = _last.get(url)
        if cached and cached[0] == head and time.monotonic() - cached[1] < VERIFY_MAX_AGE:
            return cached[3], cached[2]
        report = verify_ledger(session, trusted)
        now = dt.datetime.now(dt.UTC)
        _last[url] = (head, time.monotonic(), now, report)
        return report, now


@bp.route("/")
@login_required
def status() -> str:
    session = db_session()
    require(session, current_actor(), "read")
    signer = _signing_key()
    report, verified_at = _verification(session, [signer.verifier_key] if signer else [])
    return render_template(
        "ledger/status.html",
        report=report,
        verified_at=verified_at,
        checkpoint=last_checkpoint(session),
        signer=signer,
    )
