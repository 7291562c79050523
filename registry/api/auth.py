"""The API's realm: ``Authorization: Bearer reg_…`` and nothing else.

No cookie authenticates an API call and no API call creates a session: the app's
session interface gives every ``/api/`` request a null session (see
:class:`ApiAwareSessionInterface`), and tokens are checked here on every request.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface

from registry.accounts.actor import Actor
from registry.accounts.service import TokenIdentity, authenticate_token
from registry.extensions import database, db_session
from registry.surfaces import is_api_request
from registry.transport import secure_cookies

# Endpoints anyone may call: the ledger's public keys (verifiers need them first).
PUBLIC_ENDPOINTS = frozenset({"api_ledger.keys", "api_exports.verifier"})


class ApiAwareSessionInterface(SecureCookieSessionInterface):
    """Cookie sessions for the web; for ``/api/`` a null session that is never read
    from the request's cookie, never saved and refuses to be written."""

    def open_session(self, app: Flask, request):  # type: ignore[no-untyped-def, override]
        if is_api_request():
            return self.make_null_session(app)
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:  # type: ignore[no-untyped-def, override]
        if self.is_null_session(session):
            return
        super().save_session(app, session, response)

    def get_cookie_secure(self, app: Flask) -> bool:
        return secure_cookies(app, request)


def authenticate() -> None:
    """``before_request`` of every API blueprint: resolve the bearer token (401 if
    missing or bad); permissions are checked by each view and the services."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization")
    db = database()
    if db.dialect == "postgresql":
        # By itself on the driver's connection: the lookup only reads (each statement
        # has its own snapshot at READ COMMITTED anyway), and it costs the least that
        # way.
        identity = authenticate_token(db.engine, header)
    elif request.method in ("GET", "HEAD"):
        identity = authenticate_token(db_session(), header)  # a read session already
    else:  # SQLite: outside the request's unit of work, which takes the write lock
        identity = authenticate_token(db.read_engine, header)
    g.api_identity = identity
    g.api_actor = identity.actor


def current_actor() -> Actor:
    return g.api_actor


def current_identity() -> TokenIdentity:
    return g.api_identity
