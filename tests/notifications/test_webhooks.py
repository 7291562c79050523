"""Webhooks: signed by the Standard Webhooks scheme (checked with the `standardwebhooks`
package), retried with backoff against a receiver that fails twice, record changes read
from the ledger after a cursor, and URLs into the registry's own network refused."""

from __future__ import annotations

import datetime as dt

import pytest
from standardwebhooks import Webhook

from registry.errors import InvalidInput
from registry.notifications import service
from registry.notifications.delivery import BACKOFF
from registry.notifications.models import OutboxMessage
from registry.notifications.webhooks import check_url
from registry.records import writes
from tests.records.samples import SAMPLES


def run(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def at(instant: dt.datetime) -> str:
    return instant.isoformat()


@pytest.fixture
def system(session, officer):
    made, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    return made


def test_record_changes_are_signed_and_retried_after_two_failures(
    app, session, officer, system, receiver
):
    hook = service.create_webhook(
        session,
        officer,
        url=receiver.url,
        events=["record.changed", "incident"],
        system=system,
        allow_private=True,
    )
    secret, hook_id = hook.secret, hook.id
    session.commit()
    now = dt.datetime.now(dt.UTC)
    run(app, "notify", "scan", "--at", at(now))  # the cursor starts at the ledger's head
    minor = {k: v for k, v in SAMPLES["incident"].items() if k != "serious_category"}
    writes.create_entry(session, officer, system, "incident", {**minor, "serious": False})
    session.commit()
    receiver.fail_first = 2
    out = run(app, "notify", "scan", "--at", at(now))
    assert "queued 0 reminders and 1 change notifications" in out
    run(app, "notify", "deliver", "--at", at(now))
    first = receiver.take()
    assert len(first) == 1
    # Not before the backoff.
    run(app, "notify", "deliver", "--at", at(now + BACKOFF - dt.timedelta(seconds=1)))
    assert receiver.take() == []
    run(app, "notify", "deliver", "--at", at(now + BACKOFF))
    second = receiver.take()
    assert len(second) == 1
    # The second wait is twice the first.
    run(app, "notify", "deliver", "--at", at(now + 3 * BACKOFF - dt.timedelta(seconds=1)))
    assert receiver.take() == []
    run(app, "notify", "deliver", "--at", at(now + 3 * BACKOFF))
    (third,) = receiver.take()
    # The same message each time: one id, one body, each signature valid.
    assert {r.headers["webhook-id"] for r in (*first, *second, third)} == {
        third.headers["webhook-id"]
    }
    payload = Webhook(secret).verify(third.body, third.headers)
    assert payload["type"] == "incident.changed"
    assert payload["data"]["system"] == "sys-1" and payload["data"]["kind"] == "incident"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(third.body, third.headers)
    run(app, "notify", "deliver", "--at", at(now + 10 * BACKOFF))
    assert receiver.take() == []
    # The delivery log: two failures and the success, readable and replayable.
    (delivery,) = service.deliveries(session, officer, hook_id)
    log = delivery.to_dict()
    assert log["state"] == "sent"
    assert [a["ok"] for a in log["log"]] == [False, False, True]
    assert [a["status_code"] for a in log["log"]] == [500, 500, 204]
    service.replay(session, officer, delivery.message.id, now + 11 * BACKOFF)
    session.commit()
    run(app, "notify", "deliver", "--at", at(now + 11 * BACKOFF))
    (again,) = receiver.take()
    assert again.headers["webhook-id"] == third.headers["webhook-id"]
    Webhook(secret).verify(again.body, again.headers)


def test_a_webhook_of_another_system_hears_nothing(app, session, officer, system, receiver):
    other, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-2"})
    service.create_webhook(
        session,
        officer,
        url=receiver.url,
        events=["record.changed"],
        system=other,
        allow_private=True,
    )
    session.commit()
    now = dt.datetime.now(dt.UTC)
    run(app, "notify", "scan", "--at", at(now))
    writes.create_entry(session, officer, system, "risk", SAMPLES["risk"])
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    run(app, "notify", "deliver", "--at", at(now))
    assert receiver.take() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_urls_into_the_registrys_network_are_refused(url):
    with pytest.raises(InvalidInput) as refused:
        check_url(url, allow_private=False)
    assert "url" in refused.value.field_errors
    check_url(url, allow_private=True)  # unless the administrator allows it


def test_a_public_address_is_accepted():
    target = check_url("https://93.184.215.14:8443/in?x=1", allow_private=False)
    assert (target.address, target.port, target.path) == ("93.184.215.14", 8443, "/in?x=1")


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "http:///nohost", "http://u:p@93.184.215.14/"]
)
def test_urls_that_are_not_plain_http_are_refused(url):
    with pytest.raises(InvalidInput):
        check_url(url, allow_private=True)


def test_a_private_address_is_refused_again_at_delivery(app, session, officer, system, receiver):
    """Subscribed while private addresses were allowed; the administrator then forbids
    them: the delivery is refused before any request, and logged as a failure."""
    service.create_webhook(
        session,
        officer,
        url=receiver.url,
        events=["record.changed"],
        system=None,
        allow_private=True,
    )
    session.commit()
    now = dt.datetime.now(dt.UTC)
    run(app, "notify", "scan", "--at", at(now))
    writes.create_entry(session, officer, system, "risk", SAMPLES["risk"])
    session.commit()
    run(app, "notify", "scan", "--at", at(now))
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    assert "1 to retry" in run(app, "notify", "deliver", "--at", at(now))
    assert receiver.take() == []
    session.expire_all()
    (message,) = session.query(OutboxMessage).all()
    assert "loopback, link-local or private" in message.last_error
