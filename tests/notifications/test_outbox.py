"""The outbox takes each key once, in bulk: the keys compared with what is queued in
SQL (one statement per chunk, nothing read back when all are queued), the new rows
inserted a chunk per statement in their order, every column as given (both engines)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from registry.notifications.models import OutboxMessage, WebhookSubscription
from registry.notifications.outbox import COMPARED, INSERTED, enqueue, unqueued
from registry.records import writes
from tests.records.samples import SAMPLES

NOW = dt.datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=dt.UTC)


def _rows(system_id: int, user_id: int, hook_id: int, n: int) -> list[dict[str, Any]]:
    """``n`` rows of every kind of recipient: users at once and by digest, owners'
    addresses, webhooks (every third of each)."""
    rows = []
    for i in range(n):
        payload = json.dumps({"type": "due_item.review_due", "data": {"i": i, "é": "ü\\\"'"}})
        base = {
            "key": f"review_due:{system_id}:{i}:2026-03-{1 + i % 28:02d}",
            "event_type": "due_item.review_due",
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": NOW,
            "created_at": NOW,
            "last_error": "",
            "user_id": None,
            "webhook_id": None,
            "address": None,
            "digest_day": None,
        }
        which = i % 4
        if which == 0:
            rows.append(
                {
                    **base,
                    "key": base["key"] + f"|user:{user_id}|email",
                    "channel": "email",
                    "user_id": user_id,
                }
            )
        elif which == 1:
            rows.append(
                {
                    **base,
                    "key": base["key"] + f"|user:{user_id}|digest",
                    "channel": "digest",
                    "user_id": user_id,
                    "digest_day": NOW.date(),
                }
            )
        elif which == 2:
            rows.append(
                {
                    **base,
                    "key": base["key"] + "|address:o'neil@partner.example|email",
                    "channel": "email",
                    "address": "o'neil@partner.example",
                }
            )
        else:
            rows.append(
                {
                    **base,
                    "key": base["key"] + f"|webhook:{hook_id}",
                    "channel": "webhook",
                    "webhook_id": hook_id,
                }
            )
    return rows


@pytest.fixture
def statements(session: Any) -> Iterator[list[str]]:
    """The statements the session's engine sends."""
    sent: list[str] = []
    engine = session.get_bind()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    yield sent
    sa.event.remove(engine, "before_cursor_execute", count)


def _stored(session: Any) -> list[dict[str, Any]]:
    table = OutboxMessage.__table__
    names = [c.name for c in table.c if c.name not in ("id", "sent_at")]
    return [
        dict(zip(names, row, strict=True))
        for row in session.execute(sa.select(*(table.c[n] for n in names)).order_by(table.c.id))
    ]


def test_each_key_once_in_bulk_and_a_rescan_sends_one_statement(
    session, users, officer, statements
):
    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "o-1"})
    hook = WebhookSubscription(
        url="https://hooks.example.org/x",
        secret="whsec_" + "A" * 44,
        events="due_item",
        created_by="test",
    )
    session.add(hook)
    session.flush()
    user_id = users["technical_owner"].id
    rows = _rows(system.id, user_id, hook.id, INSERTED * 2 + 7)
    # A key twice in one scan: queued once.
    statements.clear()
    assert enqueue(session, rows + rows[:3]) == len(rows)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    compares = [
        s for s in statements if "NOT (EXISTS" in s and not s.lstrip().upper().startswith("INSERT")
    ]
    assert len(compares) == 1
    # By the groups of columns the rows share (digest day or none), a chunk a statement:
    # 3,005 rows for no digest day, 1,002 for the day's digest.
    assert len(inserts) == 3
    stored = _stored(session)
    assert sorted(stored, key=lambda r: r["key"]) == sorted(rows, key=lambda r: r["key"])
    # In their order (the scan's: soonest first), within each group.
    at_once = [r["key"] for r in rows if r["digest_day"] is None]
    assert [r["key"] for r in stored if r["digest_day"] is None] == at_once
    session.commit()

    # Everything queued: one statement compares, nothing is inserted or read back.
    statements.clear()
    assert unqueued(session, [r["key"] for r in rows]) == set()
    assert enqueue(session, rows) == 0
    assert not [s for s in statements if s.lstrip().upper().startswith("INSERT")]

    # Some new among many queued: only those are added, after the others, and a
    # rescan used no row id (PostgreSQL's sequence is not drawn for keys found queued).
    last = session.scalar(sa.select(sa.func.max(OutboxMessage.id)))
    more = _rows(system.id, user_id, hook.id, len(rows) + 2)[len(rows) :]
    assert enqueue(session, rows + more) == 2
    ids = session.scalars(
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.key.in_([r["key"] for r in more]))
        .order_by(OutboxMessage.id)
    ).all()
    assert ids == [last + 1, last + 2]
    session.commit()


def test_more_keys_than_one_comparison_holds(session, users, officer):
    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "o-2"})
    keys = [f"k:{i}" for i in range(COMPARED + 5)]
    assert unqueued(session, keys) == set(keys)
    rows = _rows(system.id, users["technical_owner"].id, 0, 4)[:1]
    enqueue(session, rows)
    assert unqueued(session, keys + [rows[0]["key"]]) == set(keys)
