"""Due items computed as of an instant: a production system that is not ready is news,
unless it mirrors another register's stage (not held to the promotion gate)."""

from __future__ import annotations

import datetime as dt

from registry.notifications.due import due_items
from registry.records import writes
from tests.records.samples import SAMPLES


def test_readiness_lost_only_for_systems_held_to_the_gate(session, officer):
    production = {**SAMPLES["profile"], "stage": "production"}
    writes.create_system(session, officer, {**production, "reference": "own"})
    writes.create_system(
        session,
        officer,
        {**production, "reference": "mirrored", "mirrors_register": "nl-algoritmeregister"},
    )
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "pilot"})
    session.commit()
    items = due_items(session, dt.datetime.now(dt.UTC))
    assert [(i.kind, i.reference) for i in items] == [("readiness_lost", "own")]
