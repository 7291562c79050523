""" "My systems" read through the owner index (its rows hold the columns the list
filters and orders by) gives what reading the projection's rows and keeping those whose
owner entries name the user gives: the same systems, order, count and pages, whether the
rows were stored, evaluated by the read itself, or a mix of both (both engines)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.accounts.permissions import actor_keys
from registry.extensions import database
from registry.readiness.overview import owned_systems
from registry.readiness.projection import (
    COLUMNS,
    OWNED,
    OWNED_ORDER,
    OWNER_COPIES,
    ReadinessOwner,
    ReadinessProjection,
    current,
    owner_index,
)
from registry.records import writes
from registry.records.models import Entry
from tests.readiness.evidence import make_ready

TIERS = ("high", "limited", "minimal", "unclassified")
STAGES = ("production", "pilot", "proposed", "retired")


def _owner(session, officer, system, role, person, **term):
    body = {"role": role, "person": person, "start": "2020-01-01", **term}
    return writes.create_entry(session, officer, system, "owner", body)


def _register(session: Any, officer: Actor, me: Any) -> dict[str, Any]:
    """Systems of every rank, named by the user's id, e-mail, both, in several roles,
    or not at all (another person, an ended term, a system retired from the register)."""
    by_id = {"name": "Someone", "email": "other@example.org", "user_id": me.id}
    by_email = {"name": "Tess", "email": me.email.upper()}
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    systems = {}
    for n in range(14):
        reference = f"own-{n:02d}"
        system, _ = writes.create_system(
            session,
            officer,
            {
                "name": f"System {n}",
                "reference": reference,
                "stage": STAGES[n % 4],
                "risk_tier": TIERS[(n // 2) % 4],
            },
        )
        systems[reference] = system
        if n % 5 == 0:
            make_ready(session, officer, system, skip=("owner",))
        if n % 3 == 0:
            _owner(session, officer, system, "technical", by_id)
        if n % 3 == 1:
            _owner(session, officer, system, "business", by_email)
        if n % 4 == 1:  # named twice: by both keys, in two roles
            _owner(session, officer, system, "dpo", by_id)
            _owner(session, officer, system, "oversight", by_email)
        if n == 2:
            _owner(session, officer, system, "technical", by_id, end=yesterday)
        if n == 5:
            _owner(session, officer, system, "technical", {"name": "Olaf", "email": "o@x.org"})
    # Named, but retired from the register (listed as retired): not in "My systems".
    writes.retire_entry(
        session, officer, _profile_id(session, systems["own-03"].id), base_version=1
    )
    session.commit()
    return systems


def _profile_id(session: Any, system_id: int) -> int:
    return session.scalar(
        sa.select(Entry.id).where(Entry.system_id == system_id, Entry.kind == "profile")
    )


def _expected(read: Any, view: Any, keys: set[str]) -> list[int]:
    """As "My systems" read before its owner index held its order: every row matching,
    in order, those whose owner entries name the user kept (what the index holds of a
    stored row, ``test_projection``)."""
    rows = view.rows(read, OWNED, OWNED_ORDER)
    return [r["system_id"] for r in rows if {p for p, _role in owner_index(r)} & keys]


def _check_pages(read: Any, view: Any, keys: set[str]) -> list[int]:
    expected = _expected(read, view, keys)
    assert view.count(read, OWNED, naming=keys) == len(expected)
    for per_page in (1, 2, 3, 50):
        seen: list[int] = []
        for page in range(1, -(-len(expected) // per_page) + 1):
            rows = view.rows(read, OWNED, OWNED_ORDER, page * per_page, naming=keys)
            seen += [r["system_id"] for r in rows[(page - 1) * per_page :]]
        assert seen == expected, per_page
    return expected


def test_my_systems_through_the_owner_index_equals_the_projection(app, session, officer, users):
    me = users["technical_owner"]
    actor = Actor.for_user(me)
    keys = actor_keys(actor)
    systems = _register(session, officer, me)
    db = database(app)
    now = dt.datetime.now(dt.UTC)

    # First read: nothing stored, every row evaluated by the read.
    with db.read_sessionmaker() as read:
        view = current(read, now)
        assert len(view.fresh) == len(systems)
        first = _check_pages(read, view, keys)
    names = {s.id: ref for ref, s in systems.items()}
    mine = [names[i] for i in first]
    assert not {"own-02", "own-03", "own-08"} & set(mine)  # ended, retired, nobody
    assert {"own-00", "own-01", "own-05", "own-09", "own-13"} <= set(mine)

    # Stored now: read from the owner index alone, which holds its rows' columns.
    with db.read_sessionmaker() as read:
        view = current(read, now)
        assert view.fresh == {}
        assert _check_pages(read, view, keys) == first
        for owner in read.scalars(sa.select(ReadinessOwner)):
            row = read.get(ReadinessProjection, owner.system_id)
            for column in OWNER_COPIES:
                assert getattr(owner, column) == getattr(row, column), column

    # A mix: two systems changed since (one leaves the list, one moves up), read fresh.
    writes.create_entry(
        session,
        officer,
        systems["own-04"],
        "owner",
        {"role": "business", "person": {"name": "T", "email": me.email}, "start": "2020-01-01"},
    )
    writes.retire_entry(
        session, officer, _profile_id(session, systems["own-06"].id), base_version=1
    )
    session.commit()
    later = dt.datetime.now(dt.UTC)
    with db.read_sessionmaker() as read:
        view = current(read, later)
        assert set(view.fresh) == {systems["own-04"].id, systems["own-06"].id}
        mixed = _check_pages(read, view, keys)
    assert systems["own-04"].id in mixed and systems["own-06"].id not in mixed

    # The next day: every stored row stale by the time, each system read once.
    with db.read_sessionmaker() as read:
        view = current(read, later + dt.timedelta(days=1))
        assert set(view.fresh) == {s.id for s in systems.values()}
        assert _check_pages(read, view, keys) == mixed

    # The page of "My systems" itself: the rows in that order, the count, the last page.
    with db.read_sessionmaker() as read:
        owned = owned_systems(read, actor, later, page=2, per_page=3)
        assert owned.total == len(mixed) and owned.pages == -(-len(mixed) // 3)
        assert [s.reference for s in owned.systems] == [names[i] for i in mixed[3:6]]
        beyond = owned_systems(read, actor, later, page=99, per_page=3)
        assert beyond.page == owned.pages
        assert [s.reference for s in beyond.systems] == [
            names[i] for i in mixed[(owned.pages - 1) * 3 :]
        ]
    assert set(COLUMNS) >= set(OWNER_COPIES)
