"""A system with many entries answers small: the first `per_kind` of each kind, and a
link per kind to the next page (the entries list, keyset by id), over the API and on
the system's page; following the links shows every entry once (both engines)."""

from __future__ import annotations

import re
from typing import Any

from registry.records import writes
from registry.web import systems as web_systems
from tests.records.samples import SAMPLES


def _world(session: Any, officer: Any) -> tuple[list[int], list[int]]:
    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "big"})
    sources = [
        writes.create_entry(
            session, officer, system, "data_source", {**SAMPLES["data_source"], "name": f"S{n}"}
        ).entry_id
        for n in range(7)
    ]
    logs = [
        writes.create_entry(session, officer, system, "change_log", SAMPLES["change_log"]).entry_id
        for _ in range(2)
    ]
    session.commit()
    return sources, logs


def test_the_resource_pages_entries_per_kind(session, officer, api_as):
    sources, logs = _world(session, officer)
    api = api_as("auditor")
    answer = api.get("/api/v1/systems/big", query_string={"per_kind": 3})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    shown = [(e["kind"], e["id"]) for e in body["entries"]]
    assert shown == [("change_log", i) for i in logs] + [("data_source", i) for i in sources[:3]]
    (more,) = body["more"]
    assert (more["kind"], more["total"]) == ("data_source", 7)
    seen = [i for k, i in shown if k == "data_source"]
    url = more["next"]
    while url:
        page = api.get(url)
        assert page.status_code == 200, page.get_data(as_text=True)
        seen += [e["id"] for e in page.get_json()["items"]]
        link = page.headers.get("Link")
        url = re.match(r"<([^>]+)>", link).group(1) if link else None
    assert seen == sources
    # The default is large enough for an ordinary system; as of an instant too.
    whole = api.get("/api/v1/systems/big").get_json()
    assert whole["more"] == [] and len(whole["entries"]) == 9
    at = api.get(
        "/api/v1/systems/big", query_string={"per_kind": 2, "as_of": "2100-01-01T00:00:00Z"}
    ).get_json()
    assert [(m["kind"], m["total"]) for m in at["more"]] == [("data_source", 7)]
    assert "as_of=2100-01-01" in at["more"][0]["next"]
    assert len(at["entries"]) == 4
    refused = api.get("/api/v1/systems/big", query_string={"per_kind": 0})
    assert refused.status_code == 422


def test_the_page_shows_entries_per_kind(session, officer, users, client, login_as, monkeypatch):
    sources, _ = _world(session, officer)
    session.close()
    monkeypatch.setattr(web_systems, "PER_KIND", 3)
    login_as("auditor")
    page = client.get("/systems/big").get_data(as_text=True)
    assert page.count("/entries/") > 0
    found = [int(n) for n in re.findall(r"/systems/big/entries/(\d+)/history", page)]
    assert [n for n in found if n in sources] == sources[:3]
    seen = [n for n in found if n in sources]
    assert "The first 3 of 7." in page
    while match := re.search(r'<a href="([^"]+)" rel="next">Next data source entries', page):
        page = client.get(match.group(1).replace("&amp;", "&")).get_data(as_text=True)
        seen += [int(n) for n in re.findall(r"/systems/big/entries/(\d+)/history", page)]
    assert seen == sources
    assert client.get("/systems/big?kind=nonsense").status_code == 404
