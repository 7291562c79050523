"""What an update over the API asks of the database on PostgreSQL, on one pooled
connection: one pipeline (one round trip, BEGIN included: sent by the registry as the
pipeline's first statement, where psycopg would wait for its own BEGIN's answer
first) of the token lookup, the
statement taking the ledger lock (the head and the system's last event), and under the
lock the new version's id and the write's state reads; then one statement storing
the event, the entry's new head and the version, pipelined with the request's COMMIT.
Two round trips, for a compliance officer and a technical owner alike (the owner
entries are read with the state: who acts is known once the token is). A refusal holds
the lock over its decision and the ROLLBACK, and stores nothing. The answers are the
same on SQLite.

With ``REGISTRY_DATABASE_PRE_PING`` on (the default) a pooled connection is tested
before use, but not an API request's: its first exchange is the test, and a request
whose connection is found dead there starts again on a new one (``pings`` counts the
tests: none)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from registry.db_traffic import DriverTraffic
from registry.extensions import database
from registry.ledger.store import LEDGER_LOCK_KEY
from tests.api.conftest import ApiClient
from tests.api.test_database_away import assert_unavailable
from tests.conftest import make_app, terminate_connections
from tests.records.samples import SAMPLES

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture
def watch(app: Any) -> Iterator[Callable[[], DriverTraffic]]:
    """Start counting what the app's connections send (PostgreSQL only)."""
    watching: list[DriverTraffic] = []

    def start() -> DriverTraffic:
        watching.append(DriverTraffic(database(app).engine, wire=True))
        return watching[-1]

    yield start
    for traffic in watching:
        traffic.close()


def assert_one_write(traffic: DriverTraffic | None) -> None:
    """One pipeline of the transaction's BEGIN, the token, the lock and the state read
    under it (the owner entries too: the actor is not known before the token is); the
    statement that stores, pipelined with the COMMIT: two round trips on one
    connection, one transaction, not tested first."""
    if traffic is None:
        return
    assert traffic.pings == 0, traffic.pings
    assert traffic.round_trips == 2, traffic.statements
    assert traffic.exchanges == 2, traffic.statements  # on the wire
    assert traffic.pipelines == 2, traffic.statements
    assert traffic.begins == 1 == traffic.piped_begins == traffic.piped_ends
    assert traffic.statements[0].startswith("BEGIN")
    assert "api_token" in traffic.statements[1]
    assert "registry_ledger_lock_scope" in traffic.statements[2]
    stored = traffic.statements[-2]
    assert "INSERT INTO audit_event" in stored and "INSERT INTO entry_version" in stored
    assert traffic.statements[-1] == "COMMIT"
    # The search index is brought up to date by the reads that use it, never by a write.
    assert not any("system_search" in s for s in traffic.statements), traffic.statements
    traffic.reset()


