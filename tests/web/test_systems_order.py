"""The systems list sorted and paged in SQL gives, page after page and in its
downloads, the order the list had when it sorted every listed system in Python (the
rules restated below as the oracle), on a varied register; owners are found by name
and e-mail (both engines)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from typing import Any

import pytest

import registry.web.systems as systems
from registry.ledger import trail
from registry.readiness.overview import not_ready
from registry.records import search_index, writes
from registry.records.kinds import RISK_TIERS, STAGES, risk_tier
from registry.records.models import Entry
from registry.records.search import count_systems, matching_systems

NAMES = [
    "alpha",
    "Alpha",
    "ÉCLAIR",
    "eclair",
    "Zeta",
    "zeta",
    "Straße",
    "strasse",
    "ω",
    "Ω",
    "b",
    "B",
]
TIERS = [*RISK_TIERS[:-1], None]
FILTERS: list[dict[str, str]] = [
    {},
    {"stage": "pilot"},
    {"tier": "high"},
    {"tier": "unclassified"},
    {"status": "retired"},
    {"status": "live"},
    {"q": "model"},
    {"q": "owner"},
    {"attention": "not_ready"},
    {"attention": "not_ready", "tier": "limited"},
]


def _refs(page: str) -> list[str]:
    return re.findall(r"<td>(sys-[0-9]+)</td>", page)


@pytest.fixture
def world(session, users, officer) -> None:
    """30 systems: names that differ only in case or that fold alike, every stage and
    tier, some retired from the register, some with owners, changed in a shuffled
    order."""
    rng = random.Random(19)
    made = []
    for n in range(30):
        profile: dict[str, Any] = {
            "reference": f"sys-{n:02d}",
            "name": NAMES[n % len(NAMES)] + ("" if n < 12 else f" model {n}"),
            "stage": rng.choice(STAGES),
        }
        if (tier := rng.choice(TIERS)) is not None:
            profile["risk_tier"] = tier
        if profile["stage"] == "production":  # no gate here: pilots stand in
            profile["stage"] = "pilot"
        system, version = writes.create_system(session, officer, profile)
        made.append((system, version.entry_id))
    for system, _entry in rng.sample(made, 10):
        person = {
            "name": f"Owner {system.reference}",
            "email": f"{system.reference}@owners.example",
        }
        writes.create_entry(
            session,
            officer,
            system,
            "owner",
            {"role": "business", "person": person, "start": "2025-01-01"},
        )
    for _system, entry_id in rng.sample(made, 5):
        writes.retire_entry(session, officer, entry_id, base_version=1, reason="Out of use")
    session.commit()


def _oracle(session, args: dict[str, str]) -> list[str]:
    """The list as it was sorted in Python (name folded, then the sort's key, stably)."""
    rows = matching_systems(
        session,
        q=args.get("q"),
        stage=args.get("stage"),
        risk_tier=args.get("tier"),
        status=args.get("status"),
    )
    sort = args.get("sort") or ("attention" if args.get("attention") else "name")
    rank = {g.reference: i for i, g in enumerate(not_ready(session, dt.datetime.now(dt.UTC)))}
    if args.get("attention"):
        rows = [r for r in rows if r.system.reference in rank]
    changed = trail.last_changed(session)
    rows.sort(key=lambda r: (r.profile.get("name", "").casefold(), r.system.reference))
    if sort == "reference":
        rows.sort(key=lambda r: r.system.reference)
    elif sort == "stage":
        order = {s: i for i, s in enumerate(STAGES)}
        rows.sort(key=lambda r: order.get(r.profile.get("stage", ""), len(order)))
    elif sort == "risk_tier":
        order = {t: i for i, t in enumerate(RISK_TIERS)}
        rows.sort(key=lambda r: order.get(risk_tier(r.profile), len(order)))
    elif sort == "attention":
        rows.sort(key=lambda r: rank.get(r.system.reference, len(rank)))
    elif sort == "changed":
        rows.sort(key=lambda r: changed[r.system.id], reverse=True)
    return [r.system.reference for r in rows]


def test_every_sort_and_filter_pages_as_python_sorted(
    client, login_as, world, session, monkeypatch
):
    monkeypatch.setattr(systems, "PAGE_SIZE", 4)
    chosen: list[bool] = []  # a text search's page read in the order's index, or not
    in_order = search_index._read_in_order

    def noted(*args: Any) -> bool:
        chosen.append(in_order(*args))
        return chosen[-1]

    monkeypatch.setattr(search_index, "_read_in_order", noted)
    login_as("auditor")
    for args in FILTERS:
        for sort in systems.SORTS:
            query = {**args, "sort": sort}
            expected = _oracle(session, query)
            seen: list[str] = []
            for number in range(1, 12):
                page = client.get("/systems", query_string={**query, "page": number})
                assert page.status_code == 200
                text = page.get_data(as_text=True)
                seen += _refs(text)
                if 'rel="next"' not in text:
                    break
            assert seen == expected, query
            if args:
                assert f"{len(expected):,} match the filters" in text
            sheet = client.get("/systems", query_string={**query, "format": "csv"})
            rows = list(csv.reader(io.StringIO(sheet.get_data(as_text=True).lstrip("\ufeff"))))
            assert [r[0] for r in rows[1:]] == expected, query
    # The varied register exercises every part of the orders.
    assert len(_oracle(session, {"q": "model"})) == 18
    assert _oracle(session, {"status": "retired"})
    # The attention order has both its parts (the systems not ready, then the others),
    # and pages of four read the later pages backwards, across them.
    assert 0 < len(_oracle(session, {"attention": "not_ready"})) < len(_oracle(session, {})) - 8
    if session.get_bind().dialect.name == "sqlite":  # both ways were taken
        assert set(chosen) == {True, False}


def test_owners_are_found_by_name_and_email(client, login_as, world, session):
    login_as("auditor")
    owned = sorted(
        s
        for (s,) in session.execute(
            Entry.__table__.select().with_only_columns(Entry.system_id).where(Entry.kind == "owner")
        )
    )
    assert len(owned) == 10
    found = _refs(
        client.get("/systems", query_string={"q": "owner", "sort": "reference"}).get_data(
            as_text=True
        )
    )
    assert len(found) == 10 and found == sorted(found)
    one = found[3]
    for q in (f"{one}@owners.example", f"Owner {one}", "owners.exa " + one):
        assert _refs(client.get("/systems", query_string={"q": q}).get_data(as_text=True)) == [one]


def test_the_register_now_is_the_register_as_of_now(world, session):
    """The index's rows (the register now) and the versions in force at this instant
    (the as-of path) list and count the same systems under every filter but text."""
    now = dt.datetime.now(dt.UTC)
    for args in FILTERS:
        if "q" in args or "attention" in args:
            continue
        query = {
            "stage": args.get("stage"),
            "risk_tier": args.get("tier"),
            "status": args.get("status"),
        }
        listed = matching_systems(session, **query)
        then = matching_systems(session, as_of=now, **query)
        assert [(r.system.reference, r.retired, r.version.id) for r in listed] == [
            (r.system.reference, r.retired, r.version.id) for r in then
        ]
        assert count_systems(session, **query) == count_systems(session, as_of=now, **query)
    assert count_systems(session, status="retired").systems == 5
