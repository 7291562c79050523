"""ID tokens the registry accepts from an OpenID Provider, checked as the sign-in's
callback checks them (Authlib's ``parse_id_token`` with the registry's
``claims_options``): real RS256 signatures made with joserfc; a wrong issuer,
audience, nonce or signing key, or an expired token, is refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from authlib.common.errors import AuthlibBaseError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from registry.web.oidc import claims_options, client_for
from tests.conftest import make_app

ISSUER = "https://idp.example.org"
CLIENT_ID = "registry"
PROVIDER = {
    "name": "corp",
    "title": "Corporate sign-in",
    "issuer": ISSUER,
    "client_id": CLIENT_ID,
    "client_secret": "secret",
    "roles": {"governance": ["compliance_officer"]},
}
KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1", "alg": "RS256", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Check an ID token as the callback does; the claims, or the error raised."""
    instance = tmp_path_factory.mktemp("oidc") / "instance"
    app = make_app(
        f"sqlite:///{instance.parent}/unused.sqlite3", instance, OIDC_PROVIDERS=[PROVIDER]
    )

    def check(
        claims: dict[str, Any],
        nonce: str = "n-0S6_WzA2Mj",
        key: RSAKey = KEY,
        signed: str | None = None,
        published_issuer: str = ISSUER,
    ) -> Any:
        with app.test_request_context("/login/oidc/corp/callback"):
            provider, client = client_for("corp")
            # The provider's discovery document and keys, as fetched (no network here).
            client.server_metadata.update(
                {
                    "issuer": published_issuer,
                    "jwks": KeySet([KEY]).as_dict(private=False),
                    "_loaded_at": time.time(),
                }
            )
            if signed is None:
                signed = jwt.encode({"alg": "RS256", "kid": "idp-1"}, claims, key)
            return client.parse_id_token(
                {"id_token": signed}, nonce=nonce, claims_options=claims_options(provider)
            )

    yield check
    app.extensions["registry.db"].dispose()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "248289761001",
        "aud": CLIENT_ID,
        "nonce": "n-0S6_WzA2Mj",
        "iat": now,
        "exp": now + 300,
        "email": "jane@example.org",
        "groups": ["governance"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_good_token_is_accepted(checked):
    claims = checked(_claims())
    assert claims["sub"] == "248289761001" and claims["groups"] == ["governance"]


@pytest.mark.parametrize(
    ("changes", "nonce", "key"),
    [
        ({"iss": "https://evil.example.org"}, "n-0S6_WzA2Mj", KEY),  # another issuer
        ({"aud": "someone-else"}, "n-0S6_WzA2Mj", KEY),  # another client's token
        ({}, "another-nonce", KEY),  # replayed into another sign-in
        ({"nonce": None}, "n-0S6_WzA2Mj", KEY),  # no nonce at all
        ({}, "n-0S6_WzA2Mj", OTHER_KEY),  # signed by a key the provider does not publish
        ({"exp": int(time.time()) - 3600}, "n-0S6_WzA2Mj", KEY),  # expired
        ({"sub": None}, "n-0S6_WzA2Mj", KEY),  # names no one
    ],
    ids=["issuer", "audience", "nonce", "no-nonce", "signature", "expired", "no-subject"],
)
def test_a_bad_token_is_refused(checked, changes, nonce, key):
    with pytest.raises((AuthlibBaseError, JoseError)):
        checked(_claims(**changes), nonce=nonce, key=key)


def test_a_tampered_token_is_refused(checked):
    """A signed token whose claims were changed afterwards."""
    good = jwt.encode({"alg": "RS256", "kid": "idp-1"}, _claims(), KEY)
    header, _, signature = good.split(".")
    other = jwt.encode({"alg": "RS256", "kid": "idp-1"}, _claims(sub="admin"), KEY)
    forged = ".".join([header, other.split(".")[1], signature])
    assert checked({}, signed=good)["sub"] == "248289761001"
    with pytest.raises((AuthlibBaseError, JoseError)):
        checked({}, signed=forged)


def test_settings_are_checked(tmp_path: Path):
    bad = {**PROVIDER, "roles": {"governance": ["superuser"]}}
    with pytest.raises(ValueError, match="unknown roles"):
        make_app(f"sqlite:///{tmp_path}/x.sqlite3", tmp_path / "i", OIDC_PROVIDERS=[bad])
    with pytest.raises(ValueError, match="client_secret is required"):
        make_app(
            f"sqlite:///{tmp_path}/x.sqlite3",
            tmp_path / "i",
            OIDC_PROVIDERS=[{**PROVIDER, "client_secret": ""}],
        )


def test_the_configured_issuer_decides_not_the_discovery_document(checked):
    """A discovery document (e.g. a misconfigured or hijacked URL) that names another
    issuer does not make that issuer's tokens acceptable."""
    evil = "https://evil.example.org"
    with pytest.raises((AuthlibBaseError, JoseError)):
        checked(_claims(iss=evil), published_issuer=evil)
