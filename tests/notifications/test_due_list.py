"""The kept list of due items ("My tasks") holds what a fresh computation finds: after
every kind of write, as time passes, for another horizon, paged, and made again by
``registry notify rebuild`` (both engines). Reads on read sessions store what they
found (the keeper), and a write makes only its system's rows be found again."""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.documents.models import Document
from registry.documents.service import set_withheld
from registry.extensions import database, db_session
from registry.migrate import upgrade
from registry.notifications import due_list, service
from registry.notifications.due import AHEAD, AT_ONCE, DueItem, due_items
from registry.notifications.due_list import DueState
from registry.notifications.outbox import recipients
from registry.records import writes
from registry.records.models import AISystem, Entry
from registry.records.search import MAX_PAGE
from tests.conftest import PG_ADMIN_URL, make_app
from tests.notifications.test_due_projection import register_every_kind
from tests.readiness.evidence import store_documents
from tests.records.samples import SAMPLES


def _kept(app: Any, at: dt.datetime, ahead: dt.timedelta = AHEAD) -> list[DueItem]:
    """The kept list as of ``at`` (read as "My tasks" reads it, on a read session whose
    keeper stores what it found), whole, paged and counted, checked against a fresh
    computation on another read session: the same items in the same order."""
    db = database(app)
    with db.read_sessionmaker() as read:
        kept = due_list.current(read, at, ahead)
        whole = kept.page(read)
        total = kept.count(read)
        paged = [
            i for start in range(0, total + 3, 3) for i in kept.page(read, offset=start, limit=3)
        ]
    with db.read_sessionmaker() as read:
        fresh = due_items(read, at, ahead=ahead)
    assert whole == fresh
    assert paged == fresh
    assert total == len(fresh)
    return whole


def _states(app: Any) -> dict[int, dt.datetime]:
    with database(app).read_sessionmaker() as read:
        return dict(read.execute(sa.select(DueState.system_id, DueState.evaluated_at)).all())


def _system(session: Any, reference: str) -> AISystem:
    return session.scalar(sa.select(AISystem).where(AISystem.reference == reference))


