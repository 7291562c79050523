"""When the database is away (down, restarting, read-only, full), every surface says so:
the API a 503 problem with Retry-After, the web a plain 503 page, the command line one
line and exit status 2; never a 500. Nothing already stored is lost."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from registry.extensions import database
from registry.ledger.checkpoints import make_checkpoint, settings_of
from registry.ledger.keys import load_key
from registry.ledger.store import verify_ledger
from tests.api.conftest import ApiClient
from tests.conftest import (
    PASSWORD,
    _pg_admin_execute,
    csrf_token,
    make_app,
    terminate_connections,
)
from tests.serving import free_port, served

PROBLEM = "application/problem+json"


def assert_unavailable(
    response: Any, *, retry_after: str = "5", later: str | None = None
) -> dict[str, Any]:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == retry_after
    problem = response.get_json()
    assert problem["code"] == "database_unavailable" and problem["status"] == 503
    assert (later or f"Try again in {retry_after} seconds.") in problem["detail"]
    return problem


def assert_unavailable_page(response: Any) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == 503, page
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "5"
    assert "Temporarily unavailable" in page and "Try again in 5 seconds." in page
    return page


def away_app(engine_name: str, tmp_path: Path, **overrides: Any) -> Flask:
    """An app whose database is away: on PostgreSQL a port where nothing listens; on
    SQLite a database file whose folder is gone."""
    if engine_name == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
        return make_app(url, tmp_path / "instance", **overrides)
    folder = tmp_path / "gone"
    app = make_app(f"sqlite:///{folder / 'registry.sqlite3'}", tmp_path / "instance", **overrides)
    shutil.rmtree(folder)  # (the app made it)
    return app


def test_a_database_that_is_down_answers_503_on_the_api_and_the_web(
    engine_name, tmp_path, tokens, profile, app, login_as
):
    signed_in = login_as("auditor").get_cookie("session")  # on the working database
    away = away_app(engine_name, tmp_path, DATABASE_RETRY_AFTER=9)
    api = ApiClient(away.test_client(), tokens["compliance_officer"])

    read = assert_unavailable(api.get("/api/v1/systems"), retry_after="9")
    assert "Nothing was changed." in read["detail"]
    assert read["instance"] == "/api/v1/systems"
    written = assert_unavailable(
        api.post("/api/v1/systems", json={"profile": profile}), retry_after="9"
    )
    assert "cannot be reached" in written["detail"] and "Nothing was changed." in written["detail"]
    assert_unavailable(api.get("/api/v1/ledger/keys"), retry_after="9")  # public, reads keys

    web = away.test_client()
    token = csrf_token(web)  # the sign-in form needs no database
    page = web.post(
        "/login", data={"email": "a@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert page.status_code == 503 and page.headers["Retry-After"] == "9"
    assert "Temporarily unavailable" in page.get_data(as_text=True)
    # Signed in: loading the user fails too, and the page asks nothing more of the database.
    web.set_cookie("session", signed_in.value)
    page = web.get("/systems")
    assert page.status_code == 503 and "Try again in 9 seconds." in page.get_data(as_text=True)
    database(away).dispose()


def test_the_openapi_document_lists_503_with_retry_after(client):
    spec = client.get("/api/openapi.json").get_json()
    response = spec["components"]["responses"]["SERVICE_UNAVAILABLE"]
    assert "Retry-After" in response["headers"]
    assert "database_unavailable" in response["description"]
    methods = {"get", "put", "post", "patch", "delete"}
    operations = [op for path in spec["paths"].values() for m, op in path.items() if m in methods]
    documented = [op for op in operations if "503" in op.get("responses", {})]
    public_file = spec["paths"]["/api/v1/exports/verify_pack.py"]["get"]
    assert "503" not in public_file["responses"]  # served from a file, not the database
    assert len(documented) == len(operations) - 1


@pytest.mark.parametrize("pre_ping", ["default", "off"])
def test_a_restarted_postgresql_with_and_without_pre_ping(
    engine_name, database_url, tmp_path, tokens, profile, users, pre_ping
):
    """The API tests no connection before use: its first exchange (the token's lookup,
    with a write's state reads) is the test, and a request whose connection is found
    dead there starts again on a new one, with or without pre-ping. The web's pages
    are tested before use (pre-ping): without it, a dead connection is found in use."""
    if engine_name != "postgresql":
        pytest.skip("a server restart: PostgreSQL")
    settings = {"DATABASE_PRE_PING": False} if pre_ping == "off" else {}  # default: on
    app = make_app(database_url, tmp_path / "instance", **settings)
    api = ApiClient(app.test_client(), tokens["compliance_officer"])
    web = app.test_client()
    token = csrf_token(web, "/login")
    signed_in = web.post(
        "/login",
        data={"email": users["auditor"].email, "password": PASSWORD, "csrf_token": token},
    )
    assert signed_in.status_code == 302
    assert api.post("/api/v1/systems", json={"profile": profile}).status_code == 201
    assert api.get("/api/v1/systems/sys-1").status_code == 200
    assert terminate_connections(database_url) >= 1  # the app's pooled connections

    after = api.get("/api/v1/systems/sys-1")
    assert after.status_code == 200, after.get_data(as_text=True)
    # A write after a restart, likewise: its first exchange begins the transaction.
    assert terminate_connections(database_url) >= 1
    changed = api.post("/api/v1/systems", json={"profile": {**profile, "reference": "sys-2"}})
    assert changed.status_code == 201, changed.get_data(as_text=True)
    assert api.get("/api/v1/systems/sys-2").get_json()["profile"]["version"] == 1

    assert terminate_connections(database_url) >= 1
    page = web.get("/systems/sys-1")
    if pre_ping == "default":
        # The dead connection is found before use and replaced: the page is served.
        assert page.status_code == 200, page.get_data(as_text=True)
    else:
        # Found dead in use: the request fails, as a 503 (not a 500) ...
        assert "closed the connection" in assert_unavailable_page(page)
        # ... and the pool is replaced, so the next one succeeds.
        assert web.get("/systems/sys-1").status_code == 200
    database(app).dispose()


def read_only_app(engine_name: str, database_url: str, tmp_path: Path) -> Flask:
    """A new app on the same database, now read-only: on PostgreSQL for every new
    connection (``default_transaction_read_only``), on SQLite opened ``mode=ro``."""
    if engine_name == "postgresql":
        name = sa.engine.make_url(database_url).database
        _pg_admin_execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        return make_app(database_url, tmp_path / "instance")
    path = sa.engine.make_url(database_url).database
    return make_app(f"sqlite:///file:{path}?mode=ro&uri=true", tmp_path / "instance")


def test_a_read_only_database_refuses_writes_with_503_and_still_reads(
    engine_name, database_url, tmp_path, api_as, tokens, profile, app
):
    officer = api_as("compliance_officer")
    created = officer.post("/api/v1/systems", json={"profile": profile})
    assert created.status_code == 201
    profile_entry = created.get_json()["profile"]
    database(app).dispose()
    ro = read_only_app(engine_name, database_url, tmp_path)
    api = ApiClient(ro.test_client(), tokens["compliance_officer"])

    assert api.get("/api/v1/systems/sys-1").status_code == 200  # reads still work
    problem = assert_unavailable(
        api.post("/api/v1/systems", json={"profile": {**profile, "reference": "sys-2"}})
    )
    assert "is read-only" in problem["detail"] and "Nothing was changed." in problem["detail"]
    # An update too (on PostgreSQL, the one-statement path).
    updated = api.put(
        f"/api/v1/entries/{profile_entry['id']}",
        json={"body": {**profile, "purpose": "Changed"}},
        headers={"If-Match": profile_entry["etag"]},
    )
    assert_unavailable(updated)
    current = api.get(f"/api/v1/entries/{profile_entry['id']}").get_json()
    assert current["version"] == 1 and current["body"]["purpose"] == profile["purpose"]
    database(ro).dispose()


def test_asking_for_an_export_on_a_read_only_database_is_503_and_changes_nothing(
    engine_name, database_url, tmp_path, api_as, tokens, profile, app
):
    assert api_as("compliance_officer").post("/api/v1/systems", json={"profile": profile})
    with database(app).sessionmaker() as session:  # every event covered: pinning signs none
        make_checkpoint(session, settings_of(session).signer)
        session.commit()
    database(app).dispose()
    ro = read_only_app(engine_name, database_url, tmp_path)
    api = ApiClient(ro.test_client(), tokens["auditor"])
    before = api.get("/api/v1/ledger/checkpoints").get_data()

    failed = api.post("/api/v1/exports", json={"system": "sys-1"})

    # The job that would make the pack cannot even be recorded.
    problem = assert_unavailable(failed)
    assert "is read-only" in problem["detail"] and "Nothing was changed." in problem["detail"]
    assert api.get("/api/v1/ledger/checkpoints").get_data() == before
    assert api.get("/api/v1/exports").get_json()["items"] == []
    folder = Path(ro.config["EXPORT_DIR"])
    assert not folder.exists() or list(folder.iterdir()) == []
    database(ro).dispose()


def test_a_full_sqlite_database_refuses_writes_and_loses_nothing(engine_name, app, api_as, profile):
    if engine_name != "sqlite":
        pytest.skip("a full disk is provoked on SQLite (max_page_count); see test_outage.py")
    officer = api_as("compliance_officer")
    assert officer.post("/api/v1/systems", json={"profile": profile}).status_code == 201
    before = officer.get("/api/v1/systems/sys-1").get_json()
    engine = database(app).engine

    @sa.event.listens_for(engine, "connect")
    def _no_room(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA max_page_count = 1")  # no larger than it is now

    engine.dispose()  # new connections, each without room to grow
    text = "x" * 9_000  # each over two pages, so the version and its event need new ones
    big = {**profile, "reference": "sys-2", "purpose": text, "known_misuse": text}
    problem = assert_unavailable(officer.post("/api/v1/systems", json={"profile": big}))
    assert "is full" in problem["detail"] and "Nothing was changed." in problem["detail"]

    sa.event.remove(engine, "connect", _no_room)
    engine.dispose()
    assert officer.get("/api/v1/systems/sys-1").get_json() == before
    assert officer.get("/api/v1/systems/sys-2").status_code == 404
    with database(app).read_sessionmaker() as read:
        key = load_key(Path(app.config["SIGNING_KEY_PATH"])).verifier_key
        assert verify_ledger(read, [key]).ok
    assert officer.post("/api/v1/systems", json={"profile": big}).status_code == 201


def test_commands_on_a_database_that_is_down_print_one_line_and_exit_2(engine_name, tmp_path):
    away = away_app(engine_name, tmp_path)
    runner = away.test_cli_runner()
    for args in (
        ["users", "create", "a@example.org", "--role", "auditor", "--password", PASSWORD],
        ["tokens", "revoke", "reg_nothing"],
        ["readiness", "sys-1"],
        ["db", "upgrade"],
    ):
        with away.app_context():  # as the registry command pushes one
            result = runner.invoke(args=args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output, result.output
        assert lines[0].startswith("Error: The registry's database cannot be reached")
    database(away).dispose()


def test_served_by_gunicorn_a_database_that_is_down_is_a_503_problem(tmp_path):
    # The server's own start needs no database: /login answers without one.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test",
        REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        REGISTRY_SECRET_KEY="serve-test-secret",
    )
    port = free_port()
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)]
    with served(command, port, env, tmp_path) as run:
        request = urllib.request.Request(
            f"{run.url}/api/v1/systems", headers={"Authorization": "Bearer reg_anything"}
        )
        with pytest.raises(urllib.error.HTTPError) as answered:
            urllib.request.urlopen(request, timeout=30)
    answer = answered.value
    assert answer.code == 503
    assert answer.headers.get_content_type() == PROBLEM
    assert answer.headers["Retry-After"] == "5"
    problem = json.loads(answer.read())
    assert problem["code"] == "database_unavailable"
    assert "cannot be reached" in problem["detail"]
    assert run.process.returncode == 0, run.errors
    requests = [
        json.loads(line) for line in run.errors.splitlines() if '"registry.requests"' in line
    ]
    assert ("GET", "/api/v1/systems", 503) in [
        (r["method"], r["endpoint"], r["status"]) for r in requests
    ]


def test_a_database_error_that_is_a_bug_stays_a_500(db_factory, tmp_path):
    # A database without the registry's tables: "no such table" / "relation does not
    # exist" is no outage, and answers as any bug does.
    url, drop = db_factory.empty()
    try:
        app = make_app(url, tmp_path / "instance", PROPAGATE_EXCEPTIONS=False)
        response = app.test_client().get(
            "/api/v1/systems", headers={"Authorization": "Bearer reg_anything"}
        )
        assert response.status_code == 500 and response.mimetype == PROBLEM
        assert response.get_json()["code"] == "internal_error"
        assert "Retry-After" not in response.headers
        database(app).dispose()
    finally:
        drop()