def test_an_officers_update_is_two_round_trips(app, api_as, entry, engine_name, watch):
    traffic = watch() if engine_name == "postgresql" else None
    changed = {**SAMPLES["data_source"], "name": "Applications 2019-2025"}
    response = api_as("compliance_officer").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == f'"{entry["id"]}.2"'
    assert_one_write(traffic)  # counted at the driver: every path to the server
    retired = api_as("compliance_officer").post(
        f"/api/v1/entries/{entry['id']}/retire",
        json={},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert retired.status_code == 200 and retired.get_json()["retired"] is True
    assert_one_write(traffic)


def test_a_systems_state_is_one_round_trip_with_the_token(app, api_as, entry, engine_name, watch):
    """``GET /api/v1/systems/{reference}``: the token's lookup and the state read in one
    pipeline, no transaction (a read session is in autocommit), nothing else; as of an
    instant, the token first and the older state after it."""
    auditor = api_as("auditor")
    traffic = watch() if engine_name == "postgresql" else None
    state = auditor.get("/api/v1/systems/sys-1")
    assert state.status_code == 200, state.get_data(as_text=True)
    assert [e["id"] for e in state.get_json()["entries"]] == [entry["id"]]
    if traffic is not None:
        assert traffic.round_trips == 1 == traffic.pipelines == traffic.exchanges
        assert traffic.begins == 0 and traffic.pings == 0, traffic.statements
        assert "api_token" in traffic.statements[0] and "entry_version" in traffic.statements[1]
        assert len(traffic.statements) == 2, traffic.statements
        traffic.reset()
    then = {"as_of": entry["recorded_at"]}
    assert auditor.get("/api/v1/systems/sys-1", query_string=then).status_code == 200
    if traffic is not None:
        assert "api_token" in traffic.statements[0], traffic.statements
    problem = api_as("admin").get("/api/v1/systems/sys-1")
    assert problem.status_code == 403, problem.get_data(as_text=True)


def test_a_technical_owners_update_reads_owner_entries_with_the_lock(
    app, api_as, entry, users, engine_name, watch
):
    officer = api_as("compliance_officer")
    owner = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={
            "kind": "owner",
            "body": {
                **SAMPLES["owner"],
                "role": "technical",
                "person": {"name": "Tech", "email": users["technical_owner"].email},
            },
        },
    )
    assert owner.status_code == 201
    traffic = watch() if engine_name == "postgresql" else None
    changed = {**SAMPLES["data_source"], "name": "By the technical owner"}
    response = api_as("technical_owner").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["author"] == f"user:{users['technical_owner'].email}"
    if traffic is not None:
        assert "entry_version.body" in traffic.statements[5]  # the owner entries
    assert_one_write(traffic)
    # Once the owner entry is retired, the technical owner may no longer write: an
    # invalid body is refused for the right first (403), a valid one too, and nothing
    # is written.
    retired = officer.post(
        f"/api/v1/entries/{owner.get_json()['id']}/retire",
        json={},
        headers={"If-Match": owner.headers["ETag"]},
    )
    assert retired.status_code == 200
    invalid = api_as("technical_owner").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": {**changed, "uses": "not a list"}},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert invalid.status_code == 403, invalid.get_data(as_text=True)
    if traffic is not None:
        traffic.reset()
    refused = api_as("technical_owner").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": {**changed, "name": "Not any more"}},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert refused.status_code == 403, refused.get_data(as_text=True)
    if traffic is not None:  # the token, the lock and the state's pipeline; rolled back
        assert traffic.pipelines == 1, traffic.statements
        assert traffic.round_trips == 2, traffic.statements
        assert not any("INSERT" in s for s in traffic.statements)
    current = officer.get(f"/api/v1/entries/{entry['id']}").get_json()
    assert current["version"] == 2 and current["body"]["name"] == "By the technical owner"


def test_a_profile_edit_is_one_write_but_a_promotion_meets_the_gate(
    app, api_as, profile, engine_name, watch
):
    officer = api_as("compliance_officer")
    created = officer.post("/api/v1/systems", json={"profile": profile})
    assert created.status_code == 201, created.get_json()
    entry_id = created.get_json()["profile"]["id"]
    tag = created.get_json()["profile"]["etag"]
    traffic = watch() if engine_name == "postgresql" else None
    edited = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "purpose": "Sorting post"}},
        headers={"If-Match": tag},
    )
    assert edited.status_code == 200, edited.get_json()
    assert_one_write(traffic)  # a profile or owner too: no index
    # A field no search reads: the index row stays as it is, nothing after the COMMIT.
    noted = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "purpose": "Sorting post", "known_misuse": "None"}},
        headers={"If-Match": edited.headers["ETag"]},
    )
    assert noted.status_code == 200, noted.get_json()
    assert_one_write(traffic)
    # A promotion to production is refused by the readiness gate.
    promoted = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "stage": "production"}},
        headers={"If-Match": noted.headers["ETag"]},
    )
    assert promoted.status_code == 409, promoted.get_json()
    assert promoted.get_json()["code"] == "not_ready"
    # So is adding the mark of mirroring another register, which would open the gate.
    marked = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "mirrors_register": "Another register"}},
        headers={"If-Match": noted.headers["ETag"]},
    )
    assert marked.status_code == 409, marked.get_json()
    current = officer.get(f"/api/v1/entries/{entry_id}").get_json()
    assert current["version"] == 3 and current["body"]["stage"] == profile["stage"]