def _entry(session: Any, system: AISystem, kind: str) -> Entry:
    return session.scalar(
        sa.select(Entry).where(Entry.system_id == system.id, Entry.kind == kind).limit(1)
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_the_kept_list_is_a_fresh_computation_after_every_kind_of_write(app, session, officer):
    register_every_kind(session, officer, _now())
    session.commit()
    now = _now()
    items = _kept(app, now)  # cold: every system found, and kept
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
    kept = _states(app)
    assert len(kept) == 5  # every system has its state, retired ones too

    later = now + dt.timedelta(seconds=30)  # current: read as stored, words moved on
    moved = _kept(app, later)
    assert [i.key for i in moved] == [i.key for i in items]
    assert {i.due_at for i in moved if i.kind in AT_ONCE} == {later}
    assert _states(app) == kept

    prod, ready = _system(session, "prod"), _system(session, "sys-1")
    pilot = _system(session, "pilot")
    soon = (now + dt.timedelta(days=2)).date().isoformat()
    writes_of_each_kind = [
        # a new system, and a new entry of each kind the items read
        lambda: writes.create_system(
            session, officer, {**SAMPLES["profile"], "reference": "new", "stage": "production"}
        ),
        lambda: writes.create_entry(
            session,
            officer,
            prod,
            "access_grant",
            {**SAMPLES["access_grant"], "expires_at": None, "next_recertification": soon},
        ),
        lambda: writes.create_entry(
            session,
            officer,
            prod,
            "waiver",
            {
                **SAMPLES["waiver"],
                "approved_on": now.date().isoformat(),
                "expires_at": (now + dt.timedelta(hours=30)).isoformat(),
            },
        ),
        lambda: writes.create_entry(
            session,
            officer,
            prod,
            "incident",
            {
                **SAMPLES["incident"],
                "status": "open",
                "detected_at": now.isoformat(),
                "became_aware_at": now.isoformat(),
            },
        ),
        # an update, a version taking effect later, a retired entry
        lambda: writes.update_entry(
            session,
            officer,
            _entry(session, prod, "review_procedure").id,
            {"type": "periodic", "frequency_days": 2},
            base_version=_entry(session, prod, "review_procedure").head_number,
        ),
        lambda: writes.update_entry(
            session,
            officer,
            _entry(session, prod, "profile").id,
            {**SAMPLES["profile"], "reference": "prod", "stage": "pilot"},
            base_version=_entry(session, prod, "profile").head_number,
            effective_from=now + dt.timedelta(hours=6),
        ),
        lambda: writes.retire_entry(
            session,
            officer,
            _entry(session, ready, "access_grant").id,
            base_version=_entry(session, ready, "access_grant").head_number,
        ),
        # documents received and withheld
        lambda: store_documents(
            session, officer, pilot, valid_until=now.date() + dt.timedelta(days=3)
        ),
        lambda: set_withheld(
            session,
            officer,
            pilot,
            session.scalar(sa.select(Document.sha256).where(Document.system_id == pilot.id)),
            True,
        ),
        # the evidence an approval relied on, as approved again
        lambda: writes.update_entry(
            session,
            officer,
            _entry(session, ready, "owner").id,
            SAMPLES["owner"],
            base_version=_entry(session, ready, "owner").head_number,
        ),
    ]
    for n, write in enumerate(writes_of_each_kind):
        before = _states(app)
        write()
        session.commit()
        at = _now()
        _kept(app, at)
        after = _states(app)
        changed = {i for i in after if after[i] != before.get(i)}
        # Only the system written to is found again (the others' day still holds).
        assert len(changed) == 1 or at.date() != now.date(), n

    # As time passes: the version taking effect, a day on, ten days on.
    for hours in (7, 30, 240):
        _kept(app, _now() + dt.timedelta(hours=hours))
    # Another horizon: found again for it, and back.
    _kept(app, _now() + dt.timedelta(hours=240), dt.timedelta(days=3))
    _kept(app, _now() + dt.timedelta(hours=240))


def _analyzed_rows(app: Any, table: str) -> int | None:
    """How many rows the planner's statistics of ``table`` say it holds (None: never
    analyzed)."""
    with database(app).read_sessionmaker() as read:
        if read.get_bind().dialect.name == "postgresql":
            found = read.scalar(
                sa.text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
            )
            return None if found is None or found < 0 else int(found)
        if not read.scalar(
            sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        ):
            return None
        found = read.scalar(
            sa.text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t AND idx IS NOT NULL"),
            {"t": table},
        )
        return None if found is None else int(found.split()[0])


def test_storing_many_states_at_once_refreshes_the_statistics(app, session, officer, monkeypatch):
    """The first read of a register stores every system's state: the planner's
    statistics of the due list are made then (as the readiness projection's); a read
    storing fewer leaves them, a rebuild makes them again."""
    monkeypatch.setattr(due_list, "ANALYZE_AFTER", 5)
    register_every_kind(session, officer, _now())
    session.commit()
    assert _analyzed_rows(app, "due_state") is None
    _kept(app, _now())
    assert _analyzed_rows(app, "due_state") == 5
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "one-more"})
    session.commit()
    _kept(app, _now())
    assert len(_states(app)) == 6
    assert _analyzed_rows(app, "due_state") == 5  # one state stored: not analyzed again
    result = app.test_cli_runner().invoke(args=["notify", "rebuild"])
    assert result.exit_code == 0, result.output
    assert _analyzed_rows(app, "due_state") == 6


