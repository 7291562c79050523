"""The Dutch algorithm register (CC0) as AI-system profiles.

Each register record becomes a system whose profile carries the record's fields:
``title`` → name, ``doel`` → purpose, ``organisatie`` → organisation,
``juridische_basis`` → lawful basis, ``impactassessment`` → DPIA status,
``status`` → lifecycle stage, ``url`` → external reference; the register's own dates
(``laatst_gewijzigd``, renamed ``geregistreerd`` in June 2026, and ``toegevoegd``) are
kept too. A change of the stream becomes a version effective from its snapshot date.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.readiness.gate import check_promotion
from registry.records import reads, writes

STAGES = {"in_gebruik": "production", "ontwikkeling": "pilot", "buiten_gebruik": "retired"}
DPIA = {"Ja": "done", "Nee": "not_done", "Onbekend": "unknown"}
REFERENCE_PREFIX = "nl-"
MIRRORED_REGISTER = "Algoritmeregister of the Dutch government (algoritmes.overheid.nl)"


def read_changes(corpus: str | Path) -> Iterator[dict[str, Any]]:
    """The change stream, in order."""
    with gzip.open(Path(corpus) / "changes.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def read_snapshots(corpus: str | Path) -> list[dict[str, Any]]:
    return json.loads((Path(corpus) / "snapshots.json").read_text())


def reference(register_id: str) -> str:
    return REFERENCE_PREFIX + register_id


def profile_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """The profile body for a register record."""
    body: dict[str, Any] = {
        "name": record["title"],
        "reference": reference(record["id"]),
        "purpose": record["doel"],
        "organisation": record["organisatie"],
        "lawful_basis": record["juridische_basis"],
        "dpia_status": DPIA[record["impactassessment"]],
        "stage": STAGES[record["status"]],
        "external_reference": record["url"],
        # The stage is as the register publishes it: the promotion gate does not apply.
        "mirrors_register": MIRRORED_REGISTER,
    }
    updated = record.get("laatst_gewijzigd") or record.get("geregistreerd")
    if updated:
        body["register_updated_on"] = updated
    if record.get("toegevoegd"):
        body["register_added_on"] = record["toegevoegd"]
    return body


def comparable_record(record: dict[str, Any]) -> dict[str, Any]:
    """A register record in the shape both sides of a comparison share (the June 2026
    rename of ``laatst_gewijzigd`` to ``geregistreerd`` folded into one field)."""
    return {
        "id": record["id"],
        "title": record["title"],
        "doel": record["doel"],
        "organisatie": record["organisatie"],
        "juridische_basis": record["juridische_basis"],
        "impactassessment": record["impactassessment"],
        "status": record["status"],
        "url": record["url"],
        "gewijzigd": record.get("laatst_gewijzigd") or record.get("geregistreerd"),
        "toegevoegd": record.get("toegevoegd"),
    }


def record_from_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`profile_from_record`, as :func:`comparable_record` shapes it."""
    stages = {v: k for k, v in STAGES.items()}
    dpia = {v: k for k, v in DPIA.items()}
    return {
        "id": profile["reference"].removeprefix(REFERENCE_PREFIX),
        "title": profile["name"],
        "doel": profile.get("purpose", ""),
        "organisatie": profile.get("organisation", ""),
        "juridische_basis": profile.get("lawful_basis", ""),
        "impactassessment": dpia[profile["dpia_status"]],
        "status": stages[profile["stage"]],
        "url": profile.get("external_reference", ""),
        "gewijzigd": profile.get("register_updated_on"),
        "toegevoegd": profile.get("register_added_on"),
    }


def effective_instant(date: str) -> dt.datetime:
    """A change published in the snapshot of ``date`` is effective from its start (UTC)."""
    return dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC)


def end_of_day(date: str) -> dt.datetime:
    return effective_instant(date) + dt.timedelta(days=1, microseconds=-1)


def apply_change(session: Session, actor: Actor, change: dict[str, Any]) -> None:
    """Apply one change of the stream through the records service."""
    ref = reference(change["id"])
    when = effective_instant(change["date"])
    reason = (
        f"Algorithm register snapshot {change['date']} (change {change['seq']}, {change['op']})"
    )
    if change["op"] == "add":
        writes.create_system(
            session,
            actor,
            profile_from_record(change["record"]),
            effective_from=when,
            reason=reason,
        )
        return
    entry = reads.profile_entry(session, reads.get_system(session, ref))
    if change["op"] == "update":
        writes.update_entry(
            session,
            actor,
            entry,
            profile_from_record(change["record"]),
            base_version=entry.head_number,
            effective_from=when,
            reason=reason,
            gate=check_promotion,
        )
    elif change["op"] == "remove":
        writes.retire_entry(
            session,
            actor,
            entry,
            base_version=entry.head_number,
            effective_from=when,
            reason=reason,
        )
    else:
        raise ValueError(f"unknown change op {change['op']!r}")


def replay(
    session: Session,
    actor: Actor,
    changes: Iterable[dict[str, Any]],
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Apply a change stream in order; the caller commits (``registry demo`` once, for
    the whole demo). Returns the number of changes applied."""
    count = 0
    for change in changes:
        apply_change(session, actor, change)
        count += 1
        if progress is not None:
            progress(1)
    return count


def register_on(corpus: str | Path, date: str) -> dict[str, dict[str, Any]]:
    """The register as published at the end of ``date``, by folding the stream."""
    state: dict[str, dict[str, Any]] = {}
    for change in read_changes(corpus):
        if change["date"] > date:
            break
        if change["op"] == "remove":
            state.pop(change["id"], None)
        else:
            state[change["id"]] = change["record"]
    return state
