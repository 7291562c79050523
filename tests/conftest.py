"""Fixtures: every test that touches the database runs on SQLite and on PostgreSQL.

A migrated template is made once per engine and test run (Alembic, as in
production); each test gets a fresh copy: a file copy on SQLite, ``CREATE DATABASE …
TEMPLATE`` on PostgreSQL. Engines come from ``REGISTRY_TEST_ENGINES`` (default both);
a PostgreSQL that cannot be reached is an error, never a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.service import create_user
from registry.cli import command_app
from registry.extensions import db_session
from registry.migrate import upgrade

ENGINES = [
    e.strip()
    for e in os.environ.get("REGISTRY_TEST_ENGINES", "sqlite,postgresql").split(",")
    if e.strip()
]
PG_ADMIN_URL = os.environ.get(
    "REGISTRY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROLES = ("admin", "compliance_officer", "technical_owner", "auditor")
PASSWORD = "correct horse battery staple"


def _worker() -> str:
    return re.sub(r"\W", "", os.environ.get("PYTEST_XDIST_WORKER", "main"))


def _pg_url(database: str) -> str:
    return (
        sa.engine.make_url(PG_ADMIN_URL)
        .set(database=database)
        .render_as_string(hide_password=False)
    )


def _pg_admin_execute(*statements: str) -> None:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


class DatabaseFactory:
    """Fresh migrated databases for one engine."""

    def __init__(self, engine: str, base: Path) -> None:
        self.engine = engine
        self.base = base
        self.template: str | None = None

    def _prepare(self) -> None:
        if self.template is not None:
            return
        if self.engine == "sqlite":
            path = self.base / "template.sqlite3"
            upgrade(f"sqlite:///{path}")
            self.template = str(path)
        elif self.engine == "postgresql":
            name = f"registry_tpl_{_worker()}_{os.getpid()}"
            try:
                _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
            except sa.exc.OperationalError as exc:  # pragma: no cover - environment
                pytest.fail(f"PostgreSQL is required for the tests ({PG_ADMIN_URL}): {exc}")
            upgrade(_pg_url(name))
            self.template = name
        else:  # pragma: no cover
            raise ValueError(f"unknown engine {self.engine!r}")

    def new(self) -> tuple[str, Callable[[], None]]:
        """A URL of a fresh migrated database and a function that removes it."""
        self._prepare()
        assert self.template is not None
        if self.engine == "sqlite":
            path = self.base / f"db-{uuid.uuid4().hex}.sqlite3"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}", lambda: None
        name = f"registry_t_{_worker()}_{uuid.uuid4().hex[:10]}"
        _pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return _pg_url(name), lambda: _pg_admin_execute(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        )

    def empty(self) -> tuple[str, Callable[[], None]]:
        """A URL of an empty database (no schema at all)."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.base / f'empty-{uuid.uuid4().hex}.sqlite3'}", lambda: None
        name = f"registry_e_{_worker()}_{uuid.uuid4().hex[:10]}"
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
        return _pg_url(name), lambda: _pg_admin_execute(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        )

    def close(self) -> None:
        if self.engine == "postgresql" and self.template:
            _pg_admin_execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    base = tmp_path_factory.mktemp("databases")
    factories = {engine: DatabaseFactory(engine, base) for engine in ENGINES}
    yield factories
    for factory in factories.values():
        factory.close()


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_factory(engine_name: str, _factories: dict[str, DatabaseFactory]) -> DatabaseFactory:
    return _factories[engine_name]


@pytest.fixture
def database_url(db_factory: DatabaseFactory) -> Iterator[str]:
    url, drop = db_factory.new()
    yield url
    drop()


# How long terminating a backend waits for it to be gone (PostgreSQL 14 and later).
TERMINATED_WITHIN_MS = 10_000