def test_a_technical_owners_profile_edit_keeps_the_classification(
    app, api_as, profile, users, engine_name, watch
):
    officer = api_as("compliance_officer")
    created = officer.post("/api/v1/systems", json={"profile": {**profile, "risk_tier": "high"}})
    assert created.status_code == 201, created.get_json()
    entry_id = created.get_json()["profile"]["id"]
    owner = {
        **SAMPLES["owner"],
        "role": "technical",
        "person": {"name": "Tech", "email": users["technical_owner"].email},
    }
    made = officer.post("/api/v1/systems/sys-1/entries", json={"kind": "owner", "body": owner})
    assert made.status_code == 201
    body = {**profile, "risk_tier": "high"}
    tech = api_as("technical_owner")
    traffic = watch() if engine_name == "postgresql" else None
    first = tech.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**body, "purpose": "Sorting post"}},
        headers={"If-Match": created.get_json()["profile"]["etag"]},
    )
    assert first.status_code == 200, first.get_json()
    assert_one_write(traffic)  # a profile or owner too: no index
    # Lowering the risk tier is the compliance officer's: refused, naming the field,
    # and nothing is written.
    lowered = tech.put(
        f"/api/v1/entries/{entry_id}",
        json={
            "body": {**body, "purpose": "Sorting parcels", "risk_tier": "minimal"},
            "reason": "lower",
        },
        headers={"If-Match": first.headers["ETag"]},
    )
    assert lowered.status_code == 403, lowered.get_json()
    assert "risk_tier" in lowered.get_json()["detail"]
    current = officer.get(f"/api/v1/entries/{entry_id}").get_json()
    assert current["version"] == 2 and current["body"]["risk_tier"] == "high"


def test_without_pre_ping_an_update_sends_only_its_round_trips(
    database_url, engine_name, tmp_path, tokens, entry
):
    if engine_name != "postgresql":
        pytest.skip("counted at the PostgreSQL driver")
    # Another app (process) on the same database and key, with pre-ping off.
    quiet = make_app(database_url, tmp_path / "instance", DATABASE_PRE_PING=False)
    officer = ApiClient(quiet.test_client(), tokens["compliance_officer"])
    changed = {**SAMPLES["data_source"], "name": "Without pings"}
    first = officer.put(  # its first write asks for the latest checkpoint (none seen yet)
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert first.status_code == 200, first.get_data(as_text=True)
    traffic = DriverTraffic(database(quiet).engine, wire=True)
    try:
        response = officer.put(
            f"/api/v1/entries/{entry['id']}",
            json={"body": {**changed, "name": "Still without pings"}},
            headers={"If-Match": first.headers["ETag"]},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert_one_write(traffic)
    finally:
        traffic.close()
        database(quiet).dispose()


def test_a_write_with_an_unknown_token_learns_nothing(
    app, api_as, entry, engine_name, database_url, watch
):
    """The token's lookup goes with the write's lock and state reads on PostgreSQL: an
    unknown token is refused (401) before anything read is used, for an entry that
    exists and one that does not alike, and nothing is written. It takes no ledger
    lock: answered while another transaction holds it."""
    traffic = watch() if engine_name == "postgresql" else None
    stranger = ApiClient(app.test_client(), "reg_" + "x" * 40)
    with _ledger_lock_held(database_url if traffic is not None else None):
        for entry_id in (entry["id"], 999_999):
            answered: list[Any] = []

            def ask(entry_id: int = entry_id, answered: list[Any] = answered) -> None:
                answered.append(
                    stranger.put(
                        f"/api/v1/entries/{entry_id}",
                        json={"body": {**SAMPLES["data_source"], "name": "Not mine"}},
                        headers={"If-Match": f'"{entry_id}.1"'},
                    )
                )

            asking = threading.Thread(target=ask)
            asking.start()
            asking.join(20)
            assert answered, "the unknown token's write waited for the ledger lock"
            response = answered[0]
            assert response.status_code == 401, response.get_data(as_text=True)
            assert response.get_json()["detail"] == "Unknown API token."
    if traffic is not None:
        assert any("lock_scope" in s for s in traffic.statements)  # sent, not taken
        assert not any("INSERT" in s for s in traffic.statements)
    current = api_as("compliance_officer").get(f"/api/v1/entries/{entry['id']}").get_json()
    assert current["version"] == 1


def test_an_unknown_token_is_refused_when_a_statement_after_its_lookup_fails(
    app, api_as, entry, engine_name, database_url
):
    """The token's lookup and a view's reads in one pipeline (PostgreSQL): a read that
    fails at the server (here a lock timeout) does not answer before the token, which
    is refused (401); a known token is told the database is busy (503, as when
    SQLite's busy timeout runs out)."""
    if engine_name != "postgresql":
        pytest.skip("a pipeline with the token's lookup: PostgreSQL")
    name = sa.engine.make_url(database_url).database
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET lock_timeout = '200ms'")
    database(app).dispose()  # new connections take the setting
    stranger = ApiClient(app.test_client(), "reg_" + "x" * 40)
    try:
        with admin.connect() as locking:
            locking.exec_driver_sql("BEGIN")
            locking.exec_driver_sql("LOCK TABLE entry_version IN ACCESS EXCLUSIVE MODE")
            state = stranger.get("/api/v1/systems/sys-1")
            assert state.status_code == 401, state.get_data(as_text=True)
            changed = stranger.put(
                f"/api/v1/entries/{entry['id']}",
                json={"body": SAMPLES["data_source"]},
                headers={"If-Match": entry["etag"]},
            )
            assert changed.status_code == 401, changed.get_data(as_text=True)
            busy = assert_unavailable(api_as("auditor").get("/api/v1/systems/sys-1"))
            assert "database is busy" in busy["detail"]
            busy = assert_unavailable(
                api_as("compliance_officer").put(
                    f"/api/v1/entries/{entry['id']}",
                    json={"body": SAMPLES["data_source"]},
                    headers={"If-Match": entry["etag"]},
                )
            )
            assert "database is busy" in busy["detail"]
            locking.exec_driver_sql("ROLLBACK")
    finally:
        admin.dispose()
    assert api_as("auditor").get("/api/v1/systems/sys-1").status_code == 200


@contextlib.contextmanager
def _ledger_lock_held(database_url: str | None) -> Iterator[None]:
    """The ledger lock held by another connection (PostgreSQL; nothing when None)."""
    if database_url is None:
        yield
        return
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LEDGER_LOCK_KEY)))
            yield
            conn.rollback()
    finally:
        engine.dispose()


