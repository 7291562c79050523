"""The dashboard: figures computed from the records in force, for readers only."""

from __future__ import annotations

import datetime as dt
import re

from registry.extensions import database
from registry.readiness import projection
from registry.readiness.overview import describe, overview
from registry.readiness.projection import current
from registry.records import writes
from registry.records.kinds import ART_73_DAYS
from registry.web import dashboard
from tests.records.samples import SAMPLES


def _system(session, officer, reference, stage="production", tier="high"):
    system, _ = writes.create_system(
        session,
        officer,
        {"name": f"System {reference}", "reference": reference, "stage": stage, "risk_tier": tier},
    )
    return system


def _world(session, officer, now):
    full = _system(session, officer, "full")
    for role in ("business", "technical"):
        writes.create_entry(session, officer, full, "owner", {**SAMPLES["owner"], "role": role})
    for kind in ("data_source", "review_procedure", "incident_procedure", "monitoring_plan"):
        writes.create_entry(session, officer, full, kind, SAMPLES[kind])
    gappy = _system(session, officer, "gappy", stage="pilot", tier="limited")
    writes.create_entry(session, officer, gappy, "owner", SAMPLES["owner"])  # business only
    _system(session, officer, "idea", stage="proposed", tier="minimal")  # not in use: no gaps
    aware = now - dt.timedelta(days=1, hours=2)
    serious = {
        **SAMPLES["incident"],
        "title": "Wrong scores for a district",
        "detected_at": (aware - dt.timedelta(hours=1)).isoformat(),
        "became_aware_at": aware.isoformat(),
        "serious": True,
        "serious_category": "widespread_or_critical_infrastructure",
        "status": "open",
    }
    writes.create_entry(session, officer, gappy, "incident", serious)
    late = {
        **serious,
        "title": "Late one",
        "serious_category": "death",
        "became_aware_at": (now - dt.timedelta(days=11)).isoformat(),
        "detected_at": (now - dt.timedelta(days=12)).isoformat(),
    }
    writes.create_entry(session, officer, full, "incident", late)
    closed = {**serious, "title": "Closed one", "status": "closed"}
    writes.create_entry(session, officer, full, "incident", closed)
    # Reviews fall due from the last performed review: overdue by 3 days, due in 10
    # days, and (not shown) in 45 days.
    for performed_days_ago in (33, 20, 45):
        frequency = 90 if performed_days_ago == 45 else 30
        procedure = writes.create_entry(
            session,
            officer,
            full,
            "review_procedure",
            {**SAMPLES["review_procedure"], "frequency_days": frequency},
        )
        review = {
            **{k: v for k, v in SAMPLES["review"].items() if k != "next_due"},
            "procedure_entry_id": procedure.entry_id,
            "performed_on": (now.date() - dt.timedelta(days=performed_days_ago)).isoformat(),
        }
        writes.create_entry(session, officer, full, "review", review)
    session.commit()


def test_overview_figures(session, officer):
    now = dt.datetime.now(dt.UTC)
    _world(session, officer, now)
    # The dashboard scores the records as recorded by and in effect at its instant
    # (readiness.evaluate's reading): an instant after the world was written.
    view = overview(session, dt.datetime.now(dt.UTC))
    assert view.by_stage_and_tier == {
        ("production", "high"): 1,
        ("pilot", "limited"): 1,
        ("proposed", "minimal"): 1,
    }
    # Systems in use that are not ready, with the readiness areas they miss.
    gaps = {g.reference: g.missing for g in view.gaps}
    # Most in need of attention first: risk tier, then stage, then more unmet areas.
    assert list(gaps) == ["full", "gappy", "idea"]
    assert gaps["gappy"][:3] == ["Business ownership", "Technical ownership", "Data readiness"]
    assert [(r.reference, r.days_left(now.date()), r.title) for r in view.reviews] == [
        ("full", -3, "Periodic review"),
        ("full", 10, "Periodic review"),
    ]
    titles = [i.title for i in view.incidents]
    assert titles == ["Late one", "Wrong scores for a district"]  # closed ones are not open
    late, soon = view.incidents
    assert late.time_left(now) < dt.timedelta(0)  # 10 days after awareness: overdue
    assert soon.deadline == soon.aware_at + dt.timedelta(
        days=ART_73_DAYS["widespread_or_critical_infrastructure"]
    )
    assert soon.time_left(now) == dt.timedelta(hours=22)  # 2 days after awareness
    assert len(view.changes) == 15 and view.changes[0].kind == "review"
    assert view.reviews[0].entry_id != view.reviews[1].entry_id  # one per procedure


def test_dashboard_page_for_readers_only(session, officer, client, login_as):
    now = dt.datetime.now(dt.UTC)
    _world(session, officer, now)
    assert client.get("/dashboard").status_code == 302  # sign in first
    login_as("auditor")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Wrong scores for a district" in page and "(serious)" in page
    assert re.search(r"<strong>21 h \d+ min left</strong>", page)
    assert re.search(r"overdue by 1 day", page)  # Art 73 for "Late one", 10 days
    assert "overdue by 3 days" in page and "in 10 days" in page
    assert "Business ownership, Technical ownership, Data readiness" in page
    client.post(
        "/logout",
        data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)},
    )
    login_as("admin")
    assert client.get("/dashboard").status_code == 403


