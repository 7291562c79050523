"""Replay the Dutch algorithm register's 4,525 changes through the records service and
read the register back as it stood on chosen snapshot dates, field for field."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest

from registry.accounts.actor import Actor
from registry.config import load_config
from registry.demo import nl_register
from registry.ledger.store import verify_ledger
from registry.records import reads

CORPUS = Path(load_config()["DEMO_CORPUS"])
DATES = ["2026-05-13", "2026-06-08", "2026-06-09", "2026-06-24", "2026-07-15", "2026-08-08"]


def _published(date: str) -> dict[str, dict]:
    return {
        rid: nl_register.comparable_record(rec)
        for rid, rec in nl_register.register_on(CORPUS, date).items()
    }


def _as_read(rows) -> dict[str, dict]:
    return {
        r.system.reference.removeprefix(
            nl_register.REFERENCE_PREFIX
        ): nl_register.record_from_profile(r.profile)
        for r in rows
    }


@pytest.mark.slow
def test_replay_reproduces_the_register_on_snapshot_dates(session):
    assert CORPUS.joinpath("changes.jsonl.gz").exists(), f"corpus missing at {CORPUS}"
    actor = Actor.system("nl-replay")
    recorded_by_end_of: dict[str, dt.datetime] = {}
    count = 0
    for date, changes in itertools.groupby(
        nl_register.read_changes(CORPUS), key=lambda c: c["date"]
    ):
        count += nl_register.replay(session, actor, changes)
        session.commit()
        recorded_by_end_of[date] = dt.datetime.now(dt.UTC)
    assert count == 4525
    snapshots = nl_register.read_snapshots(CORPUS)
    assert set(DATES) <= {s["date"] for s in snapshots}
    for date in DATES:
        expected = _published(date)
        published_count = [s["records"] for s in snapshots if s["date"] == date][-1]
        assert len(expected) == published_count
        # Valid time: as effective at the end of that day.
        effective = _as_read(reads.register(session, effective_at=nl_register.end_of_day(date)))
        assert effective == expected, date
        # Transaction time: as the registry had recorded it once that day was loaded.
        recorded = _as_read(reads.register(session, as_of=recorded_by_end_of[date]))
        assert recorded == expected, date
    # The one removal (2026-06-24) is a tombstone: gone from the register, kept in history.
    removed = reads.get_system(session, nl_register.reference("59917797"))
    history = reads.history(session, reads.profile_entry(session, removed))
    assert history[-1].tombstone and len(history) >= 2
    assert verify_ledger(session).ok
