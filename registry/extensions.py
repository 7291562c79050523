"""Extensions, unbound until ``init_app``: the database, login and CSRF protection;
and the rate limiter and the export quota, made per application (their counts live in
the limiter's storage, which with the default ``memory://`` is per application and
process, and with ``redis://…`` shared by every process and host)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, g, has_request_context, request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.routing import BaseConverter, IntegerConverter, Map

from registry.db import MAX_ID, Database, giving_way, utcnow
from registry.documents.store import BlobStore, store_from_config
from registry.evidence.pack import PackFiles
from registry.evidence.quota import ExportQuota
from registry.ledger import kept
from registry.ledger.checkpoints import LedgerSettings
from registry.ledger.kept import KeptCheckpoint
from registry.ledger.keys import load_key
from registry.ledger.submitter import INFO_KEY, WitnessSubmitter
from registry.ledger.witnessing import parse_witnesses
from registry.notifications import due_list
from registry.readiness.projection import INFO_KEY as PROJECTOR
from registry.readiness.projector import Projector
from registry.records import search_index
from registry.surfaces import is_api_request


class RowIdConverter(IntegerConverter):
    """``<id:name>`` in a URL: a row id, 1 to MAX_ID. Any other number names no row: the
    route does not match (404) and the database is never asked."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)


class Sha256Converter(BaseConverter):
    """``<sha256:name>`` in a URL: a SHA-256 as the registry writes it, exactly 64
    lowercase hex digits. Anything else names no document: the route does not match
    (404), whatever a lookup would make of it."""

    regex = "[0-9a-f]{64}"


login_manager = LoginManager()
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    database = Database(
        app.config["DATABASE_URL"],
        echo=app.config["SQL_ECHO"],
        ledger=ledger_settings(app),
        pre_ping=app.config["DATABASE_PRE_PING"],
        kept_checkpoint=KeptCheckpoint(Path(app.config["KEPT_CHECKPOINT_PATH"])),
        create_file=app.config["DATABASE_CREATE_FILE"],
    )
    # The checkpoint a transaction signed is kept outside the database once committed.
    sa.event.listen(database.sessionmaker, "after_commit", kept.after_commit)
    sa.event.listen(database.sessionmaker, "after_rollback", kept.after_rollback)
    # A checkpoint a transaction signed goes to the witnesses once it commits, as a job
    # (jobs.tasks listens for the commit); exports submit theirs at once.
    submitter = WitnessSubmitter(
        database.read_sessionmaker,
        lambda: parse_witnesses(app.config["WITNESSES"]),
        timeout=app.config["WITNESS_TIMEOUT"],
    )
    database.share(INFO_KEY, submitter)
    app.extensions["registry.witness_submitter"] = submitter
    # What a read evaluates of the readiness projection is stored for the next one; only
    # read sessions hand it over (they see committed records only). Storing it gives way
    # to other writers: a read never waits behind a long write for it.
    keeping = sessionmaker(giving_way(database.engine), expire_on_commit=False)
    database.share(PROJECTOR, Projector(keeping), reading_only=True)
    # So is what a read finds again of the kept list of due items ("My tasks").
    due_keeper = Projector(keeping, due_list.store, "due list")
    database.share(due_list.INFO_KEY, due_keeper, reading_only=True)
    # And the search index's rows a read made again (a write leaves them to the reads).
    search_keeper = Projector(keeping, search_index.store, "search index")
    database.share(search_index.INFO_KEY, search_keeper, reading_only=True)
    app.extensions["registry.db"] = database
    app.url_map.converters["id"] = RowIdConverter
    app.url_map.converters["sha256"] = Sha256Converter
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see the registry."
    csrf.init_app(app)
    app.extensions["registry.limiter"] = _make_limiter(app)
    app.extensions["registry.export_quota"] = ExportQuota(
        limiter(app).storage, app.config["EXPORTS_PER_HOUR"], app.config["RATELIMIT_KEY_PREFIX"]
    )

    app.extensions["registry.documents"] = store_from_config(app.config)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            # Anything not committed explicitly by the surface is rolled back.
            session.rollback()
            session.close()


class _RegistryLimiter(Limiter):
    """The limiter, checked only where limits can apply: the API has none (no default
    or blueprint limits, and its views declare none), so its requests skip the check
    that would only end in the request filter."""

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and is_api_request():
            return
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)


def _make_limiter(app: Flask) -> Limiter:
    """A limiter with no default limits: only the views that declare a limit are
    limited (the sign-in form, see ``registry.web.auth``); never the API nor static
    files."""
    limiter = _RegistryLimiter(
        key_func=client_address,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        # No more than N in any window (not per calendar minute): no double burst at
        # a window's edge. Supported by the memory, Redis and MongoDB storages.
        strategy="moving-window",
        key_prefix=app.config["RATELIMIT_KEY_PREFIX"],
        headers_enabled=False,
    )
    limiter.request_filter(is_api_request)
    limiter.init_app(app)
    return limiter


def limiter(app: Flask | None = None) -> Limiter:
    from flask import current_app

    return (app or current_app).extensions["registry.limiter"]


def export_quota(app: Flask | None = None) -> ExportQuota:
    """The export limits every surface but the command line applies."""
    from flask import current_app

    return (app or current_app).extensions["registry.export_quota"]


def document_store(app: Flask | None = None) -> BlobStore:
    """Where evidence documents' bytes are kept (REGISTRY_DOCUMENT_STORE)."""
    from flask import current_app

    return (app or current_app).extensions["registry.documents"]


def pack_files(app: Flask | None = None) -> PackFiles:
    """Where packs take documents' files from, and the largest they carry."""
    from flask import current_app

    app = app or current_app
    return PackFiles(document_store(app), app.config["PACK_FILE_MAX_BYTES"])


def clock() -> dt.datetime:
    """The app's time for decisions a person's code or link rests on (second factor,
    sign-in steps): the ``CLOCK`` setting when given (a callable; tests inject one),
    else the real time in UTC."""
    from flask import current_app

    chosen = current_app.config.get("CLOCK")
    return chosen() if chosen is not None else utcnow()


def client_address() -> str:
    """The client's address as the WSGI server gives it (behind a reverse proxy, that
    is the proxy's unless the deployment fixes ``REMOTE_ADDR`` up, e.g. ProxyFix)."""
    return request.remote_addr or "unknown"


def ledger_settings(app: Flask) -> LedgerSettings | None:
    """The signing settings, when the signing key exists (``registry keys init``)."""
    path = Path(app.config["SIGNING_KEY_PATH"])
    if not path.exists():
        app.logger.warning("No ledger signing key at %s: no checkpoints will be signed.", path)
        return None
    return LedgerSettings(
        load_key(path),
        every_events=app.config["CHECKPOINT_EVERY_EVENTS"],
        every_seconds=app.config["CHECKPOINT_EVERY_SECONDS"],
    )


def witness_submitter(app: Flask | None = None) -> WitnessSubmitter:
    """The app's submitter of checkpoints to the witnesses (``ledger.submitter``)."""
    from flask import current_app

    return (app or current_app).extensions["registry.witness_submitter"]


def database(app: Flask | None = None) -> Database:
    from flask import current_app

    return (app or current_app).extensions["registry.db"]


def db_session() -> Session:
    """The session of the current request or CLI command (one unit of work).

    GET and HEAD requests only read: their session takes no write lock on SQLite.
    """
    if "db_session" not in g:
        reading = has_request_context() and request.method in ("GET", "HEAD")
        db = database()
        g.db_session = (db.read_sessionmaker if reading else db.sessionmaker)()
    return g.db_session
