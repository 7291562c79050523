"""The same data on SQLite and on PostgreSQL gives byte-identical packs.

The data is recorded once, on SQLite, then copied row by row into PostgreSQL (as a
migration between engines would), so both hold the same rows, times and hashes; the
documents' blob store is the same folder for both.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.db import Base
from registry.demo.examples import EXAMPLES
from registry.demo.loader import load_examples
from registry.extensions import database, document_store
from registry.ledger.keys import create_key
from tests.conftest import ENGINES, make_app
from tests.evidence.conftest import ORIGIN, do_export


@pytest.mark.skipif(len(ENGINES) < 2, reason="needs both engines (REGISTRY_TEST_ENGINES)")
def test_identical_packs_on_sqlite_and_postgresql(_factories, tmp_path):
    key = tmp_path / "signing.key"
    create_key(key, ORIGIN)
    urls, drops, apps = {}, [], {}
    try:
        for engine in ("sqlite", "postgresql"):
            urls[engine], drop = _factories[engine].new()
            drops.append(drop)
            apps[engine] = make_app(
                urls[engine],
                tmp_path / engine,
                SIGNING_KEY_PATH=str(key),
                CHECKPOINT_EVERY_EVENTS=40,
                DOCUMENT_DIR=str(tmp_path / "documents"),
            )
        source = database(apps["sqlite"]).sessionmaker()
        load_examples(
            source,
            Actor.system("demo", roles=frozenset({"compliance_officer"})),
            EXAMPLES,
            store=document_store(apps["sqlite"]),
        )
        source.commit()
        first = do_export(apps["sqlite"], source, "demo-benefits-triage")
        whole = do_export(apps["sqlite"], source, as_of=first.as_of)
        source.close()
        target = database(apps["postgresql"]).engine
        with database(apps["sqlite"]).engine.connect() as read, target.begin() as write:
            for table in Base.metadata.sorted_tables:
                rows = [dict(r._mapping) for r in read.execute(sa.select(table))]
                if rows:
                    write.execute(table.insert(), rows)
                if rows and "id" in table.c and table.c.id.autoincrement is not False:
                    write.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                        f'(SELECT max(id) FROM "{table.name}"))'
                    )
        copy = database(apps["postgresql"]).sessionmaker()
        again = do_export(apps["postgresql"], copy, "demo-benefits-triage", as_of=first.as_of)
        whole_again = do_export(apps["postgresql"], copy, as_of=first.as_of)
        copy.close()
        assert again.name == first.name
        assert again.path.read_bytes() == first.path.read_bytes()
        assert whole_again.path.read_bytes() == whole.path.read_bytes()
    finally:
        for application in apps.values():
            application.extensions["registry.db"].dispose()
        for drop in drops:
            drop()