def test_dashboard_escapes_what_was_recorded(session, officer, client, login_as):
    system = _system(session, officer, "x-1")
    incident = {**SAMPLES["incident"], "title": "<script>alert(1)</script>", "status": "open"}
    writes.create_entry(session, officer, system, "incident", incident)
    session.commit()
    login_as("compliance_officer")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_describe():
    assert describe(dt.timedelta(days=3, hours=4, minutes=5)) == "3 days 4 h"
    assert describe(dt.timedelta(days=1)) == "1 day 0 h"
    assert describe(-dt.timedelta(hours=5, minutes=12)) == "5 h 12 min"
    assert describe(dt.timedelta(minutes=12, seconds=30)) == "12 min"


def test_each_list_shows_its_first_rows(session, officer, client, login_as, monkeypatch):
    """However large the register, the dashboard lists the most urgent rows of each list
    and says how many there are (the page's size does not grow with the register)."""
    _world(session, officer, dt.datetime.now(dt.UTC))
    monkeypatch.setattr(dashboard, "SHOWN_GAPS", 1)
    login_as("auditor")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "The first 1 of 2 open incidents, the nearest deadline first." in page
    assert "The first 1 of 2 reviews due, the earliest first." in page


def _lists(view):
    return (
        [g.reference for g in view.gaps],
        [(r.reference, r.entry_id) for r in view.reviews],
        [(i.reference, i.entry_id) for i in view.incidents],
        [(d.reference, d.sha256) for d in view.expired],
        (view.gap_count, view.review_count, view.incident_count, view.expired_count),
        view.by_stage_and_tier,
    )


def test_first_rows_and_counts_are_those_of_the_whole_lists(app, session, officer, monkeypatch):
    """The first rows read in SQL from the stored projection, those evaluated by the
    read itself, and both mixed, are the first rows of the whole lists, as scoring
    every system now gives them; the counts are the whole lists' counts."""
    now = dt.datetime.now(dt.UTC)
    _world(session, officer, now)
    systems = []
    for n, (stage, tier) in enumerate(
        [("pilot", "high"), ("production", "minimal"), ("proposed", "high"), ("retired", "high")]
    ):
        system = _system(session, officer, f"more-{n}", stage, tier)
        systems.append(system)
        aware = now - dt.timedelta(hours=n + 1)
        writes.create_entry(
            session,
            officer,
            system,
            "incident",
            {
                **{k: v for k, v in SAMPLES["incident"].items() if k != "serious_category"},
                "status": "open",
                "detected_at": (aware - dt.timedelta(hours=1)).isoformat(),
                "became_aware_at": aware.isoformat(),
                "serious": n % 2 == 0,
                **({"serious_category": "other"} if n % 2 == 0 else {}),
            },
        )
    session.commit()
    db = database(app)

    def read(shown: int):
        with db.read_sessionmaker() as r:  # a read session: its projector stores rows
            return overview(r, dt.datetime.now(dt.UTC), shown=shown)

    def whole():  # the write session has no projector: every system scored now
        view = overview(session, dt.datetime.now(dt.UTC), shown=1000)
        session.rollback()  # its write lock (SQLite) would keep the projector waiting
        return view

    for shown in (1, 2, 3):
        expected = whole()
        first = read(shown)  # evaluated by the read, and stored
        with db.read_sessionmaker() as r:
            assert current(r, dt.datetime.now(dt.UTC)).fresh == {}
        stored = read(shown)  # read in SQL
        for got in (first, stored):
            lists = _lists(got)
            for i, full in enumerate(_lists(expected)[:4]):
                assert lists[i] == full[:shown]
            assert lists[4:] == _lists(expected)[4:]
    assert _lists(expected)[4] == (6, 2, 5, 0)  # the retired system only counted by stage
    assert expected.by_stage_and_tier[("retired", "high")] == 1
    # One system changed: its row evaluated by the read, the others read stored.
    writes.create_entry(
        session, officer, systems[1], "incident", {**SAMPLES["incident"], "status": "open"}
    )
    session.commit()
    expected = whole()
    mixed = _lists(read(2))
    assert mixed[:4] == tuple(full[:2] for full in _lists(expected)[:4])
    assert mixed[4:] == _lists(expected)[4:]
    # Most of the register changed: the read evaluates every system, reads none stored.
    monkeypatch.setattr(projection, "MANY", 1)
    for system in systems[:2]:
        writes.create_entry(
            session, officer, system, "incident", {**SAMPLES["incident"], "status": "open"}
        )
    session.commit()
    expected = whole()
    with db.read_sessionmaker() as r:
        assert not current(r, dt.datetime.now(dt.UTC)).stored
    everything = _lists(read(2))
    assert everything[:4] == tuple(full[:2] for full in _lists(expected)[:4])
    assert everything[4:] == _lists(expected)[4:]
