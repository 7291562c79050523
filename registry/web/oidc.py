"""Signing in through OpenID Connect providers (``REGISTRY_OIDC_PROVIDERS``), with
Authlib's Flask client: the Authorization Code flow with PKCE (S256), a nonce and a
state kept in the signed session cookie, the ID token's signature checked against the
provider's published keys and its issuer, audience, nonce and times checked before its
claims are used (:func:`claims_options`). Who the claims name, and with which roles, is
``accounts.identity.sign_in``'s decision; this module only speaks HTTP.

Signing out ends the registry's session and offers the provider's
``end_session_endpoint`` (RP-initiated logout) when the provider publishes one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user, login_user
from joserfc.errors import JoseError
from requests import RequestException
from werkzeug.wrappers import Response

from registry.accounts.identity import Provider, SignInRefused, sign_in
from registry.extensions import clock, db_session
from registry.web.auth import METHOD_KEY, OIDC_KEY, SIGNED_OUT_KEY, keep_session
from registry.web.home import landing

bp = Blueprint("oidc", __name__, url_prefix="/login/oidc")


def providers(app: Flask | None = None) -> dict[str, Provider]:
    """The configured providers by name."""
    return (app or current_app).extensions["registry.oidc_providers"]


def init_oidc(app: Flask) -> None:
    """Register the configured providers with an Authlib client of this app."""
    configured = {}
    for item in app.config["OIDC_PROVIDERS"]:
        provider = Provider.from_setting(item)
        if provider.name in configured:
            raise ValueError(f"OIDC provider {provider.name!r} is configured twice")
        configured[provider.name] = provider
    oauth = OAuth(app)
    for provider in configured.values():
        oauth.register(
            name=provider.name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.discovery_url,
            client_kwargs={"scope": provider.scopes, "code_challenge_method": "S256"},
        )
    app.extensions["registry.oidc_providers"] = configured
    app.extensions["registry.oauth"] = oauth
    app.register_blueprint(bp)
    app.context_processor(lambda: {"oidc_providers": list(configured.values())})


def client_for(name: str) -> tuple[Provider, Any]:
    provider = providers().get(name)
    if provider is None:
        abort(404)
    return provider, current_app.extensions["registry.oauth"].create_client(name)


def claims_options(provider: Provider) -> dict[str, Any]:
    """What an ID token of ``provider`` must hold besides its signature, audience (the
    client id), nonce and times, which Authlib checks always: the configured issuer
    (not only what the discovery document says) and a subject."""
    return {"iss": {"essential": True, "values": [provider.issuer]}, "sub": {"essential": True}}


@bp.route("/<name>")
def start(name: str) -> Response:
    """Send the browser to the provider (state, nonce and PKCE verifier kept in the
    session)."""
    if current_user.is_authenticated:
        return redirect(landing())
    _, client = client_for(name)
    try:
        return client.authorize_redirect(url_for("oidc.callback", name=name, _external=True))
    except (RequestException, AuthlibBaseError, ValueError) as exc:
        current_app.logger.warning("OIDC provider %s unavailable: %s", name, exc)
        return _refused(name, "The identity provider cannot be reached. Try again later.", 503)


@bp.route("/<name>/callback")
def callback(name: str) -> Response:
    provider, client = client_for(name)
    try:
        token = client.authorize_access_token(claims_options=claims_options(provider))
    except (
        AuthlibBaseError,
        JoseError,
        RequestException,
        RuntimeError,
        ValueError,
        KeyError,
    ) as exc:
        current_app.logger.warning("OIDC sign-in through %s refused: %r", name, exc)
        return _refused(name, "The sign-in could not be verified. Please try again.", 401)
    claims = token.get("userinfo")
    if not claims or not token.get("id_token"):
        return _refused(name, "The provider sent no ID token. Please try again.", 401)
    db = db_session()
    try:
        user = sign_in(db, provider, claims, clock())
    except SignInRefused as exc:
        db.commit()  # the failed sign-in and any role it took away are recorded
        return _refused(name, exc.message, exc.status, reason=exc.reason)
    db.commit()
    login_user(user)
    keep_session(user)
    session[METHOD_KEY] = "oidc"
    session[OIDC_KEY] = {"provider": name, "id_token": token["id_token"]}
    return redirect(landing())


def _refused(name: str, message: str, status: int, reason: str = "") -> Response:
    provider = providers().get(name)
    page = render_template(
        "auth/oidc_refused.html",
        message=message,
        reason=reason,
        provider=provider,
    )
    return make_response(page, status)


def end_session_url(signed_in: dict[str, Any] | None) -> str | None:
    """The provider's end-session URL for a session signed in through it (RP-initiated
    logout: the ID token as the hint, back to the sign-in page), or None."""
    if not isinstance(signed_in, dict) or signed_in.get("provider") not in providers():
        return None
    _, client = client_for(signed_in["provider"])
    try:
        endpoint = client.load_server_metadata().get("end_session_endpoint")
    except (RequestException, AuthlibBaseError, ValueError):
        return None
    if not endpoint:
        return None
    query = urlencode(
        {
            "id_token_hint": signed_in.get("id_token", ""),
            "post_logout_redirect_uri": url_for("auth.login", _external=True),
            "client_id": client.client_id,
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


@bp.route("/signed-out")
def signed_out() -> Response:
    """After signing out of a session begun at a provider: the link that ends the
    provider's session too."""
    signed = session.pop(SIGNED_OUT_KEY, None)
    end = end_session_url(signed)
    if end is None:
        return redirect(url_for("auth.login"))
    title = providers()[signed["provider"]].title
    page = render_template("auth/signed_out.html", end_session=end, provider_title=title)
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response
