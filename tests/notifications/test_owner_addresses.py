"""Owners who are not registry users are e-mailed their systems' due items at the address
their owner entry gives (a real SMTP server), unless the policy refuses the address; each
e-mail's unsubscribe link (a signed token, no sign-in) stores the address's preference,
which the next scan and the delivery of what was queued before both respect (both
engines)."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from registry.extensions import database
from registry.notifications.models import AddressPreference, OutboxMessage
from registry.records import writes
from tests.notifications.test_reminders import at, run
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
    link = re.search(r"Stop these e-mails: (\S+)", text).group(1)  # type: ignore[union-attr]
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith("https://registry.example.org/notifications/unsubscribe/")
    path = link.removeprefix("https://registry.example.org")

    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    assert EXTERNAL.casefold() in page.text and "Stop these e-mails" in page.text
    assert client.get(path[:-2] + "xx").status_code == 404  # a token not signed here
    assert client.post(path[:-2] + "xx", data={"mode": "none"}).status_code == 404

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
        assert read.get(AddressPreference, EXTERNAL.casefold()).mode == "none"

    # Unsubscribed: the next item is not even queued for the address.
    writes.create_entry(session, officer, system, "access_grant", _grant("third", soon))
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    with database(app).read_sessionmaker() as read:
        queued = read.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.address == EXTERNAL.casefold())
        )
        assert queued == 2
    assert "Send me reminders again" in client.get(path).text

    # Subscribed again from the page: the next item reaches the address.
    assert client.post(path, data={"mode": "email"}).status_code == 302
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
