"""A pack of a system retired and then reinstated: its history holds the version after
the retirement, its state the reinstated profile, and it verifies offline."""

from __future__ import annotations

import json

from registry.evidence import verifier
from registry.readiness.scorecard import evaluate
from registry.records import writes
from tests.evidence.conftest import do_export, members

PROFILE = {"name": "Triage", "reference": "sys-r", "stage": "pilot", "risk_tier": "limited"}


def test_a_pack_of_a_reinstated_system_verifies(app, session, officer):
    system, version = writes.create_system(session, officer, PROFILE)
    writes.create_entry(
        session,
        officer,
        system,
        "owner",
        {"role": "business", "person": {"name": "B", "email": "b@example.org"}},
    )
    session.commit()
    writes.retire_entry(session, officer, version.entry_id, base_version=1, reason="gone")
    session.commit()
    retired = do_export(app, session, "sys-r")  # while retired: no profile in its state
    state = json.loads(members(retired.path)["systems/sys-r/state.json"])
    assert [e["kind"] for e in state["entries"]] == ["owner"]
    back = writes.reinstate_system(session, officer, system, base_version=2, reason="back")
    session.commit()
    assert back.number == 3 and not back.tombstone
    done = do_export(app, session, "sys-r")
    files = members(done.path)
    history = json.loads(files["systems/sys-r/history.json"])
    (profile,) = [e for e in history["entries"] if e["kind"] == "profile"]
    assert [v["tombstone"] for v in profile["versions"]] == [False, True, False]
    state = json.loads(files["systems/sys-r/state.json"])
    (shown,) = [e for e in state["entries"] if e["kind"] == "profile"]
    assert shown["version"] == 3 and shown["body"]["name"] == "Triage"
    summary = verifier.verify(str(done.path))
    assert any("4 versions" in line for line in summary.lines), summary.lines
    # Readiness reads the reinstated profile.
    assert evaluate(session, "sys-r", done.as_of).to_dict()["system"] == "sys-r"
    verifier.verify(str(retired.path))
