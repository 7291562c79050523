"""One count of systems: the dashboard, the systems list and the API's list totals say
the same number, with how many of them are retired; the dashboard ranks the systems
that are not ready and links to all of them."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from registry.records import reads, writes
from registry.records.search import SystemCount, count_systems
from registry.web import dashboard

SYSTEMS = [
    # reference, stage, risk tier
    ("a-high-prod", "production", "high"),
    ("b-high-pilot", "pilot", "high"),
    ("c-prohibited-idea", "proposed", "prohibited"),
    ("d-minimal-prod", "production", "minimal"),
    ("e-none-pilot", "pilot", None),
    ("f-old", "retired", "high"),
]


@pytest.fixture
def world(session, officer):
    made = {}
    for reference, stage, tier in SYSTEMS:
        profile = {"name": f"System {reference}", "reference": reference, "stage": stage}
        if tier:
            profile["risk_tier"] = tier
        made[reference], _ = writes.create_system(session, officer, profile)
    # A system whose profile entry was retired (a tombstone) stays listed, as retired,
    # though the profile last in force says production.
    gone, version = writes.create_system(
        session, officer, {"name": "Gone", "reference": "g-gone", "stage": "production"}
    )
    writes.retire_entry(session, officer, version.entry_id, base_version=1)
    session.commit()
    return made


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" .", ".")


def test_the_count_is_the_same_everywhere(session, world, client, login_as):
    count = count_systems(session)
    assert count == SystemCount(7, 2)  # f-old out of use, g-gone retired from the register
    assert str(count) == "7 systems, 2 of them retired"
    assert len(reads.register(session, with_retired=True)) == count.systems
    assert count_systems(session, status="retired") == SystemCount(1, 1)
    assert count_systems(session, status="live") == SystemCount(6, 1)
    assert count_systems(session, risk_tier="high", q="prod") == SystemCount(1, 0)
    session.close()  # the test's session holds no lock while the app answers

    login_as("compliance_officer")
    board = _text(client.get("/dashboard").get_data(as_text=True))
    assert "The register lists 7 systems, 2 of them retired." in board
    assert re.search(r"All (\d+ ){4}\d+ 7 ", board)  # the table's totals add up to it
    listed = _text(client.get("/systems").get_data(as_text=True))
    assert "7 systems, 2 of them retired." in listed
    filtered = _text(client.get("/systems?stage=retired").get_data(as_text=True))
    assert "2 match the filters (the register lists 7 systems, 2 of them retired)." in filtered
    gone = _text(client.get("/systems?status=retired").get_data(as_text=True))
    assert "1 match the filters (the register lists 7 systems, 2 of them retired)." in gone
    assert "Gone retired" in gone and "System a-high-prod" not in gone


def test_the_api_counts_the_same(world, api_as):
    """The API's list gives the count the web pages show (the world above: 7 systems,
    2 of them retired)."""
    api = api_as("auditor")
    page = api.get("/api/v1/systems?limit=2").get_json()
    assert (page["total"], page["retired"], len(page["items"])) == (7, 2, 2)
    after = api.get(f"/api/v1/systems?limit=2&after={page['next_cursor']}").get_json()
    assert (after["total"], after["retired"]) == (7, 2)  # every page: the whole query
    only = api.get("/api/v1/systems?stage=retired").get_json()
    assert (only["total"], only["retired"]) == (2, 2)
    high = api.get("/api/v1/systems?risk_tier=high&q=prod").get_json()
    assert high["total"] == 1 == len(high["items"])


def test_the_dashboard_and_the_stage_filter_agree(session, world, client, login_as, api_as):
    """A system retired from the register is retired, in no other stage: the
    dashboard's systems by stage, the systems list's stage filter and the API's (now,
    and as recorded at an instant) count it so alike (g-gone, whose profile last said
    production)."""
    expected = {"proposed": 1, "pilot": 2, "production": 2, "retired": 2}
    assert count_systems(session, stage="production") == SystemCount(2, 0)
    assert count_systems(session, stage="retired") == SystemCount(2, 2)
    session.close()  # the test's session holds no lock while the app answers

    login_as("compliance_officer")
    board = client.get("/dashboard").get_data(as_text=True)
    table = board[board.index('id="stages"') : board.index("</table>", board.index('id="stages"'))]
    rows = dict(re.findall(r'<th scope="row">(\w+)</th>.*?<td>(\d+)</td></tr>', table, re.S))
    assert {stage: int(rows[stage]) for stage in expected} == expected

    api = api_as("auditor")
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for stage, n in expected.items():
        listed = _text(client.get(f"/systems?stage={stage}").get_data(as_text=True))
        assert f"{n} match the filters (the register lists 7 systems" in listed
        for query in (f"stage={stage}", f"stage={stage}&as_of={now}"):
            page = api.get(f"/api/v1/systems?{query}").get_json()
            assert (page["total"], len(page["items"])) == (n, n), query
            found = {i["reference"] for i in page["items"]}
            assert ("g-gone" in found) == (stage == "retired"), query


def test_the_dashboard_ranks_and_links_to_the_whole_list(
    session, world, client, login_as, monkeypatch
):
    monkeypatch.setattr(dashboard, "SHOWN_GAPS", 3)
    login_as("compliance_officer")
    html = client.get("/dashboard").get_data(as_text=True)
    section = html[html.index('id="gaps"') : html.index('id="changes"')]
    shown = re.findall(r"/systems/([a-z-]+)/readiness", section)
    # Risk tier first (prohibited, high, ..., unclassified), then stage.
    assert shown == ["c-prohibited-idea", "a-high-prod", "b-high-pilot"]
    text = _text(section)
    assert "Systems that are not ready (5)" in text
    assert "The first 3 of 5." in text
    link = re.search(r'<a href="([^"]+)">All 5 systems that are not ready</a>', section)
    assert link and link.group(1) == "/systems?attention=not_ready"
    listed = client.get(link.group(1)).get_data(as_text=True)
    rows = re.findall(r'<a href="/systems/([a-z-]+)">', listed)
    assert rows == [
        "c-prohibited-idea",
        "a-high-prod",
        "b-high-pilot",
        "d-minimal-prod",
        "e-none-pilot",
    ]
    assert "5 match the filters (the register lists 7 systems, 2 of them retired)." in _text(listed)


def test_more_unmet_areas_come_first_within_tier_and_stage(session, officer, client, login_as):
    from tests.records.samples import SAMPLES

    for reference in ("p-fewer", "q-more"):
        writes.create_system(
            session,
            officer,
            {"name": reference, "reference": reference, "stage": "pilot", "risk_tier": "high"},
        )
    fewer = reads.get_system(session, "p-fewer")
    for kind in ("data_source", "monitoring_plan", "incident_procedure"):
        writes.create_entry(session, officer, fewer, kind, SAMPLES[kind])
    session.commit()
    login_as("auditor")
    html = client.get("/dashboard").get_data(as_text=True)
    section = html[html.index('id="gaps"') : html.index('id="changes"')]
    assert re.findall(r"/systems/([a-z-]+)/readiness", section) == ["q-more", "p-fewer"]
