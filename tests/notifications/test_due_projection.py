"""The reminders' scan reads readiness and reviews due from the readiness projection and
only the records the other items need: on a varied register it finds exactly what a
full evaluation of every system finds, with the projection cold, current, partly stale
after a write, and out of date at a later instant (both engines)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from registry.extensions import database
from registry.notifications.due import due_items, due_items_evaluated
from registry.readiness.approvals import approve_promotion
from registry.readiness.projection import ReadinessProjection
from registry.records import writes
from registry.records.models import Entry
from tests.readiness.evidence import READY_PROFILE, make_ready, store_documents
from tests.records.samples import SAMPLES

PROFILE = SAMPLES["profile"]


def register_every_kind(session: Any, officer: Any, now: dt.datetime) -> None:
    """Systems of every stage with something of each kind of due item."""
    soon = (now + dt.timedelta(days=5)).date().isoformat()
    ready, _ = writes.create_system(session, officer, READY_PROFILE)
    ids = make_ready(session, officer, ready)
    approve_promotion(session, officer, ready)
    # A change to evidence the approval relied on: the approval goes stale.
    owner = session.get(Entry, ids["owner"])
    body = {**SAMPLES["owner"], "person": {"name": "Noor", "email": "noor@example.org"}}
    writes.update_entry(session, officer, owner.id, body, base_version=owner.head_number)
    grant = {**SAMPLES["access_grant"], "expires_at": None, "next_recertification": soon}
    writes.create_entry(session, officer, ready, "access_grant", grant)
    revoked = {**grant, "principal": "gone", "revoked_at": "2025-03-01T09:00:00Z"}
    writes.create_entry(session, officer, ready, "access_grant", revoked)
    waiver = {
        **SAMPLES["waiver"],
        "approved_on": (now - dt.timedelta(days=1)).date().isoformat(),
        "expires_at": (now + dt.timedelta(days=3)).isoformat(),
    }
    writes.create_entry(session, officer, ready, "waiver", waiver)

    prod, _ = writes.create_system(
        session, officer, {**PROFILE, "reference": "prod", "stage": "production"}
    )
    writes.create_entry(session, officer, prod, "owner", SAMPLES["owner"])
    daily = writes.create_entry(
        session, officer, prod, "review_procedure", {"type": "periodic", "frequency_days": 1}
    )
    review = {
        "procedure_entry_id": daily.entry_id,
        "performed_on": (now - dt.timedelta(days=5)).date().isoformat(),
        "reviewers": ["Pat"],
        "decision": "approve",
    }
    writes.create_entry(session, officer, prod, "review", review)  # overdue since 4 days
    writes.create_entry(
        session, officer, prod, "review_procedure", {"type": "periodic", "frequency_days": 10}
    )
    incident = {
        **SAMPLES["incident"],
        "status": "open",
        "detected_at": (now - dt.timedelta(days=1)).isoformat(),
        "became_aware_at": (now - dt.timedelta(days=1)).isoformat(),
    }
    writes.create_entry(session, officer, prod, "incident", incident)
    writes.create_entry(session, officer, prod, "incident", {**incident, "status": "closed"})
    store_documents(session, officer, prod, valid_until=now.date() + dt.timedelta(days=7))

    writes.create_system(
        session,
        officer,
        {
            **PROFILE,
            "reference": "mirrored",
            "stage": "production",
            "mirrors_register": "nl-algoritmeregister",
        },
    )
    pilot, _ = writes.create_system(session, officer, {**PROFILE, "reference": "pilot"})
    writes.create_entry(session, officer, pilot, "monitoring_plan", SAMPLES["monitoring_plan"])
    writes.create_system(session, officer, {**PROFILE, "reference": "gone", "stage": "retired"})


def _same(app: Any, at: dt.datetime) -> list[Any]:
    """Due items as of ``at`` by the scan (on a read session that keeps what it scored,
    as the worker's) and by a full evaluation: the same, in the same order."""
    db = database(app)
    with db.read_sessionmaker() as read:
        fast = due_items(read, at)
    with db.read_sessionmaker() as read:
        full = due_items_evaluated(read, at)
    assert fast == full
    return fast


def _evaluated(app: Any) -> dict[int, dt.datetime]:
    with database(app).read_sessionmaker() as read:
        return dict(
            read.execute(
                sa.select(ReadinessProjection.system_id, ReadinessProjection.evaluated_at)
            ).all()
        )


def test_the_scan_from_the_projection_finds_what_a_full_evaluation_finds(app, session, officer):
    register_every_kind(session, officer, dt.datetime.now(dt.UTC))
    session.commit()
    now = dt.datetime.now(dt.UTC)  # after every record (the projection reads as of now)

    items = _same(app, now)  # the projection cold: scored now, and kept
    assert {i.kind for i in items} >= {
        "review_due",
        "review_overdue",
        "recertification",
        "waiver_expiring",
        "document_expiring",
        "incident_deadline",
        "approval_stale",
        "readiness_lost",
    }
    assert not [i for i in items if i.reference in {"mirrored", "gone"}]
    kept = _evaluated(app)
    assert len(kept) == 4  # every system not retired

    later = now + dt.timedelta(seconds=1)
    assert _same(app, later) == _same(app, later)  # current rows: nothing scored again
    assert _evaluated(app) == kept

    # A write to one system: its row is stale and scored again, the others are reused.
    prod = next(i for i in items if i.reference == "prod").system_id
    procedure = session.scalar(
        sa.select(Entry).where(Entry.system_id == prod, Entry.kind == "review_procedure")
    )
    writes.update_entry(
        session,
        officer,
        procedure.id,
        {"type": "periodic", "frequency_days": 3},
        base_version=procedure.head_number,
    )
    session.commit()
    # As of an instant after the write (under load it may land more than a second
    # after ``now``; as of an earlier instant the write is not yet recorded).
    _same(app, dt.datetime.now(dt.UTC))
    again = _evaluated(app)
    assert again[prod] > kept[prod]
    assert {k: v for k, v in again.items() if k != prod} == {
        k: v for k, v in kept.items() if k != prod
    }

    # Ten days on, every stored row is out of date: due dates and expiries have moved.
    assert _same(app, now + dt.timedelta(days=10)) != items
