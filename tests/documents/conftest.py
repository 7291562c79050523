"""Fixtures: every blob-store test runs against both backends, the local folder and an
S3-compatible server (moto's server mode, started by the test run on a free port)."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from moto.server import ThreadedMotoServer

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.service import create_token
from registry.extensions import database
from registry.ledger.keys import create_key
from tests.api.conftest import ApiClient
from tests.conftest import make_app
from tests.serving import free_port

BACKENDS = ("local", "s3")
S3_KEYS = {"S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on a free port: its URL. It must answer."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=10) as answer:
                assert answer.status == 200
        except (urllib.error.URLError, OSError, AssertionError) as exc:
            pytest.fail(f"moto's S3 server did not answer on {url}: {exc}")
        yield url
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The app's settings for the backend: S3 gets a bucket of its own per test."""
    if backend == "local":
        return {"DOCUMENT_STORE": "local"}
    url = request.getfixturevalue("s3_server")
    bucket = f"registry-{uuid.uuid4().hex[:12]}"
    settings = {
        "DOCUMENT_STORE": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": url,
        "S3_REGION": "us-east-1",
        "S3_ADDRESSING_STYLE": "path",
        **S3_KEYS,
    }
    boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    return settings


@pytest.fixture
def app(database_url: str, tmp_path: Path, store_settings: dict[str, Any]) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", "registry.test/ledger")
    application = make_app(database_url, instance, DOCUMENT_MAX_BYTES=4096, **store_settings)
    yield application
    application.extensions["registry.db"].dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    own = database(app).sessionmaker()
    yield own
    own.rollback()
    own.close()


@pytest.fixture
def api(app: Flask, session: Any, users: dict[str, User]) -> Callable[[str], ApiClient]:
    """A client with a read+write token of ``role``."""
    tokens = {}
    for role, user in users.items():
        _, tokens[role] = create_token(session, Actor.for_user(user), user, name=role)
    session.commit()
    return lambda role: ApiClient(app.test_client(), tokens[role])
