"""Replay part of the Dutch algorithm register's change stream over the REST API, as a
technical owner's pipeline would (If-Match on every change), and read the register
back over the API as it stood on chosen snapshot dates, field for field: as recorded
(``as_of``) and as effective (``effective_at``).

The slice is every change of a sample of register ids: the ids divisible by 32, and
every id changed after the three big snapshots (2026-05-13, 06-08, 06-09), so that all
dates, the late updates and the one removal are in it: 457 changes of 177 systems. The
whole stream goes over real HTTP in ``bench/replay_api.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry.config import load_config
from registry.demo import nl_register
from registry.demo.replay_api import (
    API,
    RegisterPipeline,
    differences,
    read_register,
    with_query,
)
from registry.ledger.keys import load_key
from registry.ledger.store import verify_ledger

CORPUS = Path(load_config()["DEMO_CORPUS"])
DATES = ["2026-05-13", "2026-06-08", "2026-06-09", "2026-06-24", "2026-08-08"]
REMOVED = "59917797"  # retired on 2026-06-24


def _slice() -> tuple[list[dict[str, Any]], set[str]]:
    changes = list(nl_register.read_changes(CORPUS))
    ids = {c["id"] for c in changes if c["date"] > "2026-06-09" or int(c["id"]) % 32 == 0}
    return [c for c in changes if c["id"] in ids], ids


def _published(date: str, ids: set[str]) -> dict[str, dict]:
    return {
        rid: nl_register.comparable_record(rec)
        for rid, rec in nl_register.register_on(CORPUS, date).items()
        if rid in ids
    }


def test_replay_over_the_api_reproduces_the_register_on_snapshot_dates(app, session, api_as):
    assert CORPUS.joinpath("changes.jsonl.gz").exists(), f"corpus missing at {CORPUS}"
    client = api_as("compliance_officer")
    answered: list[tuple[str, str, int]] = []

    def send(method: str, path: str, json: Any, headers: Any) -> tuple[int, Any, Any]:
        response = client.open(method, path, json=json, headers=headers)
        answered.append((method, path, response.status_code))
        return response.status_code, response.headers, response.get_json(silent=True)

    changes, ids = _slice()
    assert 400 <= len(changes) <= 500 and REMOVED in ids
    assert {c["op"] for c in changes} == {"add", "update", "remove"}
    pipeline = RegisterPipeline(send)
    assert pipeline.replay(changes) == len(changes)
    writes = len(answered)
    assert writes == len(changes)
    assert set(pipeline.recorded_by_end_of) >= set(DATES)

    for date in DATES:
        expected = _published(date, ids)
        assert expected, date
        # Transaction time: as the registry had recorded it once that date was posted.
        as_of = pipeline.recorded_by_end_of_day(date)
        recorded = read_register(send, as_of=as_of)
        assert differences(expected, recorded) == [], f"as_of {date}"
        # Valid time: as effective at the end of that day (recorded by now).
        effective = read_register(send, effective_at=nl_register.end_of_day(date))
        assert differences(expected, effective) == [], f"effective_at {date}"

    # Both: what had been recorded by the end of one date about a later instant.
    for recorded_by, effective_on, published_on in [
        ("2026-06-08", DATES[-1], "2026-06-08"),  # the 06-09 updates not yet recorded
        (DATES[-1], "2026-06-23", "2026-06-23"),  # recorded, but not yet in effect
    ]:
        both = read_register(
            send,
            as_of=pipeline.recorded_by_end_of_day(recorded_by),
            effective_at=nl_register.end_of_day(effective_on),
        )
        assert differences(_published(published_on, ids), both) == [], (recorded_by, effective_on)

    # The one removal is a tombstone: out of the register (shown as retired), kept in
    # its history.
    removed = pipeline.tracked[REMOVED]
    gone = client.get(f"{API}/systems/{removed.reference}")
    assert gone.status_code == 200 and gone.get_json()["retired"] is True, gone.get_json()
    (listed,) = [
        item
        for item in client.get(f"{API}/systems?status=retired&limit=200").get_json()["items"]
        if item["reference"] == removed.reference
    ]
    assert listed["retired"] is True and listed["name"]
    before = client.get(
        with_query(
            f"{API}/systems/{removed.reference}",
            as_of=pipeline.recorded_by_end_of_day("2026-06-23"),
        )
    )
    assert before.status_code == 200, before.get_json()
    history = client.get(f"{API}/entries/{removed.entry_id}/versions").get_json()["items"]
    assert history[-1]["tombstone"] and len(history) >= 2
    assert f'"{removed.entry_id}.{len(history)}"' == removed.etag

    assert all(200 <= status < 300 for _, _, status in answered[:writes])
    assert {s for _, _, s in answered[:writes]} == {200, 201}
    assert all(status == 200 for _, _, status in answered[writes:])
    session.rollback()
    signer = load_key(Path(app.config["SIGNING_KEY_PATH"]))
    report = verify_ledger(session, [signer.verifier_key])
    assert report.ok, report
