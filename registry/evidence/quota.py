"""How many evidence packs a user may export: at most ``per_hour`` exports of any scope
in any hour (and one whole-registry export at a time, which the job rows tell:
``jobs.service.ask_export``).

The counts live in a ``limits`` storage (the one the app's rate limiter uses, set with
``REGISTRY_RATELIMIT_STORAGE_URI``): per process with ``memory://``, shared by every
worker and host with ``redis://…``. The command line is not limited: it is the
operator's.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerHour
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter

from registry.accounts.actor import Actor
from registry.errors import RegistryError

# What to tell a user whose whole-registry export is still running: when to look again.
RUNNING_RETRY_AFTER = 30


class TooManyExports(RegistryError):
    """An export refused by the quota; ``retry_after``: seconds until one may start."""

    status = 429
    title = "Too many requests"
    code = "too_many_exports"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


def _wait_phrase(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


class ExportQuota:
    """The export limits of one application, counted in ``storage``."""

    def __init__(self, storage: Storage, per_hour: int, prefix: str = "registry") -> None:
        self.storage = storage
        self.prefix = prefix
        self.per_hour = RateLimitItemPerHour(per_hour)
        self.window = MovingWindowRateLimiter(storage)

    @staticmethod
    def _who(actor: Actor) -> str:
        return f"user:{actor.user_id}" if actor.user_id is not None else actor.label

    def take(self, actor: Actor) -> None:
        """Count one export asked for by ``actor``, or raise :class:`TooManyExports`
        when they have asked for ``per_hour`` in the last hour."""
        who = self._who(actor)
        namespace = f"{self.prefix}/exports"
        if not self.window.hit(self.per_hour, namespace, who):
            reset, _ = self.window.get_window_stats(self.per_hour, namespace, who)
            wait = max(1, math.ceil(reset - time.time()))
            n = self.per_hour.amount
            raise TooManyExports(
                f"You have exported {n} evidence pack{'s' if n != 1 else ''} in the "
                "last hour, as many as the registry allows. Please try again in "
                f"{_wait_phrase(wait)}.",
                wait,
            )
