"""On PostgreSQL the app can run as a role that does not own the history tables: it
writes through the service, and it can neither change history nor lift the triggers."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.db import Database
from registry.records import reads, writes
from tests.conftest import ENGINES, _pg_admin_execute

# The grants docs/operations.md gives the application role.
GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}",
    'GRANT UPDATE ON entry, "user", api_token TO {role}',
    "GRANT DELETE ON user_role, idempotency_key TO {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
)


@pytest.fixture
def app_role_url(_factories):
    if "postgresql" not in ENGINES:
        pytest.skip("PostgreSQL is not among REGISTRY_TEST_ENGINES")
    url, drop = _factories["postgresql"].new()
    role = f"registry_app_{uuid.uuid4().hex[:8]}"
    owner = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        for grant in GRANTS:
            conn.exec_driver_sql(grant.format(role=role))
    owner.dispose()
    yield sa.engine.make_url(url).set(username=role).render_as_string(False)
    drop()
    _pg_admin_execute(f"DROP ROLE IF EXISTS {role}")


def test_app_role_writes_but_cannot_touch_history(app_role_url):
    db = Database(app_role_url)
    actor = Actor.system("app-role-test")
    with db.sessionmaker() as s:
        system, _ = writes.create_system(
            s, actor, {"name": "Role test", "reference": "role-test", "stage": "pilot"}
        )
        entry = reads.profile_entry(s, system)
        writes.update_entry(
            s,
            actor,
            entry,
            {"name": "Role test 2", "reference": "role-test", "stage": "pilot"},
            base_version=1,
        )
        s.commit()
    for statement in (
        "ALTER TABLE audit_event DISABLE TRIGGER USER",
        "ALTER TABLE entry_version DISABLE TRIGGER entry_version_append_only",
        "DROP TRIGGER audit_event_append_only ON audit_event",
        "UPDATE audit_event SET system_id = 0",
        "DELETE FROM entry_version",
        "TRUNCATE checkpoint",
    ):
        with db.engine.connect() as conn, pytest.raises(sa.exc.DatabaseError) as info:
            conn.exec_driver_sql(statement)
        assert (
            "must be owner" in str(info.value)
            or "permission denied" in str(info.value)
            or "append-only" in str(info.value)
        ), statement
    with db.sessionmaker() as s:
        assert s.scalar(sa.text("SELECT count(*) FROM entry_version")) == 2
    db.dispose()


def test_app_role_deletes_expired_idempotency_keys(app_role_url):
    # What the API does with keys past their lifetime (registry/api/writes.py).
    db = Database(app_role_url)
    try:
        with db.sessionmaker() as s:
            s.execute(sa.text("DELETE FROM idempotency_key WHERE created_at < now()"))
            s.commit()
    finally:
        db.dispose()
