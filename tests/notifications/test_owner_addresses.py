"""Owners who are not registry users are e-mailed their systems' due items at the address
their owner entry gives (a real SMTP server), unless the policy refuses the address; each
e-mail's link (a signed, dated token, no sign-in) leads to the address's preferences,
per kind as a user's: at once, a daily digest or nothing, which the next scan and the
delivery of what was queued before both respect; its one-click POST (RFC 8058) stops
them all (both engines)."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.db import UTCDateTime, make_engine
from registry.extensions import database
from registry.migrate import downgrade, upgrade
from registry.notifications import addresses
from registry.notifications.due import KINDS
from registry.notifications.models import AddressPreference, OutboxMessage
from registry.records import writes
from tests.notifications.test_reminders import at, kinds_mailed, run
from tests.records.samples import SAMPLES

EXTERNAL = "Ext.Owner@Partner.example"


def _owner(role: str, email: str, **term: str) -> dict[str, Any]:
    return {"role": role, "person": {"name": role, "email": email}, "start": "2020-01-01", **term}


def _to(messages: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in messages if m["To"].casefold() == address.casefold()]


def _text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def _grant(principal: str, on: dt.date) -> dict[str, Any]:
    return {
        **SAMPLES["access_grant"],
        "principal": principal,
        "expires_at": None,
        "next_recertification": on.isoformat(),
    }


def test_owners_who_are_not_users_are_emailed_and_unsubscribe_by_their_link(
    app, session, users, officer, inbox
):
    app.config["NOTIFY_OWNER_DOMAINS"] = "partner.example, example.org"
    now = dt.datetime.now(dt.UTC)
    soon = now.date() + dt.timedelta(days=3)
    system, _ = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "ext-1", "stage": "pilot"}
    )
    for body in (
        _owner("technical", EXTERNAL),  # not a user: e-mailed
        _owner("business", "boss@elsewhere.test"),  # refused by the policy
        _owner("dpo", "dpo@partner.example"),  # a DPO is not told
        _owner("oversight", "gone@partner.example", end="2021-01-01"),  # no longer in term
        _owner("oversight", users["technical_owner"].email),  # a user: as a user
    ):
        writes.create_entry(session, officer, system, "owner", body)
    writes.create_entry(session, officer, system, "access_grant", _grant("first", soon))
    session.commit()

    run(app, "notify", "scan", "--at", at(now))
    run(app, "notify", "deliver", "--at", at(now))
    messages = inbox.take()
    [mail] = _to(messages, EXTERNAL)
    assert {m["To"].casefold() for m in messages} == {
        EXTERNAL.casefold(),
        users["technical_owner"].email.casefold(),
        users["compliance_officer"].email.casefold(),
    }
    text = _text(mail)
    assert "Recertify access of first" in text
    assert "/me/notifications" not in text  # no preferences page without an account
    link = _link(mail)
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith("https://registry.example.org/notifications/unsubscribe/")
    path = link.removeprefix("https://registry.example.org")

    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    assert EXTERNAL.casefold() in page.text and "Stop these e-mails" in page.text
    assert "Daily digest" in page.text

    # Queued, then unsubscribed (one click, as a mail client does): skipped, not sent.
    writes.create_entry(session, officer, system, "access_grant", _grant("second", soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 204
    run(app, "notify", "deliver", "--at", at(now))
    assert _to(inbox.take(), EXTERNAL) == []
    with database(app).read_sessionmaker() as read:
        states = dict(
            read.execute(
                sa.select(OutboxMessage.key, OutboxMessage.state).where(
                    OutboxMessage.address == EXTERNAL.casefold()
                )
            ).all()
        )
        assert sorted(states.values()) == ["sent", "skipped"]
        chosen = read.scalars(
            sa.select(AddressPreference.mode).where(
                AddressPreference.address == EXTERNAL.casefold()
            )
        ).all()
        assert sorted(chosen) == ["none"] * len(KINDS)

    # Unsubscribed: the next item is not even queued for the address.
    writes.create_entry(session, officer, system, "access_grant", _grant("third", soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    with database(app).read_sessionmaker() as read:
        queued = read.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.address == EXTERNAL.casefold())
        )
        assert queued == 2
    assert "This address gets no reminders." in client.get(path).text

    # Subscribed again from the page: the next item reaches the address.
    assert client.post(path, data={"recertification": "email"}).status_code == 302
    writes.create_entry(session, officer, system, "access_grant", _grant("fourth", soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    run(app, "notify", "deliver", "--at", at(now))
    got = _to(inbox.take(), EXTERNAL)
    assert sorted(re.findall(r"Recertify access of (\w+)", "".join(map(_text, got)))) == [
        "fourth",
        "third",
    ]

    # The policy changed: what is queued for a refused address is skipped.
    writes.create_entry(session, officer, system, "access_grant", _grant("fifth", soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    app.config["NOTIFY_OWNER_DOMAINS"] = "example.org"
    run(app, "notify", "deliver", "--at", at(now))
    assert _to(inbox.take(), EXTERNAL) == []


def _link(mail: EmailMessage) -> str:
    """The link an e-mail to an owner's address carries, checked against its headers."""
    said = re.search(r"or stop these e-mails: (\S+)", _text(mail))
    assert said is not None
    link = said.group(1)
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith("https://registry.example.org/notifications/unsubscribe/")
    return link