def test_rebuild_makes_the_list_again(app, session, officer):
    register_every_kind(session, officer, _now())
    session.commit()
    result = app.test_cli_runner().invoke(args=["notify", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Due items rebuilt" in result.output
    kept = _states(app)
    assert len(kept) == 5
    now = _now()
    items = _kept(app, now)
    assert items and _states(app) == kept  # read as rebuilt: nothing found again


def test_a_read_session_without_a_keeper_still_answers(app, session, officer):
    """On a session with no keeper (a write session) nothing is stored, and the answer
    is the same."""
    register_every_kind(session, officer, _now())
    session.commit()
    now = _now()
    kept = due_list.current(session, now, AHEAD)
    assert kept.page(session) == due_items(session, now)
    assert _states(app) == {}


def test_my_tasks_finds_the_systems_the_scan_tells_each_user_of(app, session, officer, users):
    """Who sees a system's items in My tasks is who the scan tells (``recipients``):
    owners named in a role told, within their term, by user id or e-mail; not a DPO,
    not an owner whose term has ended; and subscribers."""
    tech, auditor = users["technical_owner"], users["auditor"]
    made = {}
    named = {
        "by-email": {"role": "technical", "person": {"name": "T", "email": tech.email.upper()}},
        "by-id": {
            "role": "oversight",
            "person": {"name": "T", "user_id": tech.id, "email": "desk@example.org"},
        },
        "as-dpo": {"role": "dpo", "person": {"name": "T", "email": tech.email}},
        "ended": {
            "role": "business",
            "person": {"name": "T", "email": tech.email},
            "end": "2021-01-01",
        },
    }
    for reference, owner in named.items():
        made[reference], _ = writes.create_system(
            session,
            officer,
            {**SAMPLES["profile"], "reference": reference, "stage": "production"},
        )
        writes.create_entry(
            session, officer, made[reference], "owner", {"start": "2020-01-01", **owner}
        )
    service.subscribe(session, Actor.for_user(auditor), made["as-dpo"], on=True)
    session.commit()
    now = _now()
    told = recipients(session, None, now.date())
    for user in (tech, auditor, users["compliance_officer"]):
        actor = Actor.for_user(user)
        with database(app).read_sessionmaker() as read:
            tasks = service.my_tasks(read, actor, now, limit=MAX_PAGE)
        shown = {i.system_id for i in tasks.items}
        assert shown == {s.id for s in made.values() if user.id in told.of(s.id)}, user.email
    with database(app).read_sessionmaker() as read:
        mine = service.my_tasks(read, Actor.for_user(tech), now).items
    assert {i.reference for i in mine} == {"by-email", "by-id"}


class Holding:
    """A read session's keeper that holds what the read found, for the test to store
    with ``due_list.store`` when it chooses (two keepers interleaved by hand)."""

    def __init__(self) -> None:
        self.found: due_list.Found | None = None

    def keep(self, found: due_list.Found) -> None:
        self.found = found


def _found_by_a_read(app: Any, at: dt.datetime) -> due_list.Found:
    holding = Holding()
    with database(app).read_sessionmaker() as read:
        read.info[due_list.INFO_KEY] = holding
        due_list.current(read, at, AHEAD)
    assert holding.found is not None
    return holding.found


def _set_frequency(session: Any, officer: Actor, days: int) -> None:
    procedure = _entry(session, _system(session, "prod"), "review_procedure")
    writes.update_entry(
        session,
        officer,
        procedure.id,
        {"type": "periodic", "frequency_days": days},
        base_version=procedure.head_number,
    )
    session.commit()


def _waiting_on_a_lock(app: Any) -> bool:
    with database(app).read_sessionmaker() as read:
        return bool(
            read.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
        )


def test_two_keepers_storing_one_system_leave_the_later_state(app, session, officer):
    """K1 finds a system on one event, K2 on a later one and stores it; K1 stores after
    (on PostgreSQL while K2's transaction is open, so K1 waits on it): K2's rows and
    state stay, and the list is a fresh computation, not a mix of both."""
    register_every_kind(session, officer, _now())
    session.commit()
    _kept(app, _now())  # stored, every system
    _set_frequency(session, officer, 2)
    first = _found_by_a_read(app, _now())  # K1: the system on its event before the next
    _set_frequency(session, officer, 9)
    second = _found_by_a_read(app, _now())  # K2
    prod = _system(session, "prod").id
    session.commit()  # the test's own session holds no transaction while keepers store
    assert list(first.systems) == list(second.systems) == [prod]
    keys = [
        {i.key for i in found.items if i.kind.startswith("review")} for found in (first, second)
    ]
    assert keys[0] != keys[1]
    db = database(app)
    if session.get_bind().dialect.name == "postgresql":
        with db.sessionmaker() as k2:
            due_list.store(k2, second)
            errors: list[BaseException] = []

            def k1() -> None:
                try:
                    with db.sessionmaker() as s:
                        due_list.store(s, first)
                        s.commit()
                except BaseException as exc:  # reported by the test below
                    errors.append(exc)

            thread = threading.Thread(target=k1)
            thread.start()
            deadline = time.monotonic() + 20
            while not _waiting_on_a_lock(app) and time.monotonic() < deadline:
                time.sleep(0.05)
            waited = _waiting_on_a_lock(app)
            k2.commit()
        thread.join(30)
        assert not errors, errors
        assert waited  # K1 waited for K2's transaction
    else:  # SQLite writes one transaction at a time: K2 stores and commits, then K1
        for found in (second, first):
            with db.sessionmaker() as s:
                due_list.store(s, found)
                s.commit()
    assert _states(app)[prod] == second.now
    _kept(app, _now())


def test_a_keeper_of_every_system_leaves_the_later_states_stored_since(app, session, officer):
    """K1 finds every system (the first read), then a system is written to and another
    made, and K2 finds and stores them; K1 stores after: the later states and items
    stay, and the list is a fresh computation."""
    register_every_kind(session, officer, _now())
    session.commit()
    first = _found_by_a_read(app, _now())  # K1: every system
    _set_frequency(session, officer, 9)
    writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "new", "stage": "production"}
    )
    session.commit()
    _kept(app, _now())  # K2: found and stored by the read session's keeper
    with database(app).sessionmaker() as s:
        due_list.store(s, first)
        s.commit()
    assert len(_states(app)) == 6
    _kept(app, _now())


