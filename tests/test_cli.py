"""The ``registry`` command, run through Flask's CLI runner against the real database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.accounts.models import ApiToken, User
from registry.accounts.service import authenticate, authenticate_token, get_user
from registry.demo.examples import EXAMPLES
from registry.records.models import AISystem
from tests.conftest import make_app


def test_users_and_tokens(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "Ops@Example.org", "--role", "technical_owner", "--name", "Ops"]
    )
    assert result.exit_code == 0, result.output
    assert "Password: " in result.output
    result = runner.invoke(args=["users", "create", "ops@example.org", "--role", "auditor"])
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(
        args=["users", "create", "x@example.org", "--role", "auditor", "--password", "short"]
    )
    assert result.exit_code != 0 and "At least 12 characters" in result.output
    result = runner.invoke(args=["users", "create", "x@example.org", "--role", "wizard"])
    assert result.exit_code == 2
    result = runner.invoke(args=["users", "create", "x\x00@example.org", "--role", "auditor"])
    assert result.exit_code == 1 and "Contains a NUL character." in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)

    result = runner.invoke(
        args=["tokens", "create", "ops@example.org", "--scope", "read", "--days", "7"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[0]
    assert secret.startswith("reg_")
    identity = authenticate_token(session, f"Bearer {secret}")
    assert identity.email == "ops@example.org" and identity.scopes == {"read"}
    result = runner.invoke(args=["tokens", "create", "nobody@example.org"])
    assert result.exit_code != 0 and "No user" in result.output
    result = runner.invoke(args=["tokens", "revoke", secret[:12]])
    assert result.exit_code == 0 and "revoked" in result.output
    session.expire_all()
    assert session.scalar(sa.select(ApiToken.revoked_at)) is not None
    result = runner.invoke(args=["tokens", "revoke", "reg_missing00"])
    assert result.exit_code != 0


def test_db_check_and_ledger_verify(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    runner.invoke(args=["users", "create", "a@example.org", "--role", "auditor"])
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "Ledger intact: 1 events" in result.output


def test_demo_without_the_register_is_idempotent(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--no-register"])
    assert result.exit_code == 0, result.output
    for email in ("admin@demo", "officer@demo", "techowner@demo", "auditor@demo"):
        assert email in result.output
    first_passwords = [line.split()[-1] for line in result.output.splitlines() if "@demo." in line]
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 4
    assert session.scalar(sa.select(sa.func.count()).select_from(AISystem)) == len(EXAMPLES)
    result = runner.invoke(args=["demo", "--no-register"])
    assert result.exit_code == 0, result.output
    assert [
        line.split()[-1] for line in result.output.splitlines() if "@demo." in line
    ] == first_passwords
    assert session.scalar(sa.select(sa.func.count()).select_from(AISystem)) == len(EXAMPLES)


def test_readiness_blocks_a_pipeline_until_the_system_is_ready(app, session, officer):
    from registry.records import writes
    from tests.readiness.evidence import READY_PROFILE, make_ready

    system, _ = writes.create_system(session, officer, READY_PROFILE)
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["readiness", "sys-1", "--require", "production"])
    assert result.exit_code == 1
    assert "NOT READY" in result.stdout and "Business ownership: " in result.stderr
    assert "not ready for production" in result.stderr
    make_ready(session, officer, system)
    session.commit()
    result = runner.invoke(args=["readiness", "sys-1", "--require", "production"])
    assert result.exit_code == 0, result.output
    assert ": ready for production" in result.stdout
    result = runner.invoke(
        args=["readiness", "sys-1", "--json", "--at", "2020-01-01T00:00:00+0000"]
    )
    assert result.exit_code == 0 and '"ready": false' in result.stdout
    assert runner.invoke(args=["readiness", "nope"]).exit_code != 0
    for instant in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
        result = runner.invoke(args=["readiness", "sys-1", "--at", instant])
        assert result.exit_code == 2 and "out of range" in result.output, result.output


def test_users_password_sets_it_and_ends_the_users_sessions(app, session):
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "ops@example.org", "--role", "auditor"])
    result = runner.invoke(
        args=["users", "password", "ops@example.org", "--password", "a long new passphrase"]
    )
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output and "Password:" not in result.output
    session.expire_all()
    assert authenticate(session, "ops@example.org", "a long new passphrase") is not None
    assert get_user(session, "ops@example.org").session_generation == 1
    result = runner.invoke(args=["users", "password", "ops@example.org"])
    assert result.exit_code == 0, result.output
    generated = result.output.split("Password: ")[1].strip()
    session.expire_all()
    assert authenticate(session, "ops@example.org", generated) is not None
    result = runner.invoke(args=["users", "password", "ops@example.org", "--password", "short"])
    assert result.exit_code != 0 and "At least 12 characters" in result.output
    result = runner.invoke(args=["users", "password", "nobody@example.org"])
    assert result.exit_code != 0 and "No user" in result.output


def test_tokens_create_refuses_a_lifetime_of_zero_days(app, session):
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "auditor@example.org", "--role", "auditor"])
    for days in ("0", "-1", "367"):
        result = runner.invoke(
            args=["tokens", "create", "auditor@example.org", "--scope", "read", "--days", days]
        )
        assert result.exit_code == 1, (days, result.output)
        said = "Error: The token request is not valid. (days: Must be between 1 and 366.)\n"
        assert result.output == said
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


# Commands that read an existing registry, each run where there is none.
READING = [
    ["readiness", "demo-city-chatbot"],
    ["readiness", "demo-city-chatbot", "--require", "production"],
    ["ledger", "proof", "1"],
    ["notify", "rebuild"],
    ["users", "create", "a@example.org", "--role", "auditor"],
    ["tokens", "create", "a@example.org"],
    ["search", "rebuild"],
    ["ledger", "consistency", "1", "2"],
]


def _run_each(url: str, instance: Path) -> list:
    app = make_app(url, instance)
    try:
        runner = app.test_cli_runner()
        return [runner.invoke(args=args) for args in READING]
    finally:
        app.extensions["registry.db"].dispose()


def _assert_one_line(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.output.splitlines()) == 1, result.output
    for word in words:
        assert word in result.output, result.output


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_no_database_file_is_said_in_one_line_and_none_is_made(engine_name, tmp_path):
    path = tmp_path / "NonExistent.sqlite3"
    for result in _run_each(f"sqlite:///{path}", tmp_path / "instance"):
        _assert_one_line(result, f"Error: There is no database at {path} (run registry db upgrade")
    app = make_app(f"sqlite:///{path}", tmp_path / "instance")
    try:
        backup = app.test_cli_runner().invoke(args=["db", "backup", str(tmp_path / "b.sqlite3")])
    finally:
        app.extensions["registry.db"].dispose()
    assert backup.exit_code == 2, backup.output
    assert backup.output.splitlines()[-1].startswith(f"Error: There is no database at {path}")
    assert not list(tmp_path.glob("*b.sqlite3*"))  # nor a partial copy
    assert not list(tmp_path.glob("NonExistent.sqlite3*"))  # nor its -wal and -shm files
    app = make_app(f"sqlite:///{path}", tmp_path / "instance")
    try:
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0 and path.exists(), result.output
        result = app.test_cli_runner().invoke(args=["readiness", "demo-city-chatbot"])
        assert result.exit_code == 1 and "No system" in result.output, result.output
    finally:
        app.extensions["registry.db"].dispose()


def test_a_database_never_migrated_is_said_in_one_line(db_factory, engine_name, tmp_path):
    url, drop = db_factory.empty()
    if engine_name == "sqlite":
        Path(url.removeprefix("sqlite:///")).touch()  # a database without tables
    try:
        for result in _run_each(url, tmp_path / "instance"):
            _assert_one_line(
                result, "Error: The database has no registry schema (run registry db upgrade?)"
            )
    finally:
        drop()
