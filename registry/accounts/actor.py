"""Who is acting: the one value every service takes explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Actor:
    """A user (through a web session or an API token) or the registry itself (CLI jobs).

    ``scopes`` is ``None`` for a web session (the user's roles alone decide) and the
    token's scopes for an API call.
    """

    label: str
    roles: frozenset[str]
    user_id: int | None = None
    email: str | None = None
    scopes: frozenset[str] | None = None

    @classmethod
    def for_user(cls, user: object, scopes: frozenset[str] | None = None) -> Actor:
        return cls(
            label=f"user:{user.email}",  # type: ignore[attr-defined]
            roles=user.roles,  # type: ignore[attr-defined]
            user_id=user.id,  # type: ignore[attr-defined]
            email=user.email,  # type: ignore[attr-defined]
            scopes=scopes,
        )

    @classmethod
    def system(cls, job: str, roles: frozenset[str] = frozenset({"compliance_officer"})) -> Actor:
        """The registry acting on its own behalf, e.g. a CLI import run by an operator."""
        return cls(label=f"system:{job}", roles=roles)

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


class DeferredActor(Actor):
    """An actor known only once something is read: an API token's user, whose lookup
    goes to the database with the first round trip of the request's unit of work (a
    write's state reads) instead of one of its own.

    Its fields are filled in by ``resolve()`` the first time any of them is read (then it
    is that actor in every respect); :func:`is_known` tells whether that has happened,
    for code that can do without knowing yet (a write's state read)."""

    def __init__(self, resolve: Callable[[], Actor]) -> None:  # no fields yet
        self.__dict__["resolve"] = resolve


def _deferred(name: str) -> property:
    def get(self: DeferredActor) -> Any:
        known = self.__dict__
        if name not in known:
            actor = known["resolve"]()
            known.update({f: getattr(actor, f) for f in _FIELDS})
        return known[name]

    return property(get)


_FIELDS = tuple(f.name for f in fields(Actor))
for _name in _FIELDS:  # each field is read through the actor once resolved
    setattr(DeferredActor, _name, _deferred(_name))


def is_known(actor: Actor) -> bool:
    """Whether ``actor``'s fields can be read without a round trip to the database."""
    return not isinstance(actor, DeferredActor) or "label" in actor.__dict__
