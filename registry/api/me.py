"""The caller: who the token belongs to, and the user's own tokens."""

from __future__ import annotations

from typing import Any

from flask import current_app

from registry.accounts import service as accounts
from registry.accounts.models import ApiToken
from registry.api.auth import current_actor, current_identity
from registry.api.blueprint import BODY, READ, Blueprint
from registry.api.render import token_out
from registry.api.schemas import MeOut, TokenCreate, TokenCreated, TokenList, TokenOut
from registry.api.writes import transaction
from registry.errors import NotFound, PermissionDenied
from registry.extensions import db_session

bp = Blueprint(
    "api_me",
    __name__,
    tag="Me",
    url_prefix="/api/v1/me",
    description="The caller and the caller's own API tokens.",
)


def _own_token() -> ApiToken:
    """The token making the request, with its user."""
    token = accounts.token_by_id(db_session(), current_identity().token_id)
    assert token is not None
    return token


@bp.route("", methods=["GET"], operation_id="getMe")
@bp.response(200, MeOut)
@bp.problems(401)
def me() -> Any:
    """Who am I

    The user the token belongs to, their roles, and the token itself. Any valid token.
    """
    token = _own_token()
    user = token.user
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "roles": sorted(user.roles),
        "token": token_out(token),
    }


@bp.route("/tokens", methods=["GET"], operation_id="listTokens")
@bp.response(200, TokenList)
@bp.problems(401)
def tokens() -> Any:
    """My tokens

    The caller's tokens, newest first, revoked and expired ones included (no secrets).
    """
    rows = accounts.tokens_of(db_session(), current_actor().user_id)
    return {"items": [token_out(t) for t in rows]}


@bp.route("/tokens", methods=["POST"], operation_id="createToken")
@transaction()
@bp.arguments(TokenCreate)
@bp.response(201, TokenCreated)
@bp.problems(*READ, *BODY, 409)
def create_token(data: dict[str, Any]) -> Any:
    """Create a token

    A new token for the caller, with at most the scopes of the token making the
    request. The secret is in this answer only: the registry keeps its hash. An
    `Idempotency-Key` is not honoured (the secret could not be shown again): a retry
    makes another token.
    """
    actor = current_actor()
    token = _own_token()
    made, secret = accounts.create_token(
        db_session(),
        actor,
        token.user,
        name=data["name"],
        scopes=tuple(data.get("scopes") or sorted(token.scope_set)),
        days=data.get("days", current_app.config["TOKEN_DEFAULT_DAYS"]),
    )
    return {**token_out(made), "secret": secret}, 201


@bp.route("/tokens/<id:token_id>", methods=["DELETE"], operation_id="revokeToken")
@transaction()
@bp.response(200, TokenOut)
@bp.problems(*READ, 404)
def revoke_token(token_id: int) -> Any:
    """Revoke a token

    Revokes one of the caller's tokens (the one making the request included). Needs
    the write scope.
    """
    actor = current_actor()
    session = db_session()
    token = accounts.token_by_id(session, token_id)
    if token is None or token.user_id != actor.user_id:
        raise NotFound(f"You have no token {token_id}.")
    if not actor.has_scope("write"):
        raise PermissionDenied("Revoking a token needs a token with the write scope.")
    return token_out(accounts.revoke_token(session, actor, str(token_id)))
