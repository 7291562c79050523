"""Accounts at OpenID Connect providers: who a provider's ID token names, and the roles
its groups give them.

A person is matched by the provider's issuer and the ``sub`` claim (``user_identity``),
never by e-mail alone: an e-mail an existing account already has is refused for a new
identity (an administrator decides whether they are one person). Roles come from the
provider's group claim through the provider's mapping at every sign-in; a change is
the ledger's ``user.roles`` event, as any role change. Groups that map to nothing give
no role, and no sign-in. Nothing here knows Flask or HTTP: the web's sign-in view
(``web/oidc.py``, through Authlib) verifies the ID token and hands its claims over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.models import ROLES, User, UserIdentity, UserRole
from registry.accounts.permissions import require
from registry.accounts.service import end_sessions, record_failed_sign_in, record_sign_in
from registry.errors import Conflict, InvalidInput, RegistryError
from registry.ledger.append import append_event
from registry.text import text_problem

DEFAULT_SCOPES = "openid email profile"


@dataclass(frozen=True)
class Provider:
    """One OpenID Provider, as the ``REGISTRY_OIDC_PROVIDERS`` setting names it."""

    name: str  # in URLs: /login/oidc/<name>
    title: str  # on the sign-in page
    issuer: str
    client_id: str
    client_secret: str
    discovery_url: str
    scopes: str = DEFAULT_SCOPES
    group_claim: str = "groups"
    # group (or role claim value) -> registry roles
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allow_create: bool = False

    @classmethod
    def from_setting(cls, item: Mapping[str, Any]) -> Provider:
        """A provider from one item of the setting; ValueError naming what is wrong."""
        name = str(item.get("name", ""))
        if not name.isascii() or not name.replace("-", "").isalnum():
            raise ValueError(f"OIDC provider name {name!r}: letters, digits and '-' only")
        issuer = str(item.get("issuer", "")).rstrip("/")
        discovery = str(item.get("discovery_url") or "")
        if not issuer:
            raise ValueError(f"OIDC provider {name!r}: an issuer is required")
        if not discovery:
            discovery = issuer + "/.well-known/openid-configuration"
        for key in ("client_id", "client_secret"):
            if not item.get(key):
                raise ValueError(f"OIDC provider {name!r}: {key} is required")
        roles: dict[str, tuple[str, ...]] = {}
        for group, mapped in dict(item.get("roles") or {}).items():
            mapped = [mapped] if isinstance(mapped, str) else list(mapped)
            unknown = [r for r in mapped if r not in ROLES]
            if unknown:
                raise ValueError(f"OIDC provider {name!r}: unknown roles {unknown}")
            roles[str(group)] = tuple(mapped)
        return cls(
            name=name,
            title=str(item.get("title") or name),
            issuer=issuer,
            client_id=str(item["client_id"]),
            client_secret=str(item["client_secret"]),
            discovery_url=discovery,
            scopes=str(item.get("scopes") or DEFAULT_SCOPES),
            group_claim=str(item.get("group_claim") or "groups"),
            roles=roles,
            allow_create=bool(item.get("allow_create", False)),
        )

    @property
    def actor(self) -> Actor:
        """The provider acting through its claims (role changes, account creation)."""
        return Actor(label=f"oidc:{self.issuer}", roles=frozenset())

    def roles_for(self, claims: Mapping[str, Any]) -> list[str]:
        """The registry roles the group claim's values map to (sorted; may be none)."""
        groups = claims.get(self.group_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            return []
        return sorted({r for g in groups if isinstance(g, str) for r in self.roles.get(g, ())})


class SignInRefused(RegistryError):
    """A provider's sign-in the registry does not accept (status 403); ``reason`` says
    which: ``no_account``, ``email_taken``, ``no_email``, ``deactivated``, ``no_role``."""

    status = 403
    title = "Forbidden"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


def sign_in(
    session: Session, provider: Provider, claims: Mapping[str, Any], now: dt.datetime
) -> User:
    """The user the verified ID token ``claims`` of ``provider`` name, with the roles its
    groups give them now; recorded as a sign-in. :class:`SignInRefused` otherwise (and
    recorded as a failed one when an account exists)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255 or text_problem(subject):
        raise SignInRefused("The provider's answer names no one.", "no_account")
    identity = session.scalar(
        sa.select(UserIdentity).where(
            UserIdentity.issuer == provider.issuer, UserIdentity.subject == subject
        )
    )
    user = session.get(User, identity.user_id) if identity is not None else None
    if user is None:
        user = _create(session, provider, claims, subject, now)
    if not user.is_active:
        record_failed_sign_in(session, user.email, "deactivated")
        raise SignInRefused("Your registry account is deactivated.", "deactivated")
    wanted = provider.roles_for(claims)
    _apply_roles(session, provider, user, wanted)
    if not wanted:
        record_failed_sign_in(session, user.email, "no_role")
        raise SignInRefused(
            f"Your groups at {provider.title} give you no role in the registry.", "no_role"
        )
    record_sign_in(session, user, "oidc")
    return user


def _create(
    session: Session, provider: Provider, claims: Mapping[str, Any], subject: str, now: dt.datetime
) -> User:
    if not provider.allow_create:
        raise SignInRefused(
            f"There is no registry account for your {provider.title} account.", "no_account"
        )
    email = str(claims.get("email") or "").strip().lower()
    if "@" not in email or len(email) > 254 or text_problem(email):
        raise SignInRefused(f"{provider.title} did not give your e-mail address.", "no_email")
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        # Never joined by e-mail alone.
        raise SignInRefused(
            f"An account with the e-mail {email} exists already: an administrator can "
            f"link it to your {provider.title} account.",
            "email_taken",
        )
    name = str(claims.get("name") or "")[:200]
    user = User(email=email, name="" if text_problem(name) else name, password_hash=None)
    session.add(user)
    session.flush()
    session.add(
        UserIdentity(user_id=user.id, issuer=provider.issuer, subject=subject, created_at=now)
    )
    session.flush()
    append_event(
        session,
        {
            "action": "user.create",
            "actor": provider.actor.label,
            "user_id": user.id,
            "email": email,
            "roles": [],
            "issuer": provider.issuer,
            "subject": subject,
        },
    )
    return user


def _apply_roles(session: Session, provider: Provider, user: User, wanted: list[str]) -> None:
    before = sorted(user.roles)
    if before == wanted:
        return
    user.role_rows = [r for r in user.role_rows if r.role in wanted] + [
        UserRole(role=r) for r in wanted if r not in before
    ]
    end_sessions(session, user)
    append_event(
        session,
        {
            "action": "user.roles",
            "actor": provider.actor.label,
            "user_id": user.id,
            "email": user.email,
            "roles": wanted,
            "previous_roles": before,
        },
    )


def link_identity(
    session: Session, actor: Actor, user: User, issuer: str, subject: str, now: dt.datetime
) -> UserIdentity:
    """Link ``user`` to the provider account (``issuer``, ``subject``): an
    administrator's decision (e.g. an existing local account moving to single sign-on,
    which a sign-in never does by e-mail)."""
    require(session, actor, "manage_accounts")
    issuer = issuer.strip().rstrip("/")
    errors: dict[str, list[str]] = {}
    if not issuer.startswith(("https://", "http://")) or len(issuer) > 500 or text_problem(issuer):
        errors["issuer"] = ["The provider's issuer URL."]
    if not subject or len(subject) > 255 or text_problem(subject):
        errors["subject"] = ["The provider's 'sub' claim for this person (1 to 255 characters)."]
    if errors:
        raise InvalidInput("The identity is not valid.", errors)
    taken = session.scalar(
        sa.select(UserIdentity).where(
            UserIdentity.issuer == issuer, UserIdentity.subject == subject
        )
    )
    if taken is not None:
        raise Conflict("That provider account is linked to a user already.")
    linked = UserIdentity(user_id=user.id, issuer=issuer, subject=subject, created_at=now)
    session.add(linked)
    session.flush()
    append_event(
        session,
        {
            "action": "user.identity_link",
            "actor": actor.label,
            "user_id": user.id,
            "email": user.email,
            "issuer": issuer,
            "subject": subject,
        },
    )
    return linked
