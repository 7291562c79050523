"""The database plumbing as the app uses it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.extensions import database


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_sqlite_syncs_every_commit_to_disk(app):
    # 2 is FULL: a commit is on disk before it is acknowledged, even through a power
    # loss. Both the writing and the reading engine's connections are checked.
    with app.app_context():
        db = database()
        for engine in (db.engine, db.read_engine):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.scalar(sa.text("PRAGMA foreign_keys")) == 1
