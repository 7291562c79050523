"""Each kind of due item gives exactly one e-mail and one webhook delivery, at the right
time (an injected clock), through `registry notify scan` and `registry notify deliver`
against a real SMTP server and a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from standardwebhooks import Webhook

from registry.accounts.actor import Actor
from registry.documents.service import Upload, receive
from registry.extensions import database, document_store
from registry.jobs.tasks import job_queue
from registry.notifications import service
from registry.notifications.delivery import CLAIM_LEASE, claim, outgoing
from registry.notifications.due import KINDS
from registry.records import writes
from tests.records.samples import SAMPLES


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


def run(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def at(instant: dt.datetime) -> str:
    return instant.isoformat()


@pytest.fixture
def t0() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def world(app, session, users, officer, t0) -> dict[str, Any]:
    """A system in production with one thing of each kind falling due at its own time,
    its technical owner a user, and a webhook subscribed to every due item."""
    today = t0.date()
    system, profile = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "sys-due", "stage": "production"}
    )
    owner = {
        "role": "technical",
        "person": {"name": "Tech", "email": users["technical_owner"].email},
        "start": "2020-01-01",
    }
    writes.create_entry(session, officer, system, "owner", owner)
    # A review every 30 days, never performed: due on day 30.
    writes.create_entry(
        session,
        officer,
        system,
        "review_procedure",
        {**SAMPLES["review_procedure"], "frequency_days": 30},
    )
    grant = {
        **SAMPLES["access_grant"],
        "expires_at": None,
        "next_recertification": (today + days(40)).isoformat(),
    }
    writes.create_entry(session, officer, system, "access_grant", grant)
    waiver = {
        **SAMPLES["waiver"],
        "approved_on": today.isoformat(),
        "expires_at": (t0 + days(50)).isoformat(),
    }
    writes.create_entry(session, officer, system, "waiver", waiver)
    incident = {
        **SAMPLES["incident"],
        "detected_at": t0.isoformat(),
        "became_aware_at": t0.isoformat(),
        "status": "open",
    }
    writes.create_entry(session, officer, system, "incident", incident)
    approval = {
        **SAMPLES["approval"],
        "approved_at": t0.isoformat(),
        "evidence": [
            {
                "entry_id": profile.entry_id,
                "kind": "profile",
                "version": 1,
                "hash": profile.body_hash,
            }
        ],
    }
    writes.create_entry(session, officer, system, "approval", approval)
    # The profile changes after the approval: it goes stale.
    writes.update_entry(
        session,
        officer,
        profile.entry_id,
        {**SAMPLES["profile"], "reference": "sys-due", "stage": "production", "name": "Renamed"},
        base_version=1,
    )
    store = document_store(app)
    staged = store.stage(1000).copy_from(io.BytesIO(b"a model card"))
    receive(
        session,
        officer,
        system,
        store,
        staged,
        Upload("card.txt", valid_until=(today + days(60)).isoformat()),
    )
    # The officer hears of nothing (told of every system), the technical owner by e-mail.
    service.set_preferences(session, officer, dict.fromkeys(KINDS, "none"))
    session.commit()
    return {"system": system}


def kinds_mailed(messages) -> list[str]:
    found = []
    for m in messages:
        text = m.get_body(("plain",)).get_content()
        found += [k for k, label in KINDS.items() if f"- {label}:" in text]
    return sorted(found)


def test_each_due_kind_one_email_and_one_webhook_at_its_time(
    app, session, world, users, officer, inbox, receiver, t0
):
    hook = service.create_webhook(
        session, officer, url=receiver.url, events=["due_item"], system=None, allow_private=True
    )
    secret = hook.secret
    session.commit()
    expected = {
        0: ["approval_stale", "incident_deadline", "readiness_lost"],
        16: ["review_due"],  # 14 days before day 30
        26: ["recertification"],  # 14 days before day 40
        31: ["review_overdue"],  # the day after day 30
        36: ["waiver_expiring"],  # 14 days before day 50
        46: ["document_expiring"],  # 14 days before day 60
    }
    verifier = Webhook(secret)
    # Each day a reminder starts, and the day before it.
    for day in (0, 1, 15, 16, 25, 26, 30, 31, 35, 36, 45, 46, 47):
        now = t0 + days(day) + dt.timedelta(minutes=5)
        run(app, "notify", "scan", "--at", at(now))
        run(app, "notify", "deliver", "--at", at(now))
        mails = inbox.take()
        assert all(m["To"] == users["technical_owner"].email for m in mails)
        assert kinds_mailed(mails) == expected.get(day, []), f"day {day}"
        posted = receiver.take()
        got = sorted(verifier.verify(r.body, r.headers)["data"]["kind"] for r in posted)
        assert got == expected.get(day, []), f"day {day}"
    # A scan again changes nothing: each reminder was sent once.
    run(app, "notify", "scan", "--at", at(t0 + days(49)))
    run(app, "notify", "deliver", "--at", at(t0 + days(49)))
    assert inbox.take() == [] and receiver.take() == []


def test_an_email_has_text_html_and_a_link_to_the_record(app, session, world, inbox, t0):
    run(app, "notify", "scan", "--at", at(t0 + days(1)))
    run(app, "notify", "deliver", "--at", at(t0 + days(1)))
    mails = {m["Subject"]: m for m in inbox.take()}
    (incident,) = [m for s, m in mails.items() if "Art 73 report due" in s]
    text = incident.get_body(("plain",)).get_content()
    html = incident.get_body(("html",)).get_content()
    assert "https://registry.example.org/systems/sys-due/entries/" in text
    assert "left)" in text  # the time left to report
    assert 'href="https://registry.example.org/systems/sys-due/entries/' in html
    assert incident["From"] == "registry@example.org"


def test_digest_groups_a_users_items_of_a_day(app, session, world, users, inbox, t0):
    tech = Actor.for_user(users["technical_owner"])
    service.set_preferences(session, tech, dict.fromkeys(KINDS, "digest"))
    session.commit()
    now = t0 + days(1)
    run(app, "notify", "scan", "--at", at(now))
    run(app, "notify", "deliver", "--at", at(now))
    assert inbox.take() == []  # the day is not over
    run(app, "notify", "deliver", "--at", at(now + days(1)))
    (digest,) = inbox.take()
    assert "3 items due: digest of" in digest["Subject"]
    assert kinds_mailed([digest]) == ["approval_stale", "incident_deadline", "readiness_lost"]
    run(app, "notify", "deliver", "--at", at(now + days(2)))
    assert inbox.take() == []


def test_none_means_nothing(app, session, world, users, inbox, t0):
    tech = Actor.for_user(users["technical_owner"])
    service.set_preferences(session, tech, {"incident_deadline": "none"})
    session.commit()
    run(app, "notify", "scan", "--at", at(t0 + days(1)))
    run(app, "notify", "deliver", "--at", at(t0 + days(1)))
    assert kinds_mailed(inbox.take()) == ["approval_stale", "readiness_lost"]


def test_a_subscriber_is_told_and_my_tasks_lists_soonest_first(
    app, session, world, users, inbox, t0
):
    auditor = Actor.for_user(users["auditor"])
    assert service.my_tasks(session, auditor, t0 + days(1)).items == []
    service.subscribe(session, auditor, world["system"], on=True)
    session.commit()
    tasks = service.my_tasks(session, auditor, t0 + days(47)).items
    assert [t.due_at for t in tasks] == sorted(t.due_at for t in tasks)
    assert {t.kind for t in tasks} >= {"review_overdue", "recertification", "document_expiring"}
    run(app, "notify", "scan", "--at", at(t0 + days(1)))
    run(app, "notify", "deliver", "--at", at(t0 + days(1)))
    to = sorted({m["To"] for m in inbox.take()})
    assert to == sorted([users["auditor"].email, users["technical_owner"].email])


def test_the_outbox_payload_is_json(app, session, world, t0):
    from registry.notifications.models import OutboxMessage

    run(app, "notify", "scan", "--at", at(t0 + days(1)))
    rows = session.query(OutboxMessage).all()
    assert rows and all(json.loads(r.payload)["type"].startswith("due_item.") for r in rows)


def test_the_workers_schedule_scans_and_delivers(app, world, inbox):
    """The periodic tasks `registry worker` runs (each its own transaction, as a job):
    what is due now is mailed once, however often the schedule comes round."""
    queue = job_queue(app)
    queue.scan_notifications()
    queue.deliver_notifications()
    assert kinds_mailed(inbox.take()) == ["approval_stale", "incident_deadline", "readiness_lost"]
    queue.scan_notifications()
    queue.deliver_notifications()
    assert inbox.take() == []


def test_two_senders_reading_one_outbox_send_each_message_once(app, world, inbox):
    """Two workers' deliveries read the same pending messages; each message is claimed
    by one of them (a conditional UPDATE), so it is mailed once; the claim lapses after
    the lease when its sender dies."""
    job_queue(app).scan_notifications()
    now = dt.datetime.now(dt.UTC)
    db = database(app)
    with db.read_sessionmaker() as first, db.read_sessionmaker() as second:
        read_by_a, read_by_b = outgoing(first, now), outgoing(second, now)
    assert read_by_a and [o.ids for o in read_by_a] == [o.ids for o in read_by_b]
    with db.sessionmaker() as session:
        assert claim(session, read_by_a, now) == read_by_a
        session.commit()
        assert claim(session, read_by_b, now) == []  # taken: b sends none of them
        session.commit()
        # The claimer died without sending: after the lease another sender takes them.
        later = now + CLAIM_LEASE + dt.timedelta(seconds=1)
        with db.read_sessionmaker() as read:
            again = outgoing(read, later)
        assert [o.ids for o in again] == [o.ids for o in read_by_a]
        assert claim(session, again, later) == again
        session.rollback()
    assert inbox.take() == []
