"""Owners who are not registry users: the addresses owner entries name.

Such an owner (business, technical or oversight) is e-mailed their systems' due items
at the address the owner entry gives, unless the policy refuses the address
(``REGISTRY_NOTIFY_OWNER_DOMAINS``: the domains such owners may be e-mailed at, ``*``
any, empty none); per kind of item as the address chose, as a user does: at once, in a
daily digest, or not at all (none chosen: at once). Every such e-mail carries a link
holding a token, signed with the application's secret key and dated, that names the
address: it leads to the address's preferences page, no sign-in needed, and
authorises exactly that address's preferences until it expires
(``REGISTRY_NOTIFY_LINK_DAYS``). Its one-click form (RFC 8058) asks for nothing of
every kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from registry.notifications.models import AddressPreference

# What the unsubscribe tokens are signed for (never valid as another signed value).
SALT = "registry.notifications.address-preferences"


def normalise(address: str) -> str:
    """An address as stored and compared: trimmed, case-folded."""
    return address.strip().casefold()


@dataclass(frozen=True)
class AddressPolicy:
    """The domains owners who are not users may be e-mailed at (None: any)."""

    domains: frozenset[str] | None

    @classmethod
    def of(cls, setting: str) -> AddressPolicy:
        """From ``REGISTRY_NOTIFY_OWNER_DOMAINS``: ``*`` any, else space- or
        comma-separated domains (empty: none)."""
        names = setting.replace(",", " ").split()
        if "*" in names:
            return cls(None)
        return cls(frozenset(normalise(n).lstrip("@") for n in names))

    def allows(self, address: str) -> bool:
        local, at, domain = normalise(address).rpartition("@")
        if not (local and at and domain) or any(c.isspace() for c in address.strip()):
            return False
        return self.domains is None or domain in self.domains


ANY = AddressPolicy(None)


class _Dated(TimestampSigner):
    """itsdangerous's dated signer, on the clock handed in (None: the system's)."""

    def __init__(self, *args: Any, at: dt.datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.at = at

    def get_timestamp(self) -> int:
        return int(self.at.timestamp()) if self.at is not None else super().get_timestamp()


def _serializer(secret: str, at: dt.datetime | None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT, signer=_Dated, signer_kwargs={"at": at})


def token(secret: str, address: str, *, at: dt.datetime | None = None) -> str:
    """The token of an address, signed and dated ``at`` (None: now): it authorises
    exactly that address's preferences until it expires (``address_of``)."""
    return str(_serializer(secret, at).dumps(normalise(address)))


class LinkRefused(Exception):
    """A link's token that authorises nothing: ``expired`` or not signed here."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "not valid")
        self.expired = expired


def address_of(
    secret: str, value: str, *, max_age: dt.timedelta, at: dt.datetime | None = None
) -> str:
    """The address a token names: ``LinkRefused`` when it was not signed here (forged,
    cut short, of another kind) or is older than ``max_age`` at ``at`` (None: now)."""
    try:
        found = _serializer(secret, at).loads(value, max_age=max_age.total_seconds())
    except SignatureExpired as exc:
        raise LinkRefused(expired=True) from exc
    except BadData as exc:
        raise LinkRefused(expired=False) from exc
    if not isinstance(found, str):
        raise LinkRefused(expired=False)
    return found


def modes(session: Session, addresses: Iterable[str] | None = None) -> dict[tuple[str, str], str]:
    """What the addresses (of ``addresses``; None: all) chose, by (address, kind): no
    entry, e-mail at once."""
    statement = sa.select(AddressPreference.address, AddressPreference.kind, AddressPreference.mode)
    if addresses is not None:
        statement = statement.where(AddressPreference.address.in_(sorted(set(addresses))))
    return {(a, k): m for a, k, m in session.execute(statement)}


def set_modes(session: Session, address: str, chosen: dict[str, str], now: dt.datetime) -> None:
    """Store what an address asks for per kind (kinds and modes checked by the caller).
    Flushes only."""
    key = normalise(address)
    for kind, mode in chosen.items():
        stored = session.get(AddressPreference, (key, kind))
        if stored is None:
            session.add(AddressPreference(address=key, kind=kind, mode=mode, changed_at=now))
        elif stored.mode != mode:
            stored.mode, stored.changed_at = mode, now
    session.flush()