def test_a_request_on_a_killed_connection_starts_again_untested(
    app, api_as, entry, engine_name, database_url, watch
):
    """No ping before an API request: its connection found dead at the first exchange
    (which began nothing on the server), the request starts again on a new connection,
    once, and is answered as if nothing had happened; each change is written once. The
    first exchange is a write's pipeline (PUT), a statement before it (PATCH reads the
    base version, an idempotent POST its key) or a read's token lookup (GET)."""
    if engine_name != "postgresql":
        pytest.skip("a killed server connection: PostgreSQL")
    officer = api_as("compliance_officer")
    traffic = watch()
    assert terminate_connections(database_url) >= 1
    changed = {**SAMPLES["data_source"], "name": "After the restart"}
    updated = officer.put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert updated.status_code == 200, updated.get_data(as_text=True)
    assert traffic.pings == 0
    lookups = [s for s in traffic.statements if "api_token" in s and "lock_scope" not in s]
    # Sent again, or once: when the connection was found dead before anything went out
    # (its server gone before the request, as after a restart), nothing is sent twice.
    assert 1 <= len(lookups) <= 2, traffic.statements
    assert traffic.statements[-1] == "COMMIT"

    assert terminate_connections(database_url) >= 1
    patched = officer.open(
        "PATCH",
        f"/api/v1/entries/{entry['id']}",
        data=json.dumps({"name": "Patched after the restart"}),
        headers={"If-Match": updated.headers["ETag"], "Content-Type": MERGE_PATCH},
    )
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert patched.get_json()["version"] == 3

    assert terminate_connections(database_url) >= 1
    created = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "data_source", "body": {**SAMPLES["data_source"], "name": "New"}},
        headers={"Idempotency-Key": "after-restart"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)

    assert terminate_connections(database_url) >= 1
    read = officer.get(f"/api/v1/entries/{entry['id']}")
    assert read.status_code == 200 and read.get_json()["version"] == 3
    assert traffic.pings == 0
    history = officer.get(f"/api/v1/entries/{entry['id']}/versions").get_json()
    assert [v["number"] for v in history["items"]] == [1, 2, 3]
    listed = officer.get("/api/v1/systems/sys-1").get_json()
    assert sum(e["body"].get("name") == "New" for e in listed["entries"]) == 1

    # A system's state: its read goes with the token's lookup (the first exchange).
    stranger = ApiClient(officer.client, "reg_" + "x" * 40)
    for client, query, status in (
        (officer, {}, 200),
        (officer, {"per_kind": 0}, 422),
        (stranger, {}, 401),
        (stranger, {"per_kind": 0}, 401),
    ):
        assert terminate_connections(database_url) >= 1
        state = client.get("/api/v1/systems/sys-1", query_string=query)
        assert state.status_code == status, state.get_data(as_text=True)
    assert traffic.pings == 0
