"""Evidence pack fixtures: an app with a signing key and the three example systems."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from registry.accounts.actor import Actor
from registry.demo.examples import EXAMPLES
from registry.demo.loader import load_examples
from registry.evidence.pack import Exported
from registry.exporting import export
from registry.extensions import database, document_store, pack_files
from tests.api import conftest as api_fixtures

# The API's fixtures: an app with a signing key, a session of the test's own (requests
# have theirs), and a token per role.
app = api_fixtures.app
session = api_fixtures.session
tokens = api_fixtures.tokens

ORIGIN = "registry.test/ledger"
AUDITOR = Actor.system("test-auditor", roles=frozenset({"auditor"}))


@pytest.fixture
def examples(app: Flask, session: Any) -> Any:
    demo = Actor.system("demo", roles=frozenset({"compliance_officer"}))
    load_examples(session, demo, EXAMPLES, store=document_store(app))
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
            kwargs.pop("files", None) or pack_files(app),
            references=list(references) or None,
            **kwargs,
        )
    finally:
        read.close()


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}
