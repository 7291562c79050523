"""The systems' search index (records.search_index): what it finds systems by, brought
up to date by the reads that use it after every write of a profile or an owner entry,
and made again equal by a rebuild; user text never read as query syntax (both engines,
real full-text indexes)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from registry.errors import InvalidInput
from registry.extensions import database
from registry.ledger.models import AuditEvent
from registry.records import search_index, writes
from registry.records.models import Entry
from registry.records.search import count_systems, search_systems
from registry.records.search_index import SearchCursor, SystemSearch, indexed, words
from tests.conftest import PASSWORD, csrf_token
from tests.records.samples import SAMPLES

OWNERS = {
    "sys-a": [("business", "Ana Álvarez", "ana.alvarez@gemeente.example")],
    "sys-b": [("technical", "Bob O'Brien", "bob@data-team.example")],
    "sys-c": [],
}
PROFILES = {
    "sys-a": {"name": "Benefit fraud triage", "purpose": "Ranks applications", "stage": "pilot"},
    "sys-b": {"name": "Parking permits", "organisation": "Utrecht", "stage": "production"},
    "sys-c": {"name": "Fraud signals", "purpose": 'NEAR(fraud) "quoted" *', "stage": "proposed"},
}


def _owner(role: str, name: str, email: str) -> dict[str, Any]:
    return {"role": role, "person": {"name": name, "email": email}, "start": "2025-01-01"}


@pytest.fixture
def made(session, users, officer) -> dict[str, Any]:
    systems = {}
    for reference, fields in PROFILES.items():
        systems[reference], _ = writes.create_system(
            session, officer, {"reference": reference, **fields}
        )
        for role, name, email in OWNERS[reference]:
            writes.create_entry(
                session, officer, systems[reference], "owner", _owner(role, name, email)
            )
    session.commit()
    return systems


def refs(session, q: str, **kw: Any) -> list[str]:
    return [r.system.reference for r in search_systems(session, q=q, **kw)]


def _index(session) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in session.execute(
            sa.select(
                SystemSearch.system_id,
                SystemSearch.document,
                SystemSearch.name_key,
                SystemSearch.stage,
                SystemSearch.risk_tier,
                SystemSearch.retired,
            ).order_by(SystemSearch.system_id)
        )
    ]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("fraud", ["sys-a", "sys-c"]),  # name
        ("FRA", ["sys-a", "sys-c"]),  # a prefix, any case
        ("fraud triage", ["sys-a"]),  # every word
        ("triage fraud", ["sys-a"]),  # in any order
        ("fraud parking", []),
        ("utrecht", ["sys-b"]),  # organisation
        ("applic", ["sys-a"]),  # purpose
        ("sys-c", ["sys-c"]),  # reference
        ("Ana", ["sys-a"]),  # an owner's name
        ("Álvarez", ["sys-a"]),
        ("O'Brien", ["sys-b"]),
        ("ana.alvarez@gemeente.example", ["sys-a"]),  # an owner's e-mail
        ("bob@data-team.example", ["sys-b"]),
        ("data-team", ["sys-b"]),  # part of it
        ("gemeente", ["sys-a"]),
        ("quoted", ["sys-c"]),
        ("near", ["sys-c"]),  # a word, never an operator
    ],
)
def test_finds_systems_by_their_text_and_owners(session, made, q, expected):
    assert refs(session, q) == expected
    assert count_systems(session, q=q).systems == len(expected)


FRAUD = ["sys-a", "sys-c"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"', []),
        ('""', []),
        ("*", []),
        ("fraud*", FRAUD),
        ("NEAR(", ["sys-c"]),
        ("NEAR(fraud triage", []),
        ("fraud:*", FRAUD),
        (":*", []),
        ("&|!", []),
        ("fraud & !triage", ["sys-a"]),
        ("fraud | parking", []),
        ("'", []),
        ("\\", []),
        ("fraud'); DROP TABLE system_search; --", []),
        ("a" * 5000, []),
        ("fraud " * 300, FRAUD),
        ("(((", []),
        ("^fraud", FRAUD),
        ("fraud OR parking", []),
        ("fraud NOT triage", []),
        ("-fraud", FRAUD),
        ("\u200b", []),
        ("\U0001f642 fraud", FRAUD),
        ("fraud AND", []),
        ("name:fraud", []),
        ("{fraud}", FRAUD),
    ],
)
def test_hostile_text_is_only_words(session, made, q, expected):
    """Operators, quotes, stars and column filters are separators: whatever the text,
    the query is its words, each a prefix, all required."""
    assert refs(session, q) == expected
    assert count_systems(session, q=q).systems == len(expected)
    assert session.scalar(sa.select(sa.func.count()).select_from(SystemSearch)) == 3


def test_text_without_words_matches_nothing(session, made):
    for q in ('"', "*", "&|!", ":*", "(((", "_"):
        assert refs(session, q) == []
        assert count_systems(session, q=q).systems == 0


def test_text_no_record_can_hold_is_bad_input(session, made):
    with pytest.raises(InvalidInput) as caught:
        search_systems(session, q="fraud\x00")
    assert "q" in caught.value.field_errors


def test_words_are_bounded():
    assert words('NEAR("a" b*) c:* d&e|f!') == ["NEAR", "a", "b", "c", "d", "e", "f"]
    assert len(words("w " * 100)) == search_index.MAX_WORDS
    assert words("x" * 1000) == ["x" * search_index.MAX_WORD]


def test_kept_with_profile_and_owner_writes(session, made, officer):
    system = made["sys-b"]
    profile = session.scalar(
        sa.select(Entry).where(Entry.system_id == system.id, Entry.kind == "profile")
    )
    writes.update_entry(
        session,
        officer,
        profile.id,
        {
            "reference": "sys-b",
            "name": "Residents' parking",
            "stage": "pilot",
            "risk_tier": "high",
        },
        base_version=1,
        reason="Renamed",
    )
    session.commit()
    assert refs(session, "residents") == ["sys-b"]
    assert refs(session, "utrecht") == []  # the organisation is no longer recorded
    row = session.get(SystemSearch, system.id)
    assert (row.name_key, row.stage, row.risk_tier) == ("residents' parking", "pilot", "high")

    # A new owner is found; a changed one by the new name only; a retired one not at all.
    owner = writes.create_entry(
        session, officer, system, "owner", _owner("oversight", "Chidi Okafor", "chidi@example.org")
    )
    session.commit()
    assert refs(session, "chidi") == ["sys-b"]
    writes.update_entry(
        session,
        officer,
        owner.entry_id,
        _owner("oversight", "Chidi Anagonye", "chidi@example.org"),
        base_version=1,
        reason="Name",
    )
    session.commit()
    assert refs(session, "anagonye") == ["sys-b"] and refs(session, "okafor") == []
    writes.retire_entry(session, officer, owner.entry_id, base_version=2, reason="Left")
    session.commit()
    assert refs(session, "chidi") == []

    # A system retired from the register stays listed, found by its last profile.
    writes.retire_entry(session, officer, profile.id, base_version=2, reason="Out of use")
    session.commit()
    assert [(r.system.reference, r.retired) for r in search_systems(session, q="residents")] == [
        ("sys-b", True)
    ]
    assert refs(session, "residents", status="live") == []
    writes.reinstate_system(session, officer, system, base_version=3, reason="Back")
    session.commit()
    assert [(r.system.reference, r.retired) for r in search_systems(session, q="residents")] == [
        ("sys-b", False)
    ]


def _stored(session) -> list[dict[str, Any]]:
    columns = ("system_id", "document", "name_key", "stage", "risk_tier", "retired", "seq")
    table = SystemSearch.__table__
    found = session.execute(sa.select(*(table.c[c] for c in columns)).order_by(table.c.system_id))
    return [dict(zip(columns, row, strict=True)) for row in found]


def test_after_every_kind_of_write_and_a_read_the_row_is_a_fresh_rebuilds(session, made, officer):
    """A write of a profile or an owner entry sends nothing for the index; once it has
    committed, the first read brings the stored rows to those a rebuild makes from the
    committed records now, ``seq`` included (the system's last event: the write's own),
    and moves the cursor to the ledger's head."""
    system = made["sys-c"]
    ids = sorted(s.id for s in made.values())
    profile = session.scalar(
        sa.select(Entry).where(Entry.system_id == system.id, Entry.kind == "profile")
    )
    body = {"reference": "sys-c", **PROFILES["sys-c"]}
    changes = [
        lambda: writes.update_entry(
            session, officer, profile.id, {**body, "purpose": "Flags"}, base_version=1
        ),
        lambda: writes.patch_entry(
            session, officer, profile.id, {"name": "Fraud flags"}, base_version=2
        ),
        lambda: writes.create_entry(
            session, officer, system, "owner", _owner("technical", "Dee Dee", "dee@example.org")
        ),
        lambda: writes.retire_entry(session, officer, profile.id, base_version=3),
        lambda: writes.reinstate_system(session, officer, system, base_version=4),
        # A field no search reads: the row's text stays, its seq follows the event.
        lambda: writes.patch_entry(
            session, officer, profile.id, {"known_misuse": "None known"}, base_version=5
        ),
    ]
    for change in changes:
        before = _stored(session)
        change()
        session.commit()
        assert _stored(session) == before  # the write left the index alone
        refs(session, "anything")  # a read
        session.commit()
        rebuilt = sorted(search_index.rows_of(session, ids), key=lambda r: r["system_id"])
        head = session.scalar(sa.select(sa.func.max(AuditEvent.seq)))
        session.rollback()
        assert _stored(session) == rebuilt
        assert session.scalar(sa.select(SearchCursor.seq)) == head
    assert refs(session, "dee") == ["sys-c"] and refs(session, "flags") == ["sys-c"]


