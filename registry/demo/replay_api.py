"""The Dutch algorithm register's change stream replayed over the REST API (/api/v1).

A technical owner's pipeline, a client of the API and of nothing else: it keeps, per
register id, the profile entry id and the last ETag the registry gave it. An added
record is registered with ``POST /systems`` (with an ``Idempotency-Key`` named after the
change, so a retried POST changes nothing); an updated one is ``PUT /entries/<id>``
and a removed one ``POST /entries/<id>/retire``, both with ``If-Match``. Each version is
effective from its snapshot date, as :func:`nl_register.apply_change` does it through
the service.

:func:`read_register` reads the register back the way any client would: the pages of
``GET /systems`` (``as_of`` / ``effective_at``), then each system's profile with
``GET /entries/<id>`` at the same instants.

Both take a ``send(method, path, json, headers) -> (status, headers, body)``
callable, so the tests drive them through Flask's test client and the benchmark
(``bench/replay_api.py``) over real HTTP.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from registry.demo import nl_register

API = "/api/v1"
PAGE = 200

Response = tuple[int, Mapping[str, str], Any]
Send = Callable[[str, str, Any, Mapping[str, str]], Response]


class ApiFailure(Exception):
    """A request the pipeline needed did not succeed (or answered something else)."""

    def __init__(self, method: str, path: str, status: int, body: Any, why: str = "") -> None:
        self.method, self.path, self.status, self.body = method, path, status, body
        detail = f" ({why})" if why else ""
        super().__init__(f"{method} {path} -> {status}{detail}: {str(body)[:1000]}")


def call(
    send: Send,
    method: str,
    path: str,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], Any]:
    """One request; the answer's headers (lower-case names) and body. Raises
    :class:`ApiFailure` on anything but 2xx."""
    status, answered, body = send(method, path, json, dict(headers or {}))
    if not 200 <= status < 300:
        raise ApiFailure(method, path, status, body)
    return {k.lower(): v for k, v in answered.items()}, body


def with_query(path: str, **params: Any) -> str:
    """``path`` with the query of the params that are not None (instants as ISO 8601,
    escaped: the ``+`` of ``+00:00`` must not reach the server as a space)."""
    query = {
        k: v.isoformat() if isinstance(v, dt.datetime) else v
        for k, v in params.items()
        if v is not None
    }
    return f"{path}?{urlencode(query)}" if query else path


def etag(entry_id: int, version: int) -> str:
    return f'"{entry_id}.{version}"'


@dataclass
class Tracked:
    """What the pipeline knows of one register record's system."""

    reference: str
    entry_id: int
    etag: str


