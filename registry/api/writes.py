"""The API's unit of work: one commit per changing request, and ``Idempotency-Key``.

A retried POST carrying the same ``Idempotency-Key`` gets the first answer again and
changes nothing; the same key with a different request is refused (422). The stored
answer is written in the same transaction as the change, so it exists exactly when the
change was committed. It is replayed at once only to the token that made the request:
another token of the same user (whose scopes may be narrower) has its request run, its
permissions checked, and replays the first answer only once that request succeeded
(below). Two requests racing with one key cannot both commit: the second fails on the
key's unique constraint, rolls back everything it did, and replays the first one's
answer. Keys are remembered for ``IDEMPOTENCY_TTL``; expired ones are
deleted by a request that stores a key, at most once per ``PRUNE_EVERY`` in each
process (see :func:`_prune_expired`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError

from registry.api.auth import (
    current_actor,
    current_identity,
    defers_token,
    once_again,
    token_first,
)
from registry.api.blueprint import json_response
from registry.api.models import IdempotencyKey
from registry.db import utcnow
from registry.errors import RegistryError
from registry.extensions import db_session

IDEMPOTENCY_TTL = dt.timedelta(hours=24)
PRUNE_EVERY = 600.0  # seconds between two deletions of expired keys in one process
PRUNED_AT = "registry.idempotency_pruned_at"  # app.extensions: monotonic time of the last
MAX_KEY = 255
REPLAYED_HEADERS = ("Content-Type", "ETag", "Location")
# For a replay: the secret an answer showed once (its field "secret"), read again where
# it is kept, given the answer (which names its record).
Secret = Callable[[dict[str, Any]], str]


class BadIdempotencyKey(RegistryError):
    status = 400
    title = "Bad request"
    code = "bad_idempotency_key"
    error_location = "header"


class IdempotencyKeyReused(RegistryError):
    status = 422
    title = "Unprocessable content"
    code = "idempotency_key_reused"
    error_location = "header"


def _key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
        raise BadIdempotencyKey(
            f"An Idempotency-Key is 1 to {MAX_KEY} printable ASCII characters.",
            errors={"Idempotency-Key": ["Not a valid key."]},
        )
    return key


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _expired_before() -> dt.datetime:
    """Keys stored before this instant are expired."""
    return utcnow() - IDEMPOTENCY_TTL


def _stored(user_id: int, key: str) -> IdempotencyKey | None:
    session = db_session()
    row = session.scalar(
        sa.select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
        )
    )
    if row is not None and row.created_at < _expired_before():
        session.delete(row)
        session.flush()
        return None
    return row


def _prune_expired() -> None:
    """Delete every expired key, in the transaction of the request that stores a key,
    when this process has not done so for ``PRUNE_EVERY`` seconds.

    Without it the table grows for ever (a key goes otherwise only when it is reused).
    Doing it here needs no scheduler and costs almost every request nothing: one
    statement, on the ``created_at`` index, every ten minutes per process. Should the
    request fail, the deletion rolls back with it and waits for the next interval.
    """
    now = time.monotonic()
    extensions = current_app.extensions
    last = extensions.get(PRUNED_AT)
    if last is not None and now - last < PRUNE_EVERY:
        return
    extensions[PRUNED_AT] = now
    db_session().execute(
        sa.delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < _expired_before())
        .execution_options(synchronize_session=False)
    )


def _same_request(row: IdempotencyKey, fingerprint: str) -> None:
    """Refuse (422) a request that is not the one ``row``'s key was first used for."""
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request "
            f"({row.method} {row.path}, made at {row.created_at.isoformat()}). "
            "Use a new key for a new request; nothing was changed.",
            errors={"Idempotency-Key": ["Already used for a different request."]},
        )


def _kept(body: str, secret: Secret | None) -> str:
    """The answer ``body`` as stored: without the secret it shows, if it shows one."""
    if secret is None:
        return body
    return json.dumps({**json.loads(body), "secret": None})


def _replay(row: IdempotencyKey, secret: Secret | None) -> Response:
    body = row.response_body
    if secret is not None:  # read again where it is kept, rendered as the view did
        answer = json.loads(body)
        body = json_response({**answer, "secret": secret(answer)}, row.status).get_data()
    response = current_app.response_class(body, status=row.status)
    for name, value in json.loads(row.response_headers).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def commit_change() -> None:
    """Commit the request's change as soon as the service has returned, before the
    answer is rendered: a write holds the ledger lock until its transaction ends. For
    views without an ``Idempotency-Key`` (whose stored answer belongs to the same
    transaction); :func:`transaction` then finds nothing left to commit. The token is
    accepted first (its lookup went with the write's first round trip)."""
    current_identity()
    db_session().commit()


def after_commit(work: Callable[[], None]) -> None:
    """Do ``work`` once the view's change is committed, and never if it is not (a replay
    or a failure rolled it back): what must not start before the change is there for
    others to read, such as sending a job to a worker. For views under
    :func:`transaction`."""
    g.after_commit.append(work)


def _committed() -> None:
    for work in g.pop("after_commit"):
        work()


def transaction(
    *, idempotent: bool = False, secret: Secret | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Commit what the view did once it has answered; with ``idempotent``, honour an
    ``Idempotency-Key`` header. Place it between ``route`` and the other decorators.

    With ``secret``, for a view whose answer shows a secret once (its field ``secret``):
    the stored answer keeps none (no secret is copied into the keys' table), and a
    replay shows ``secret(answer)``, read again where the registry keeps it (which
    checks the replaying token's permission)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @defers_token
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # On a connection found dead at the first exchange, started again once.
            return once_again(lambda: token_first(lambda: unit_of_work(*args, **kwargs)))

        def unit_of_work(*args: Any, **kwargs: Any) -> Any:
            session = db_session()
            g.after_commit = []  # (none left from a first attempt, see once_again)
            key = _key() if idempotent else None
            if key is None:
                response = view(*args, **kwargs)
                current_identity()  # the token is accepted before anything commits
                session.commit()
                _committed()
                return response
            user_id = current_actor().user_id
            assert user_id is not None
            token_id = current_identity().token_id
            fingerprint = _fingerprint()
            if (row := _stored(user_id, key)) is not None:
                _same_request(row, fingerprint)
                if row.token_id == token_id:
                    return _replay(row, secret)
                # Another token's answer: this token's request runs, with its own
                # permissions; if it succeeds, its commit meets the key (below).
            response = view(*args, **kwargs)
            if 200 <= response.status_code < 300:
                _prune_expired()
                session.add(
                    IdempotencyKey(
                        user_id=user_id,
                        token_id=token_id,
                        key=key,
                        method=request.method,
                        path=request.path[:2000],
                        request_hash=fingerprint,
                        status=response.status_code,
                        response_body=_kept(response.get_data(as_text=True), secret),
                        response_headers=json.dumps(
                            {
                                h: response.headers[h]
                                for h in REPLAYED_HEADERS
                                if h in response.headers
                            }
                        ),
                        created_at=utcnow(),
                    )
                )
            try:
                session.commit()
            except IntegrityError:
                # Another request with this key committed first: undo ours, replay its
                # (whichever token made it: this one was allowed to do the same).
                session.rollback()
                row = _stored(user_id, key)
                if row is None:
                    raise
                _same_request(row, fingerprint)
                return _replay(row, secret)
            _committed()
            return response

        return wrapper

    return decorator
