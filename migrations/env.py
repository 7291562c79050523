"""Alembic environment: the registry's models are the target; the URL comes from the
caller (``registry db upgrade``) or, when run without one, from the registry's config."""

from __future__ import annotations

import warnings

from alembic import context
from sqlalchemy import engine_from_config, pool

import registry.models  # noqa: F401  (registers every table on the metadata)
from registry.config import load_config
from registry.db import Base, make_engine
from registry.records.search_index import UNMAPPED_COLUMNS, UNMAPPED_INDEXES, UNMAPPED_TABLES

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or load_config()["DATABASE_URL"]


def _mapped(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    """What the comparison with the models reads: not the search index's full-text
    parts, made in SQL by migration 0020 (records.search_index)."""
    if type_ == "table":
        return name not in UNMAPPED_TABLES
    if type_ == "column":
        return (obj.table.name, name) not in UNMAPPED_COLUMNS
    if type_ == "index":
        return name not in UNMAPPED_INDEXES
    return True


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = _url()
    engine = make_engine(url) if url else engine_from_config({}, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_mapped,
    )
    with context.begin_transaction(), warnings.catch_warnings():
        # SQLite's reflection skips an index of an expression, with a warning: those
        # are the search index's orders, left out of the comparison (UNMAPPED_INDEXES).
        for name in UNMAPPED_INDEXES:
            warnings.filterwarnings(
                "ignore", f"Skipped unsupported reflection of expression-based index {name}$"
            )
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
