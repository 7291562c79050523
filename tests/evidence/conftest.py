"""Evidence pack fixtures: an app with a signing key and the three example systems."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from registry.accounts.actor import Actor
from registry.demo.examples import EXAMPLES
from registry.demo.loader import load_examples
from registry.evidence.pack import Exported, export
from registry.extensions import database
from registry.ledger.keys import create_key
from tests.api.conftest import tokens  # noqa: F401 - the API fixture, here too
from tests.conftest import make_app

ORIGIN = "registry.test/ledger"
AUDITOR = Actor.system("test-auditor", roles=frozenset({"auditor"}))


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", ORIGIN)
    application = make_app(database_url, instance, CHECKPOINT_EVERY_EVENTS=50)
    yield application
    application.extensions["registry.db"].dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """A session of the test's own, outside any app context (web and API requests have
    their own)."""
    own = database(app).sessionmaker()
    yield own
    own.rollback()
    own.close()


@pytest.fixture
def examples(session: Any) -> Any:
    load_examples(session, Actor.system("demo", roles=frozenset({"compliance_officer"})), EXAMPLES)
    session.commit()
    return session


def do_export(app: Flask, session: Any, *references: str, **kwargs: Any) -> Exported:
    read = database(app).read_sessionmaker()
    try:
        return export(
            session,
            read,
            kwargs.pop("actor", AUDITOR),
            Path(app.config["EXPORT_DIR"]),
            references=list(references) or None,
            **kwargs,
        )
    finally:
        read.close()


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}
