"""The schema comes from Alembic alone, and models and migrations agree."""

from __future__ import annotations

import sqlalchemy as sa

from registry.db import Base, make_engine
from registry.migrate import check, downgrade, upgrade


def test_upgrade_from_empty_check_downgrade_and_upgrade_again(db_factory):
    url, drop = db_factory.empty()
    try:
        upgrade(url)
        check(url)  # raises if the models and the migrations disagree
        engine = make_engine(url)
        tables = set(sa.inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        engine.dispose()
        downgrade(url, "base")
        engine = make_engine(url)
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        upgrade(url)
        check(url)
    finally:
        drop()
