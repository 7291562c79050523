"""The domain's errors. Each surface maps them onto its own error shape."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


class RegistryError(Exception):
    """Base class: ``status`` is the HTTP status a surface should answer with."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(RegistryError):
    status = 422
    title = "Invalid input"

    def __init__(
        self, message: str, field_errors: dict[str, Any], *, headers: Collection[str] = ()
    ) -> None:
        """``headers``: the fields of ``field_errors`` that are request headers (a
        surface over HTTP names them as headers, not as fields of the body)."""
        super().__init__(message, errors=field_errors)
        self.field_errors = field_errors
        self.headers = frozenset(headers)


class NotFound(RegistryError):
    status = 404
    title = "Not found"


class PermissionDenied(RegistryError):
    status = 403
    title = "Forbidden"


class Conflict(RegistryError):
    status = 409
    title = "Conflict"


class StaleVersion(RegistryError):
    """A write was based on a version that is no longer the head."""

    status = 412
    title = "Precondition failed"

    def __init__(self, entry_id: int, based_on: int, current: int) -> None:
        super().__init__(
            f"Entry {entry_id} has changed: your change was based on version {based_on}, "
            f"the current version is {current}. Nothing was saved; review the current "
            "version and apply your change to it.",
            entry_id=entry_id,
            based_on=based_on,
            current_version=current,
        )
        self.current = current
