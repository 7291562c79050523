"""What operators and their tools talk to: ``/healthz``, ``/readyz`` and ``/metrics``
(none needs a sign-in), and the per-request wiring behind the logs and metrics: the
request id, one JSON line per request, the latency histogram, writes counted when their
transaction commits and refusals by kind. Also where a trusted reverse proxy's
forwarded headers are read (werkzeug's ProxyFix, REGISTRY_TRUSTED_PROXY_HOPS).
docs/operations.md describes the settings.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, request
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from registry import logs, metrics
from registry.extensions import client_address, database, db_session, document_store, limiter
from registry.jobs.service import counts_by_state as jobs_by_state
from registry.jobs.tasks import job_queue
from registry.ledger.append import appended
from registry.ledger.keys import KeyFileError, load_key
from registry.ledger.status import ledger_figures

log = logging.getLogger(__name__)
bp = Blueprint("operations", __name__)


# --- readiness: each check answers whether one thing an answer needs is reachable now.
# The job backend joins this list when there is one.


def _database(app: Flask) -> bool:
    return database(app).answers()


def _blob_store(app: Flask) -> bool:
    return document_store(app).reachable()


def _signing_key(app: Flask) -> bool:
    try:
        load_key(Path(app.config["SIGNING_KEY_PATH"]))
    except KeyFileError:
        return False
    return True


def _export_folder(app: Flask) -> bool:
    folder = Path(app.config["EXPORT_DIR"])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _limit_storage(app: Flask) -> bool:
    try:
        return bool(limiter(app).storage.check())
    except Exception:  # noqa: BLE001 - a storage that cannot even be asked is not ready
        return False


def _job_queue(app: Flask) -> bool:
    """The job backend answers (the SQLite file or Redis): asking its length reads it."""
    job_queue(app).huey.pending_count()
    return True


READINESS_CHECKS: list[tuple[str, Callable[[Flask], bool]]] = [
    ("database", _database),
    ("blob_store", _blob_store),
    ("signing_key", _signing_key),
    ("export_folder", _export_folder),
    ("limit_storage", _limit_storage),
    ("job_queue", _job_queue),
]


def not_ready(app: Flask) -> list[str]:
    """The names of the checks that fail now (empty: ready)."""
    failed = []
    for name, check in READINESS_CHECKS:
        try:
            ok = check(app)
        except Exception:  # noqa: BLE001 - a check that breaks is a failed check
            log.exception("readiness check %s broke", name)
            ok = False
        if not ok:
            failed.append(name)
    return failed


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers (nothing else is asked)."""
    return _plain("ok\n", 200)


@bp.get("/readyz")
def readyz() -> Response:
    """Ready to answer requests: 200, or 503. Which check failed goes to the log only."""
    failed = not_ready(current_app)
    if failed:
        log.warning("not ready", extra={"failed_checks": failed})
        return _plain("not ready\n", 503)
    return _plain("ready\n", 200)


@bp.get("/metrics")
def metrics_view() -> Response:
    """The Prometheus exposition, to a holder of the metrics token or a scraper in the
    allowed networks; anyone else gets a 404, as if there were nothing here."""
    config = current_app.config
    if not metrics.may_scrape(
        request.headers.get("Authorization"),
        client_address(),
        config["METRICS_TOKEN"],
        config["METRICS_NETWORKS"],
    ):
        refusal("metrics_not_allowed")
        return _plain("Not Found\n", 404)
    session = db_session()
    figures = ledger_figures(session)
    body = metrics.exposition(
        figures.size,
        figures.latest_checkpoint_at,
        dt.datetime.now(dt.UTC),
        jobs_by_state(session),
    )
    response = Response(body, 200, mimetype=None, content_type=metrics.CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def _plain(text: str, status: int) -> Response:
    response = Response(text, status, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal(kind: str) -> None:
    """Name the kind of the refusal the current request ends in (its metric's label)."""
    g.refusal = kind


def _started() -> None:
    logs.started()


def _answered(response: Response) -> Response:
    seconds = logs.answered(response, client_address())
    metrics.request_answered(logs.endpoint(), request.method, response.status_code, seconds)
    if 400 <= response.status_code < 500:
        metrics.refused(g.get("refusal") or f"http_{response.status_code}", response.status_code)
    return response


def _committed(session: Session) -> None:
    metrics.committed(appended(session))


def _rolled_back(session: Session) -> None:
    appended(session)


def init_app(app: Flask) -> None:
    """Wire the operations endpoints, logs and metrics into ``app``."""
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        # Only a proxy in front is trusted to say who the client is and which scheme it
        # used; with no proxy trusted, X-Forwarded-* headers are ignored (a client could
        # write them).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    # First of the app's before_request functions: a request the rate limiter refuses
    # has its id too.
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_answered)
    maker = database(app).sessionmaker
    sa.event.listen(maker, "after_commit", _committed)
    sa.event.listen(maker, "after_rollback", _rolled_back)
    app.register_blueprint(bp)
