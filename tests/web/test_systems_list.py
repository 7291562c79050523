"""The systems list: search, stage and risk tier filters, sort orders and pagination
that keeps the filters (both engines)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

import registry.ledger.store as store
import registry.web.systems as systems
from registry.records import writes
from tests.records.samples import SAMPLES

UTC = dt.UTC
# (reference, name, stage, risk tier or None), registered in this order, a day apart.
SYSTEMS = [
    ("sys-c", "Charlie", "production", "limited"),
    ("sys-a", "Delta", "pilot", "high"),
    ("sys-d", "alpha", "proposed", None),
    ("sys-b", "Bravo", "retired", "high"),
    ("sys-e", "Echo", "pilot", "minimal"),
]


def _refs(page: str) -> list[str]:
    return re.findall(r"<td>(sys-[a-z0-9]+)</td>", page)


@pytest.fixture
def world(session, users, officer, monkeypatch) -> None:
    clock = {"now": dt.datetime(2100, 1, 1, tzinfo=UTC)}
    monkeypatch.setattr(store, "utcnow", lambda: clock["now"])
    made = {}
    for reference, name, stage, tier in SYSTEMS:
        profile = {"name": name, "reference": reference, "stage": stage}
        if tier:
            profile["risk_tier"] = tier
        made[reference], _ = writes.create_system(session, officer, profile)
        clock["now"] += dt.timedelta(days=1)
    # A later change to the first system makes it the most recently changed.
    writes.create_entry(session, officer, made["sys-c"], "owner", SAMPLES["owner"])
    session.commit()


def test_the_form_is_labelled(client, login_as, world):
    login_as("auditor")
    page = client.get("/systems").get_data(as_text=True)
    for name in ("q", "stage", "tier", "sort"):
        assert f'<label for="{name}">' in page
        assert f'id="{name}" name="{name}"' in page
    assert _refs(page) == ["sys-d", "sys-b", "sys-c", "sys-a", "sys-e"]  # by name
    assert '<time datetime="2100-01-06T00:00:00+00:00">' in page


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("high", ["sys-b", "sys-a"]),
        ("minimal", ["sys-e"]),
        ("unclassified", ["sys-d"]),
        ("prohibited", []),
        ("nonsense", ["sys-d", "sys-b", "sys-c", "sys-a", "sys-e"]),  # ignored
    ],
)
def test_risk_tier_filter(client, login_as, world, tier, expected):
    login_as("auditor")
    response = client.get("/systems", query_string={"tier": tier})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _refs(page) == expected
    if tier != "nonsense":
        assert f'<option value="{tier}" selected>' in page


def test_filters_combine(client, login_as, world):
    login_as("compliance_officer")
    page = client.get("/systems", query_string={"tier": "high", "stage": "pilot"}).get_data(
        as_text=True
    )
    assert _refs(page) == ["sys-a"]
    page = client.get("/systems", query_string={"tier": "high", "q": "brav"}).get_data(as_text=True)
    assert _refs(page) == ["sys-b"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["sys-d", "sys-b", "sys-c", "sys-a", "sys-e"]),
        ("reference", ["sys-a", "sys-b", "sys-c", "sys-d", "sys-e"]),
        ("stage", ["sys-d", "sys-a", "sys-e", "sys-c", "sys-b"]),
        ("risk_tier", ["sys-b", "sys-a", "sys-c", "sys-e", "sys-d"]),
        ("changed", ["sys-c", "sys-e", "sys-b", "sys-d", "sys-a"]),
        ("<script>", ["sys-d", "sys-b", "sys-c", "sys-a", "sys-e"]),  # ignored: by name
        ("", ["sys-d", "sys-b", "sys-c", "sys-a", "sys-e"]),
    ],
)
def test_sort_orders(client, login_as, world, sort, expected):
    login_as("technical_owner")
    response = client.get("/systems", query_string={"sort": sort})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _refs(page) == expected
    assert "<script>" not in page


def test_pagination_keeps_filters_and_sort(client, login_as, world, monkeypatch):
    monkeypatch.setattr(systems, "PAGE_SIZE", 1)
    login_as("auditor")
    seen: list[str] = []
    url: str | None = "/systems?sort=reference&tier=high&q=sys"
    pages = 0
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += _refs(page)
        pages += 1
        match = re.search(r'<a href="([^"]+)" rel="next">Next</a>', page)
        url = match.group(1).replace("&amp;", "&") if match else None
        if url:
            for kept in ("sort=reference", "tier=high", "q=sys"):
                assert kept in url
    assert seen == ["sys-a", "sys-b"]
    assert pages == 2

    seen, url = [], "/systems?sort=changed&stage="
    while url:
        page = client.get(url).get_data(as_text=True)
        seen += _refs(page)
        match = re.search(r'<a href="([^"]+)" rel="next">Next</a>', page)
        url = match.group(1).replace("&amp;", "&") if match else None
        if url:
            assert "sort=changed" in url and "stage=" not in url
    assert seen == ["sys-c", "sys-e", "sys-b", "sys-d", "sys-a"]
    # The previous link keeps them too.
    page = client.get("/systems?sort=stage&tier=high&page=2").get_data(as_text=True)
    match = re.search(r'<a href="([^"]+)" rel="prev">Previous</a>', page)
    assert match and "sort=stage" in match.group(1) and "tier=high" in match.group(1)
    assert _refs(page) == ["sys-b"]


def test_bad_values_are_not_errors(client, login_as, world):
    login_as("auditor")
    for query in (
        {"page": "x"},
        {"page": "-3"},
        {"page": "9" * 40},
        {"q": "a\x00b"},
        {"stage": "x"},
    ):
        assert client.get("/systems", query_string=query).status_code == 200
    # Text no record can hold matches nothing, and the page says why.
    page = client.get("/systems", query_string={"q": "a\x00b"}).get_data(as_text=True)
    assert 'role="alert">q is not valid text.</p>' in page
    assert "<td>" not in page