def _items(messages: list[EmailMessage]) -> list[str]:
    return sorted(re.findall(r"Recertify access of (\w+)", "".join(map(_text, messages))))


def test_an_owners_address_chooses_a_daily_digest_per_kind(app, session, users, officer, inbox):
    """On the page its link opens: recertifications in a daily digest, readiness never;
    the digest of the day comes the next day, in one e-mail with a fresh link."""
    now = dt.datetime.now(dt.UTC)
    soon = now.date() + dt.timedelta(days=3)
    system, _ = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "ext-2", "stage": "production"}
    )
    writes.create_entry(session, officer, system, "owner", _owner("business", EXTERNAL))
    writes.create_entry(session, officer, system, "access_grant", _grant("first", soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    run(app, "notify", "deliver", "--at", at(now))
    mine = _to(inbox.take(), EXTERNAL)
    assert kinds_mailed(mine) == ["readiness_lost", "recertification"]
    path = _link(mine[0]).removeprefix("https://registry.example.org")

    client = app.test_client()
    choice = {kind: "email" for kind in KINDS}
    choice.update(recertification="digest", readiness_lost="none")
    saved = client.post(path, data=choice, follow_redirects=True)
    assert saved.status_code == 200 and "Reminder preferences saved." in saved.text
    assert re.search(r'name="recertification" value="digest" checked', saved.text)
    assert re.search(r'name="readiness_lost" value="none" checked', saved.text)
    # A mode no one offers: refused with what is wrong, nothing stored.
    refused = client.post(path, data={"waiver_expiring": "weekly"})
    assert refused.status_code == 422 and "Must be one of: email, digest, none." in refused.text
    with database(app).read_sessionmaker() as read:
        stored = dict(
            read.execute(
                sa.select(AddressPreference.kind, AddressPreference.mode).where(
                    AddressPreference.address == EXTERNAL.casefold()
                )
            ).all()
        )
    assert stored == choice

    for principal in ("second", "third"):
        writes.create_entry(session, officer, system, "access_grant", _grant(principal, soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    run(app, "notify", "deliver", "--at", at(now))
    assert _to(inbox.take(), EXTERNAL) == []  # the day is not over
    tomorrow = now + dt.timedelta(days=1)
    run(app, "notify", "scan", "--at", at(tomorrow))
    run(app, "notify", "deliver", "--at", at(tomorrow))
    [digest] = _to(inbox.take(), EXTERNAL)
    # What is due of the kind now in the digest, "first" (mailed at once before) too.
    assert "3 items due: digest of" in digest["Subject"]
    assert _items([digest]) == ["first", "second", "third"]
    assert "readiness" not in _text(digest).casefold()
    assert _link(digest).startswith("https://registry.example.org/notifications/unsubscribe/")
    run(app, "notify", "deliver", "--at", at(tomorrow + dt.timedelta(days=1)))
    assert _to(inbox.take(), EXTERNAL) == []  # sent once

    # Queued for a digest, then nothing of that kind: the digest is not sent.
    writes.create_entry(session, officer, system, "access_grant", _grant("fourth", soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(tomorrow))
    assert client.post(path, data={"recertification": "none"}).status_code == 302
    run(app, "notify", "deliver", "--at", at(tomorrow + dt.timedelta(days=1)))
    assert _to(inbox.take(), EXTERNAL) == []
    with database(app).read_sessionmaker() as read:
        states = read.scalars(
            sa.select(OutboxMessage.state).where(
                OutboxMessage.address == EXTERNAL.casefold(), OutboxMessage.channel == "digest"
            )
        ).all()
    assert sorted(states) == ["sent", "sent", "sent", "skipped"]


def test_a_link_not_signed_here_or_expired_opens_nothing(app, session, users, officer):
    """A forged, cut or expired token: 403 with what to do, on GET and POST; nothing
    stored. A valid one opens exactly its address's preferences."""
    secret = app.config["SECRET_KEY"]
    good = addresses.token(secret, EXTERNAL)
    old = addresses.token(
        secret,
        EXTERNAL,
        at=dt.datetime.now(dt.UTC) - dt.timedelta(days=app.config["NOTIFY_LINK_DAYS"] + 1),
    )
    other = addresses.token("another secret", EXTERNAL)
    client = app.test_client()
    base = "/notifications/unsubscribe/"
    for token, said in (
        (good[:-3] + ("xyz" if not good.endswith("xyz") else "abc"), "not valid"),
        (good[: len(good) // 2], "not valid"),
        (other, "not valid"),
        ("not-a-token", "not valid"),
        (old, "expired"),
    ):
        for answer in (
            client.get(base + token),
            client.post(base + token, data={"List-Unsubscribe": "One-Click"}),
            client.post(base + token, data=dict.fromkeys(KINDS, "none")),
        ):
            assert answer.status_code == 403, token
            assert said in answer.text
            assert "Traceback" not in answer.text
    with database(app).read_sessionmaker() as read:
        assert read.scalar(sa.select(sa.func.count()).select_from(AddressPreference)) == 0
    page = client.get(base + good)
    assert page.status_code == 200 and EXTERNAL.casefold() in page.text
    assert client.post(base + good, data={"List-Unsubscribe": "One-Click"}).status_code == 204
    with database(app).read_sessionmaker() as read:
        stored = read.execute(sa.select(AddressPreference.address, AddressPreference.mode)).all()
    assert sorted(stored) == [(EXTERNAL.casefold(), "none")] * len(KINDS)


def test_an_address_that_asked_for_nothing_asks_for_nothing_of_each_kind(db_factory):
    """Migration 0023: the one choice an address had becomes its choice of every kind;
    back to 0022, an address with nothing of every kind asked for nothing."""
    url, drop = db_factory.empty()
    try:
        upgrade(url, "0022")
        engine = make_engine(url)
        then = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
        table = sa.table(
            "notification_address_preference",
            sa.column("address"),
            sa.column("mode"),
            sa.column("changed_at", UTCDateTime(timezone=True)),
        )
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [
                    {"address": "gone@partner.example", "mode": "none", "changed_at": then},
                    {"address": "back@partner.example", "mode": "email", "changed_at": then},
                ],
            )
        upgrade(url)
        with Session(engine) as s:
            stored = s.execute(
                sa.select(AddressPreference.address, AddressPreference.kind, AddressPreference.mode)
            ).all()
            assert sorted(stored) == sorted(
                [("back@partner.example", k, "email") for k in KINDS]
                + [("gone@partner.example", k, "none") for k in KINDS]
            )
            assert {p.changed_at for p in s.scalars(sa.select(AddressPreference))} == {then}
            s.execute(
                sa.update(AddressPreference)
                .where(
                    AddressPreference.address == "back@partner.example",
                    AddressPreference.kind == "review_due",
                )
                .values(mode="none")
            )
            s.commit()
        downgrade(url, "0022")
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.address, table.c.mode, table.c.changed_at))
            assert rows.all() == [("gone@partner.example", "none", then)]
        engine.dispose()
    finally:
        drop()
