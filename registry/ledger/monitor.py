"""The auditor's monitor: fetch a registry's latest checkpoint, check it against a pinned
key and against the checkpoint the auditor holds (a consistency proof from the registry,
RFC 9162 section 2.1.4), and keep the new one. Pure but for HTTP and the state file; it
never needs the registry's database.

The consistency proof comes from ``GET /api/v1/ledger/consistency?from=M&to=N``, which
answers ``{"from", "to", "from_root", "to_root", "proof": [hex, …]}``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry.files import write_private
from registry.ledger.cosignature import Cosigner, verify_cosignatures
from registry.ledger.merkle import verify_consistency
from registry.ledger.note import Checkpoint, KnownKeys, NoteError, open_checkpoint

STATE_FILE = "checkpoint"
TIMEOUT = 30.0
MAX_ANSWER = 4 * 1024 * 1024


class MonitorAlarm(Exception):
    """The registry served something inconsistent (or could not prove it is not)."""


Fetch = Callable[[str], Any]  # path and query -> the decoded JSON answer


def http_fetch(base_url: str, token: str | None) -> Fetch:
    def fetch(path: str) -> Any:
        request = urllib.request.Request(base_url.rstrip("/") + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return json.loads(response.read(MAX_ANSWER))
        except urllib.error.HTTPError as error:
            with error:
                raise MonitorAlarm(f"GET {path} answered {error.code}") from None
        except (OSError, ValueError) as exc:
            raise MonitorAlarm(f"GET {path} failed: {exc}") from None

    return fetch


def check_consistency(old: Checkpoint, new: Checkpoint, answer: Any) -> None:
    """Raise :class:`MonitorAlarm` unless ``answer`` (the consistency endpoint's JSON)
    proves the tree of ``old`` is a prefix of the tree of ``new``."""
    try:
        proof = [bytes.fromhex(h) for h in answer["proof"]]
        ok = (
            answer["from"] == old.size
            and answer["to"] == new.size
            and bytes.fromhex(answer["from_root"]) == old.root
            and bytes.fromhex(answer["to_root"]) == new.root
        )
    except (KeyError, TypeError, ValueError):
        raise MonitorAlarm("the consistency proof is not in the documented shape") from None
    if not ok or not verify_consistency(old.size, new.size, old.root, new.root, proof):
        raise MonitorAlarm(
            f"inconsistent: the tree of {new.size} events does not extend the held"
            f" checkpoint of {old.size} events"
        )


def monitor(
    fetch: Fetch, state: Path, keys: KnownKeys, witnesses: list[Cosigner] = ()
) -> tuple[Checkpoint | None, Checkpoint]:
    """One round: the held checkpoint (None the first time) and the new one, kept."""
    latest = fetch("/api/v1/ledger/checkpoints/latest")
    note = latest.get("note") if isinstance(latest, dict) else None
    if not isinstance(note, str):
        raise MonitorAlarm("the latest checkpoint has no note")
    try:
        new, _ = open_checkpoint(note, keys)
    except NoteError as exc:
        raise MonitorAlarm(f"the latest checkpoint does not verify: {exc}") from None
    for witness in witnesses:
        try:
            if not verify_cosignatures(note, [witness]):
                raise MonitorAlarm(f"no cosignature from witness {witness.name}")
        except NoteError as exc:
            raise MonitorAlarm(f"witness {witness.name}: {exc}") from None
    held_path = state / STATE_FILE
    old = None
    if held_path.exists():
        try:
            old, _ = open_checkpoint(held_path.read_text(), keys)
        except (OSError, NoteError) as exc:
            raise MonitorAlarm(f"the held checkpoint {held_path} is unusable: {exc}") from None
        if old.origin != new.origin:
            raise MonitorAlarm(f"origin changed from {old.origin!r} to {new.origin!r}")
        if old.size > new.size:
            raise MonitorAlarm(
                f"rollback: the registry serves {new.size} events, the held checkpoint has"
                f" {old.size}"
            )
        if old.size == new.size:
            if old.root != new.root:
                raise MonitorAlarm(f"fork: two different trees of {new.size} events")
        elif old.size > 0:
            query = urllib.parse.urlencode({"from": old.size, "to": new.size})
            check_consistency(old, new, fetch(f"/api/v1/ledger/consistency?{query}"))
    write_private(held_path, note, replace=True)
    return old, new