def terminate_connections(database_url: str) -> int:
    """Kill every other connection to the test's PostgreSQL database, as a server
    restart does to the app's pooled connections; how many. Each is gone when this
    returns (``pg_terminate_backend`` waits for it), so the app's next exchange on one
    meets a closed connection however busy the machine is."""
    name = sa.engine.make_url(database_url).database
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            gone = conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid, %(wait)s) FROM pg_stat_activity "
                "WHERE datname = %(name)s AND pid <> pg_backend_pid()",
                {"name": name, "wait": TERMINATED_WITHIN_MS},
            ).scalars()
            killed = list(gone)
        assert all(killed), "a backend outlived its termination"
        return len(killed)
    finally:
        engine.dispose()


def make_app(database_url: str, instance: Path, **overrides: Any) -> Flask:
    """The app the ``registry`` command builds (its commands on ``app.cli``)."""
    config = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "EXPORT_DIR": str(Path(instance) / "exports"),
        "SECRET_KEY": "test-secret-key",
        "TESTING": True,
        # Jobs run where they are asked for (huey's immediate mode); tests/jobs/ run a
        # real worker process on the SQLite and Redis queues.
        "JOBS_BACKEND": "immediate",
        **overrides,
    }
    return command_app(config)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(database_url, tmp_path / "instance")
    yield application
    application.extensions["registry.db"].dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """The app's session inside an application context (what a CLI command sees)."""
    with app.app_context():
        yield db_session()


@pytest.fixture(scope="session")
def _password_hash_cache() -> dict[str, str]:
    return {}


@pytest.fixture
def users(
    session: Any, monkeypatch: pytest.MonkeyPatch, _password_hash_cache: dict[str, str]
) -> dict[str, User]:
    """One committed user per role. Each password is hashed (scrypt) once per test run."""
    import registry.accounts.service as accounts

    real = accounts.generate_password_hash

    def cached(password: str) -> str:
        if password not in _password_hash_cache:
            _password_hash_cache[password] = real(password)
        return _password_hash_cache[password]

    monkeypatch.setattr(accounts, "generate_password_hash", cached)
    admin = Actor.system("test", roles=frozenset({"admin"}))
    made = {}
    for role in ROLES:
        user, _ = create_user(
            session,
            admin,
            f"{role.replace('_', '-')}@example.org",
            [role],
            PASSWORD,
            name=role.replace("_", " ").title(),
        )
        made[role] = user
    session.commit()
    monkeypatch.setattr(accounts, "generate_password_hash", real)
    return made


@pytest.fixture
def actors(users: dict[str, User]) -> dict[str, Actor]:
    return {role: Actor.for_user(user) for role, user in users.items()}


@pytest.fixture
def officer(actors: dict[str, Actor]) -> Actor:
    return actors["compliance_officer"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def login_as(client: FlaskClient, users: dict[str, User]) -> Callable[[str], FlaskClient]:
    def _login(role: str) -> FlaskClient:
        token = csrf_token(client)
        response = client.post(
            "/login", data={"email": users[role].email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return _login


PROFILE = {
    "name": "Benefit fraud triage",
    "reference": "sys-1",
    "purpose": "Prioritises benefit applications for manual review.",
    "stage": "pilot",
    "risk_tier": "high",
}


@pytest.fixture
def profile() -> dict[str, Any]:
    return dict(PROFILE)


@contextmanager
def append_only_lifted(session: Any, table: str) -> Iterator[None]:
    """Lift the append-only triggers of ``table`` the way a table owner could, to test
    that verification still catches what the triggers would have refused."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield
        session.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    else:
        for action in ("update", "delete"):
            session.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
        yield
    session.commit()


@pytest.fixture
def hashed(_password_hash_cache: dict[str, str]) -> Callable[[str], str]:
    """``generate_password_hash`` hashing each password once per test run (scrypt is slow
    on purpose): for fixtures that create many users."""

    def cached(password: str) -> str:
        if password not in _password_hash_cache:
            _password_hash_cache[password] = generate_password_hash(password)
        return _password_hash_cache[password]

    return cached