@pytest.fixture
def app_in_a_language(engine_name: str, database_url: str, tmp_path: Any) -> Iterator[Any]:
    """An app on a database whose default collation sorts text as English does (ICU
    "en-US": "p_x" < "P-x" < "p9" < "px"), not by code point ("P-x" < "p9" < "p_x" <
    "px"); SQLite compares by code point whatever its database."""
    if engine_name == "sqlite":
        made = make_app(database_url, tmp_path / "instance")
        yield made
        made.extensions["registry.db"].dispose()
        return
    worker = re.sub(r"\W", "", os.environ.get("PYTEST_XDIST_WORKER", "main"))
    name = f"registry_en_{worker}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    with admin.connect() as connection:
        connection.exec_driver_sql(drop)
        connection.exec_driver_sql(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu'
            " ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    upgrade(url)
    made = make_app(url, tmp_path / "instance")
    yield made
    made.extensions["registry.db"].dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(drop)
    admin.dispose()


def test_the_list_is_in_code_point_order_whatever_the_collation(app_in_a_language):
    """The stored rows come in the order Python sorts the fresh ones (by code point),
    so the pages merged from both are the fresh computation's, on a database whose
    collation sorts otherwise."""
    officer = Actor.system("test")
    with app_in_a_language.app_context():
        session = db_session()
        for reference in ("px", "p_x", "p9", "P-x"):
            writes.create_system(
                session,
                officer,
                {**SAMPLES["profile"], "reference": reference, "stage": "production"},
            )
        session.commit()
        now = _now()
        items = _kept(app_in_a_language, now)  # cold: every system found, and kept
        order = [i.reference for i in items if i.kind == "readiness_lost"]
        assert order == ["P-x", "p9", "p_x", "px"]
        _kept(app_in_a_language, now + dt.timedelta(seconds=1))  # read as stored
        writes.create_system(
            session, officer, {**SAMPLES["profile"], "reference": "p-y", "stage": "production"}
        )
        session.commit()
        _kept(app_in_a_language, _now())  # stored and fresh merged


def test_a_read_leaves_out_any_number_of_replaced_systems(app, session, officer):
    """The systems whose stored rows a read replaces are left out in one parameter:
    more than either engine takes as parameters of one statement (SQLite 32,766,
    PostgreSQL 65,535)."""
    register_every_kind(session, officer, _now())
    session.commit()
    now = _now()
    _kept(app, now)
    prod = _system(session, "prod").id
    many = (prod, *range(1_000_000, 1_070_000))
    with database(app).read_sessionmaker() as read:
        kept = due_list.Kept(now, [], many)
        items = kept.page(read, offset=1, limit=3)
        assert (
            kept.count(read)
            == len(kept.page(read))
            == len(items) + 1 + len(kept.page(read, offset=4))
        )
        assert items and prod not in {i.system_id for i in kept.page(read)}
