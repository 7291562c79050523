"""The API's realm: ``Authorization: Bearer reg_…`` and nothing else.

No cookie authenticates an API call and no API call creates a session: the app's
session interface gives every ``/api/`` request a null session (see
:class:`ApiAwareSessionInterface`), and tokens are checked here on every request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from registry.accounts.actor import Actor, DeferredActor
from registry.accounts.service import (
    TOKEN_KNOWN,
    TokenIdentity,
    authenticate_token,
    record_token_use,
    token_identity,
    token_lookup,
)
from registry.db import FirstExchangeLost
from registry.errors import RegistryError
from registry.extensions import database, db_session
from registry.ledger.append import read_first, send_first
from registry.surfaces import is_api_request
from registry.transport import secure_cookies

# Endpoints anyone may call: the ledger's public keys (verifiers need them first).
PUBLIC_ENDPOINTS = frozenset({"api_ledger.keys", "api_exports.verifier"})
T = TypeVar("T")


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
    missing or bad); permissions are checked by each view and the services.

    On PostgreSQL the lookup goes on the request's own connection (one checkout, not
    tested first: the lookup's exchange is the test, and the request starts again on a
    new connection when it finds it dead, :func:`once_again`), as the session's first
    statement; for a view that owns a unit of work
    (:func:`defers_token`) it waits for the request's first round trip (a write's
    state reads) and goes with it: the actor is a :class:`DeferredActor` until then,
    and nothing else that is read is used before the token is accepted (401)."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization")
    db = database()
    if db.dialect == "postgresql":
        if _queue_token_lookup(header):
            return
        once_again(lambda: send_first(db_session()))
        identity = g.api_identity
    elif request.method in ("GET", "HEAD"):
        identity = authenticate_token(db_session(), header)  # a read session already
    else:  # SQLite: outside the request's unit of work, which takes the write lock
        identity = authenticate_token(db.read_engine, header)
    if db.dialect != "postgresql":
        _note_use(identity)
    g.api_identity = identity
    g.api_actor = identity.actor


def _queue_token_lookup(header: str | None) -> bool:
    """PostgreSQL: queue the token's lookup as the session's first read; whether it
    waits for the view's unit of work (the actor is then a :class:`DeferredActor`)."""
    statement, params = token_lookup(header)  # a missing or malformed one: 401 now

    def receive(rows: list[Any]) -> None:
        g.api_identity = token_identity(rows, params)
        _note_use(g.api_identity)
        if "api_actor" in g:
            _ = g.api_actor.label  # now known: filled in from the identity

    read_first(db_session(), statement, params, receive, guard=TOKEN_KNOWN)
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, DEFERS_TOKEN, False):
        return False
    g.api_actor = DeferredActor(lambda: current_identity().actor)
    return True


def once_again(work: Callable[[], T]) -> T:
    """``work``, started again once if the request's connection is found dead at its
    first exchange (``db.FirstExchangeLost``: the token's lookup went on it untested,
    see ``ledger.append.read_first``): the session rolled back and the lookup queued
    again, on a new connection. Found dead again: the driver's error (a 503)."""
    try:
        return work()
    except FirstExchangeLost:
        db_session().rollback()
        g.pop("api_identity", None)
        _queue_token_lookup(request.headers.get("Authorization"))
    try:
        return work()
    except FirstExchangeLost as lost:
        raise lost.error from None


def _note_use(identity: TokenIdentity) -> None:
    """Record the token's use on its first request of the day (UTC), in a transaction of
    its own on another connection: it updates the token's row only, which the request's
    own transaction never locks (on PostgreSQL the lookup's answer may arrive with a
    write's ledger lock already taken, in the same pipeline). The other requests of the
    day write nothing."""
    if identity.use_unrecorded:
        record_token_use(database().engine, identity.token_id)


DEFERS_TOKEN = "registry_defers_token"


def defers_token(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``view`` as one whose token lookup may go with its unit of work's first
    round trip (see :func:`authenticate`): it must accept the token (read
    :func:`current_identity`) before it commits anything."""
    setattr(view, DEFERS_TOKEN, True)
    return view


def reads_with_token(view: Callable[..., Any]) -> Callable[..., Any]:
    """A reading view whose first read carries the token's lookup (one round trip on
    PostgreSQL instead of two, see :func:`authenticate`): the view reads before it
    checks the actor's rights, and uses nothing it read before the token is accepted
    (the lookup's answer is handled before any other, a bad token is a 401 there).
    Started again once on a connection found dead at that first exchange
    (:func:`once_again`)."""

    @defers_token
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        def answer() -> Any:
            answered = view(*args, **kwargs)
            current_identity()  # accepted, whatever the view read
            return answered

        return once_again(lambda: token_first(answer))

    return wrapper


def token_first(work: Callable[[], T]) -> T:
    """``work()`` of a view whose token's lookup may not have gone yet (its first round
    trip carries it): a refusal the view ends in comes after the token's, so a bad
    token is answered 401 whatever else is wrong with the request (its query, its
    body), as it is when the lookup goes first."""
    try:
        return work()
    except (HTTPException, RegistryError):
        if "api_identity" not in g:  # not answered yet (or refused: nothing queued then)
            send_first(db_session())
        raise


def current_actor() -> Actor:
    return g.api_actor


def current_identity() -> TokenIdentity:
    """The token's identity (sending its lookup now, when it has not gone yet)."""
    if "api_identity" not in g:
        send_first(db_session())
    return g.api_identity
