"""Records read as people read them on the web pages (both engines): labels from the
schema, persons as "Name <e-mail>", Yes/No, one instant format, money with its
currency, lists as lists, metrics as a table, attachments with a short hash, and a
review's procedure as a link to that entry."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from registry.records import writes
from tests.records.samples import HASH, SAMPLES

UTC = dt.UTC
DOC = "cd" * 32


def document_every_kind(session: Any, officer: Any, reference: str = "sys-1") -> dict[str, int]:
    """A system with an entry of every kind whose values need formatting; returns the
    entry id of each kind."""
    profile = {
        **SAMPLES["profile"],
        "reference": reference,
        "risk_tier": "limited",
        "art_6_3_rationale": "Narrow procedural task only.",
        "dpia_status": "not_done",
        "dpia_reference": "DPIA-2025-017/appendix-b/section-4/version-12",
        "eu_database_reference": "EUDB-REF-0000000000000000000000000000042",
        "external_reference": "https://register.example.org/algorithms/benefit-fraud-triage/"
        "versions/2025-06-01/documentation-and-decision-records",
    }
    system, version = writes.create_system(session, officer, profile)
    ids = {"profile": version.entry_id}
    bodies = {
        **SAMPLES,
        "owner": {
            **SAMPLES["owner"],
            "role": "technical",
            "delegate": {"name": "Dan Delegate", "email": "dan@example.org"},
            "escalation_contact": {"name": "Erin Escalation", "email": "erin@example.org"},
        },
        "data_source": {
            **SAMPLES["data_source"],
            "attachments": [
                {
                    "name": "datasheet.pdf",
                    "sha256": DOC,
                    "uri": "https://files.example.org/datasheets/applications-2019-2024.pdf",
                }
            ],
        },
        "review_procedure": {**SAMPLES["review_procedure"], "type": "human_oversight"},
        "monitoring_plan": {
            **SAMPLES["monitoring_plan"],
            "metrics": [
                {"name": "recall", "category": "accuracy", "threshold": 0.8, "direction": "min"},
                {"name": "p95 latency", "category": "latency", "threshold": 300, "unit": "ms"},
            ],
        },
        "funding": {**SAMPLES["funding"], "budget": "1250000.5", "currency": "EUR"},
    }
    for kind in (
        "owner",
        "data_source",
        "access_grant",
        "review_procedure",
        "incident_procedure",
        "incident",
        "change_log",
        "monitoring_plan",
        "integration",
        "adoption_plan",
        "funding",
        "risk",
        "waiver",
    ):
        ids[kind] = writes.create_entry(session, officer, system, kind, bodies[kind]).entry_id
    review = {**SAMPLES["review"], "procedure_entry_id": ids["review_procedure"]}
    ids["review"] = writes.create_entry(session, officer, system, "review", review).entry_id
    session.commit()
    return ids


# What the web page and evidence.pdf both show for the documented system.
READABLE = [
    "Annex III area",
    "Art 6(3) rationale",
    "DPIA reference",
    "EU database reference",
    "Bea Business <bea@example.org>",
    "Dan Delegate <dan@example.org>",
    "Erin Escalation <erin@example.org>",
    "2025-02-01 08:00:00 UTC",  # granted at 09:00 +01:00
    "2025-07-01 10:00:00 UTC",
    "1,250,000.50 EUR",
    "human oversight",
    "not done",
]


def _text(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _dd(page: str, label: str) -> str:
    """The value shown beside a label on a page (the first one)."""
    match = re.search(rf"<dt>{re.escape(label)}</dt><dd>(.*?)</dd>", page, re.S)
    assert match, f"no field labelled {label!r}"
    return match.group(1).strip()


@pytest.fixture
def documented(session, users, officer) -> dict[str, int]:
    return document_every_kind(session, officer)


def test_the_system_page_reads_like_a_record(client, login_as, documented):
    login_as("auditor")
    page = _text(client.get("/systems/sys-1"))
    # Labels from the schema, never the raw field names.
    for raw in ("annex_iii_area", "art_6_3_rationale", "dpia_reference", "can_stop", "{'"):
        assert f"<dt>{raw}</dt>" not in page and raw not in re.sub(r"<[^>]*>", "", page)
    assert _dd(page, "Annex III area") == "5(a) public benefits"
    assert _dd(page, "DPIA status") == "not done"
    assert _dd(page, "Person") == "Bea Business &lt;bea@example.org&gt;"
    assert _dd(page, "Delegate") == "Dan Delegate &lt;dan@example.org&gt;"
    assert _dd(page, "Escalation contact") == "Erin Escalation &lt;erin@example.org&gt;"
    assert _dd(page, "Can stop") == "Yes"
    assert _dd(page, "Substantial modification") == "No"
    assert _dd(page, "Granted at") == "2025-02-01 08:00:00 UTC"
    assert _dd(page, "Detected at") == "2025-07-01 10:00:00 UTC"
    assert ".000000" not in page and "+00:00<" not in page
    assert _dd(page, "Performed on") == "2025-06-01"
    assert _dd(page, "Budget") == "1,250,000.50 EUR"
    assert "<dt>Currency</dt>" not in page  # read with the budget
    assert _dd(page, "Type") == "human oversight"
    assert _dd(page, "Area") == "lifecycle funding"
    # Lists as lists.
    assert _dd(page, "Uses") == '<ul class="values"><li>training</li><li>validation</li></ul>'
    assert _dd(page, "Escalation path") == '<ul class="values"><li>on-call</li><li>CISO</li></ul>'
    # The metrics as a table with a column per property.
    metrics = _dd(page, "Metrics")
    headers = re.findall(r'<th scope="col">([^<]*)</th>', metrics)
    assert headers == ["Name", "Category", "Threshold", "Direction", "Unit"]
    assert re.findall(r'<td data-label="Unit">([^<]*)</td>', metrics) == ["", "ms"]
    assert '<td data-label="Threshold">0.8</td>' in metrics
    assert '<td data-label="Threshold">300</td>' in metrics
    # An attachment: its name and a short hash, linked to its address.
    assert (
        '<a href="https://files.example.org/datasheets/applications-2019-2024.pdf">'
        f"datasheet.pdf (SHA-256 {DOC[:12]}…)</a>"
    ) in _dd(page, "Attachments")
    assert DOC not in page
    # A review names the procedure it followed, linked to that entry's history.
    procedure = documented["review_procedure"]
    assert _dd(page, "Procedure followed (entry id)") == (
        f'<a href="/systems/sys-1/entries/{procedure}/history">'
        f"Review procedure: human oversight (entry {procedure})</a>"
    )
    # Entry headings read as words too.
    assert "<summary>human oversight · version 1, effective " in page
    assert HASH in page  # a snapshot hash is shown whole (it is what identifies the data)


def test_history_and_diff_read_like_the_system_page(client, login_as, session, officer, documented):
    grant = documented["access_grant"]
    writes.update_entry(
        session,
        officer,
        grant,
        {**SAMPLES["access_grant"], "can_stop": False, "can_override": True},
        base_version=1,
    )
    session.commit()
    login_as("auditor")
    history = _text(client.get(f"/systems/sys-1/entries/{grant}/history"))
    assert _dd(history, "Granted at") == "2025-02-01 08:00:00 UTC"
    assert _dd(history, "Can stop") == "No"  # the newest version first
    assert "<dt>granted_at</dt>" not in history
    diff = _text(client.get(f"/systems/sys-1/entries/{grant}/diff"))
    rows = re.findall(
        r'<th scope="row">([^<]*)</th>\s*<td>(\w+)</td>\s*<td class="value">(.*?)</td>\s*'
        r'<td class="value">(.*?)</td>',
        diff,
        re.S,
    )
    assert rows == [
        ("Can override", "added", '<span class="absent">(absent)</span>', "Yes"),
        ("Can stop", "changed", "Yes", "No"),
    ]
    owner = documented["owner"]
    person = {"name": "Bea Business", "email": "bea@new.example.org"}
    writes.update_entry(
        session,
        officer,
        owner,
        {**SAMPLES["owner"], "role": "technical", "person": person},
        base_version=1,
    )
    session.commit()
    diff = _text(client.get(f"/systems/sys-1/entries/{owner}/diff"))
    assert '<th scope="row">Person · E-mail</th>' in diff
    assert '<th scope="row">Delegate</th>' in diff
    assert "Dan Delegate &lt;dan@example.org&gt;" in diff


def test_the_as_of_page_reads_like_the_system_page(client, login_as, documented):
    login_as("auditor")
    page = _text(client.get("/systems/sys-1/as-of", query_string={"date": "2999-01-01"}))
    assert _dd(page, "Person") == "Bea Business &lt;bea@example.org&gt;"
    assert _dd(page, "Can stop") == "Yes"
    assert _dd(page, "Detected at") == "2025-07-01 10:00:00 UTC"
    assert _dd(page, "Annex III area") == "5(a) public benefits"
