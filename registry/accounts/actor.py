"""Who is acting: the one value every service takes explicitly."""

from __future__ import annotations

from dataclasses import dataclass


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