class RegisterPipeline:
    """Applies the change stream in order, one request per change."""

    def __init__(
        self, send: Send, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    ) -> None:
        self.send = send
        self.clock = clock
        self.tracked: dict[str, Tracked] = {}
        # Per snapshot date: a wall-clock instant taken once its changes were answered.
        self.recorded_by_end_of: dict[str, dt.datetime] = {}

    def replay(
        self,
        changes: Iterable[dict[str, Any]],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Apply ``changes`` in order; note the instant after each date's last change."""
        count = 0
        for date, group in itertools.groupby(changes, key=lambda c: c["date"]):
            for change in group:
                self.apply(change)
                count += 1
                if progress is not None:
                    progress(1)
            self.recorded_by_end_of[date] = self.clock()
        return count

    def recorded_by_end_of_day(self, date: str) -> dt.datetime:
        """The instant by which every change up to ``date`` had been recorded."""
        known = [d for d in self.recorded_by_end_of if d <= date]
        if not known:
            raise KeyError(f"no change up to {date} was replayed")
        return self.recorded_by_end_of[max(known)]

    def apply(self, change: dict[str, Any]) -> None:
        rid, op = change["id"], change["op"]
        when = nl_register.effective_instant(change["date"]).isoformat()
        reason = f"Algorithm register snapshot {change['date']} (change {change['seq']}, {op})"
        if op == "add":
            if rid in self.tracked:
                raise ValueError(f"change {change['seq']}: register id {rid} added twice")
            self._create(change, when, reason)
            return
        known = self.tracked.get(rid)
        if known is None:
            raise ValueError(f"change {change['seq']}: {op} of register id {rid} never added")
        if op == "update":
            method, path = "PUT", f"{API}/entries/{known.entry_id}"
            payload: dict[str, Any] = {
                "body": nl_register.profile_from_record(change["record"]),
                "effective_from": when,
                "reason": reason,
            }
        elif op == "remove":
            method, path = "POST", f"{API}/entries/{known.entry_id}/retire"
            payload = {"effective_from": when, "reason": reason}
        else:
            raise ValueError(f"unknown change op {op!r}")
        headers, body = call(self.send, method, path, payload, {"If-Match": known.etag})
        expected = etag(known.entry_id, _version(known.etag) + 1)
        if headers.get("etag") != expected or body.get("etag") != expected:
            raise ApiFailure(method, path, 200, body, f"ETag {headers.get('etag')}, not {expected}")
        if body.get("retired") is not (op == "remove"):
            raise ApiFailure(method, path, 200, body, f"retired should be {op == 'remove'}")
        known.etag = expected

    def _create(self, change: dict[str, Any], when: str, reason: str) -> None:
        path = f"{API}/systems"
        payload = {
            "profile": nl_register.profile_from_record(change["record"]),
            "effective_from": when,
            "reason": reason,
        }
        key = f"nl-register-change-{change['seq']}"
        headers, body = call(self.send, "POST", path, payload, {"Idempotency-Key": key})
        ref = nl_register.reference(change["id"])
        profile = body.get("profile") or {}
        entry_id = profile.get("id")
        if body.get("reference") != ref or not isinstance(entry_id, int):
            raise ApiFailure("POST", path, 201, body, f"expected system {ref} and a profile id")
        if headers.get("etag") != etag(entry_id, 1):
            raise ApiFailure("POST", path, 201, body, f"ETag {headers.get('etag')}")
        self.tracked[change["id"]] = Tracked(ref, entry_id, headers["etag"])


def _version(tag: str) -> int:
    return int(tag.strip('"').rsplit(".", 1)[1])


def iter_systems(
    send: Send,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    status: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item of ``GET /systems`` at those instants (of that ``status``: ``live``
    or ``retired``; both when None), page by page."""
    after = None
    while True:
        path = with_query(
            f"{API}/systems",
            limit=PAGE,
            after=after,
            as_of=as_of,
            effective_at=effective_at,
            status=status,
        )
        _, page = call(send, "GET", path)
        yield from page["items"]
        after = page.get("next_cursor")
        if after is None:
            return


def read_register(
    send: Send,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    map_: Callable[..., Iterable[Any]] = map,
    bodies: dict[tuple[int, int], dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The register as the API answers it, register id → ``comparable_record`` shape.

    ``map_`` fetches the profiles (e.g. a thread pool's ``map`` with a thread-safe send).
    Each profile read must show the version the listing named. ``bodies``, when given,
    caches profile bodies by (entry id, version) across calls, as a client may: a
    version never changes (its ETag is strong), so only versions not seen before are
    fetched; without it every profile is read at the instants asked.
    """
    # The register: the systems in it, not those removed from it (retired).
    items = list(iter_systems(send, as_of=as_of, effective_at=effective_at, status="live"))

    def profile(item: dict[str, Any]) -> dict[str, Any]:
        key = (item["profile_entry_id"], item["profile_version"])
        if bodies is not None and key in bodies:
            return bodies[key]
        path = with_query(
            f"{API}/entries/{item['profile_entry_id']}", as_of=as_of, effective_at=effective_at
        )
        _, entry = call(send, "GET", path)
        if (
            entry.get("kind") != "profile"
            or entry.get("system") != item["reference"]
            or entry.get("version") != item["profile_version"]
            or entry.get("retired")
        ):
            raise ApiFailure(
                "GET",
                path,
                200,
                entry,
                f"the listing named {item['reference']} version {item['profile_version']}",
            )
        if bodies is not None:
            bodies[key] = entry["body"]
        return entry["body"]

    register = {}
    for item, body in zip(items, map_(profile, items), strict=True):
        record = nl_register.record_from_profile(body)
        register[item["reference"].removeprefix(nl_register.REFERENCE_PREFIX)] = record
    return register


def differences(expected: dict[str, dict], actual: dict[str, dict]) -> list[str]:
    """Each register id on which two registers differ, with how (empty: identical)."""
    out = []
    for rid in sorted(expected.keys() | actual.keys()):
        if rid not in actual:
            out.append(f"{rid}: missing")
        elif rid not in expected:
            out.append(f"{rid}: not in the published register")
        elif expected[rid] != actual[rid]:
            fields = sorted(
                k
                for k in expected[rid].keys() | actual[rid].keys()
                if expected[rid].get(k) != actual[rid].get(k)
            )
            shown = ", ".join(
                f"{k}: {expected[rid].get(k)!r} != {actual[rid].get(k)!r}" for k in fields
            )
            out.append(f"{rid}: {shown}")
    return out