def _reader(app, users) -> Any:
    """A signed-in client of the web pages (signed in from a thread of its own: a
    request context of its own, not this test's)."""
    client = app.test_client()

    def sign_in() -> None:
        token = csrf_token(client)
        user = users["compliance_officer"]
        data = {"email": user.email, "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=data).status_code == 302

    thread = threading.Thread(target=sign_in)
    thread.start()
    thread.join()
    return client


def _get(clients: list[Any], path: str) -> list[str]:
    """GET ``path`` with each client at once, each in a thread of its own: a request of
    its own, so a read session of its own (this test's application context is not
    shared with them), as in service."""
    start = threading.Barrier(len(clients))
    pages: list[str] = [""] * len(clients)

    def get(i: int) -> None:
        start.wait()
        response = clients[i].get(path)
        assert response.status_code == 200
        pages[i] = response.get_data(as_text=True)

    threads = [threading.Thread(target=get, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pages


def test_a_search_right_after_a_write_finds_it(app, session, users, made, officer):
    """Read-your-writes through the app's read sessions (a GET's), whose keeper stores
    the rows a read made in a transaction of its own: the same read finds them."""
    system = made["sys-a"]
    client = _reader(app, users)
    writes.create_entry(
        session, officer, system, "owner", _owner("oversight", "Eve Ekwueme", "eve@example.org")
    )
    session.commit()
    (text,) = _get([client], "/systems?q=ekwueme")
    assert "sys-a" in text and "sys-b" not in text and "sys-c" not in text
    # The keeper stored the row and moved the cursor: the next read has nothing to do.
    head = session.scalar(sa.select(sa.func.max(AuditEvent.seq)))
    session.rollback()
    assert session.scalar(sa.select(SearchCursor.seq)) == head
    assert "ekwueme" in session.get(SystemSearch, system.id).document.casefold()
    (text,) = _get([client], "/systems?q=eve%40example.org")
    assert "sys-a" in text and "sys-b" not in text


def test_two_readers_racing_both_find_the_write(app, session, users, made, officer):
    """Two reads at once after a write: each makes the rows again and hands them to the
    keeper; both find the write, and what is stored is what a rebuild makes."""
    clients = [_reader(app, users), _reader(app, users)]
    profile = session.scalar(
        sa.select(Entry.id).where(Entry.system_id == made["sys-c"].id, Entry.kind == "profile")
    )
    body = {"reference": "sys-c", **PROFILES["sys-c"], "name": "Zebra crossings"}
    for version in (1, 2):
        body = {**body, "purpose": f"Counts crossings, take {version}"}
        writes.update_entry(session, officer, profile, body, base_version=version)
        session.commit()
        for text in _get(clients, "/systems?q=zebra"):
            assert "sys-c" in text and "sys-a" not in text
    ids = sorted(s.id for s in made.values())
    rebuilt = sorted(search_index.rows_of(session, ids), key=lambda r: r["system_id"])
    head = session.scalar(sa.select(sa.func.max(AuditEvent.seq)))
    session.rollback()
    assert _stored(session) == rebuilt
    assert session.scalar(sa.select(SearchCursor.seq)) == head


def test_an_older_row_never_replaces_a_newer(app, session, made, officer):
    """Two reads make one system's row from two ledger positions; the one that saw the
    later event stores first (``search_index.store``, what the keeper runs). The other's
    older row and cursor are not kept."""
    system = made["sys-b"]
    profile = session.scalar(
        sa.select(Entry.id).where(Entry.system_id == system.id, Entry.kind == "profile")
    )
    body = {"reference": "sys-b", **PROFILES["sys-b"]}
    maker = database(app).sessionmaker

    def read() -> tuple[list[dict[str, Any]], int]:
        with maker() as reader:
            head = reader.scalar(sa.select(sa.func.max(AuditEvent.seq)))
            return search_index.rows_of(reader, [system.id]), head

    writes.update_entry(session, officer, profile, {**body, "name": "Alpha"}, base_version=1)
    session.commit()
    older, older_head = read()
    writes.update_entry(session, officer, profile, {**body, "name": "Beta"}, base_version=2)
    session.commit()
    newer, newer_head = read()
    assert older[0]["seq"] < newer[0]["seq"] and older_head < newer_head
    for rows, head in ((newer, newer_head), (older, older_head)):
        with maker() as keeping:
            search_index.store(keeping, rows, head)
            keeping.commit()
    assert next(r for r in _stored(session) if r["system_id"] == system.id) == newer[0]
    assert session.scalar(sa.select(SearchCursor.seq)) == newer_head
    assert refs(session, "beta") == ["sys-b"] and refs(session, "alpha") == []


def test_other_kinds_leave_it_alone(session, made, officer):
    refs(session, "ana")  # a read: the rows are made
    before = _index(session)
    assert len(before) == 3
    writes.create_entry(
        session,
        officer,
        made["sys-a"],
        "data_source",
        {**SAMPLES["data_source"], "name": "Ana's applications", "attachments": []},
    )
    session.commit()
    refs(session, "ana")  # a read: the row is made again, its text the same
    assert _index(session) == before


def test_rebuild_equals_what_reads_kept(session, made, officer):
    writes.retire_entry(
        session,
        officer,
        session.scalar(
            sa.select(Entry.id).where(Entry.system_id == made["sys-c"].id, Entry.kind == "profile")
        ),
        base_version=1,
        reason="Out of use",
    )
    session.commit()
    searches = {q: refs(session, q) for q in ("fraud", "ana", "bob@data-team.example", "sys")}
    kept = _index(session)
    session.execute(sa.delete(SystemSearch))
    session.commit()
    assert refs(session, "fraud") == []  # the cursor says every row is current
    assert search_index.rebuild(session) == 3
    session.commit()
    assert _index(session) == kept
    assert {q: refs(session, q) for q in searches} == searches
    assert searches["fraud"] == ["sys-a", "sys-c"]


def test_the_rebuild_command(app, session, made):
    session.execute(sa.delete(SystemSearch))
    session.commit()
    result = app.test_cli_runner().invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Search index rebuilt: 3 systems" in result.output
    session.expire_all()
    assert refs(session, "ana") == ["sys-a"]


def test_as_of_searches_read_the_versions_then(session, made, officer):
    """The index is the register now; a search as recorded at an instant reads the
    profiles then (text anywhere in the name, reference, purpose or organisation)."""
    before = dt.datetime.now(dt.UTC)
    assert refs(session, "raud", as_of=before) == ["sys-a", "sys-c"]  # inside a word
    assert refs(session, "raud") == []  # the index matches beginnings of words


def test_one_rule_of_what_is_indexed():
    row = indexed(
        "sys-9",
        {"name": "Straße", "purpose": 7, "stage": "pilot", "risk_tier": "nonsense"},
        [{"person": {"name": "Zoë", "email": "z.q@x.example"}}, {"person": "?"}],
    )
    assert row["document"].split("\n") == [
        "sys-9",
        "Straße",
        "Zoë",
        "z.q@x.example",
        "z q x example",
    ]
    assert (row["name_key"], row["stage"], row["risk_tier"]) == ("strasse", "pilot", "unclassified")


def test_a_page_of_many_matches_read_in_order_equals_one_of_few(session, officer, monkeypatch):
    """A search matching many systems reads its page in the order's index, testing each
    row (on SQLite: when matches x matches > page x systems); one matching few reads the
    matches and sorts them: the same pages, in reference order, page after page."""
    for n in range(24):
        writes.create_system(
            session,
            officer,
            {
                "reference": f"pg-{(n * 7) % 24:02d}",
                "name": f"{'Chatbot' if n % 4 else 'Router'} {n}",
                "stage": "pilot" if n % 3 else "production",
            },
        )
    session.commit()
    chosen: list[bool] = []
    in_order = search_index._read_in_order

    def noted(*args: Any) -> bool:
        chosen.append(in_order(*args))
        return chosen[-1]

    monkeypatch.setattr(search_index, "_read_in_order", noted)
    every = {r.system.reference: r.profile for r in search_systems(session, limit=100)}
    for q, stage in (("chatbot", None), ("chatbot", "pilot"), ("router", None)):
        expected = sorted(
            ref
            for ref, profile in every.items()
            if profile["name"].lower().startswith(q) and stage in (None, profile["stage"])
        )
        for limit in (1, 2, 3, 5):
            seen: list[str] = []
            after = None
            while True:
                page = refs(session, q, stage=stage, limit=limit, after=after)
                seen += page
                if len(page) < limit:
                    break
                after = page[-1]
            assert seen == expected, (q, stage, limit)
        assert count_systems(session, q=q, stage=stage).systems == len(expected)
    if session.get_bind().dialect.name == "sqlite":  # both ways were taken
        assert set(chosen) == {True, False}
