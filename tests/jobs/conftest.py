"""Jobs fixtures: an app on a real queue (a SQLite file, or Redis at 127.0.0.1:6379)
and ``registry worker`` run as a child process on the same settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from registry.ledger.keys import create_key
from tests.conftest import make_app
from tests.evidence import conftest as evidence_fixtures

session = evidence_fixtures.session
tokens = evidence_fixtures.tokens
examples = evidence_fixtures.examples

REDIS_URL = os.environ.get("REGISTRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Seconds without a heartbeat after which a running job's worker counts as gone.
LEASE = 2


def redis_answers() -> None:
    """Fail clearly (not skip) when the Redis the Redis queue tests need is away."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} does not answer ({exc}): the Redis queue tests need it")


@pytest.fixture(params=["sqlite", "redis"])
def queue_backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        redis_answers()
    return request.param


def queue_settings(backend: str, instance: Path) -> dict[str, Any]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    settings: dict[str, Any] = {
        "JOBS_BACKEND": backend,
        # Each test its own queue: tests running in parallel share one Redis.
        "JOBS_QUEUE": f"registry-test-{worker}-{uuid.uuid4().hex[:8]}",
        "JOBS_LEASE_SECONDS": LEASE,
    }
    settings["JOBS_URL"] = REDIS_URL if backend == "redis" else str(instance / "jobs.sqlite3")
    return settings


@pytest.fixture
def app(database_url: str, tmp_path: Path, queue_backend: str) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", evidence_fixtures.ORIGIN)
    application = make_app(
        database_url,
        instance,
        CHECKPOINT_EVERY_EVENTS=10,
        **queue_settings(queue_backend, instance),
    )
    yield application
    queue = application.extensions.get("registry.jobs")
    if queue is not None:
        queue.huey.flush()
    application.extensions["registry.db"].dispose()


def worker_env(app: Flask) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    for name in (
        "DATABASE_URL",
        "INSTANCE_PATH",
        "EXPORT_DIR",
        "SECRET_KEY",
        "JOBS_BACKEND",
        "JOBS_URL",
        "JOBS_QUEUE",
        "JOBS_LEASE_SECONDS",
        "JOBS_ATTEMPTS",
        "CHECKPOINT_EVERY_EVENTS",
    ):
        env[f"REGISTRY_{name}"] = str(app.config[name])
    return env


@pytest.fixture
def start_worker(app: Flask, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen]]:
    """Start ``registry worker`` processes on the app's settings; each is stopped
    (SIGTERM: at once) at the end unless the test killed it."""
    started: list[subprocess.Popen] = []
    logs: list[Any] = []

    def start() -> subprocess.Popen:
        logs.append(open(tmp_path / f"worker-{len(started)}.log", "w"))  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "registry.cli", "worker", "--threads", "1"],
            env=worker_env(app),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=logs[-1],
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for log in logs:
        log.close()


def wait_for(check: Callable[[], Any], timeout: float = 60, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {check.__doc__ or check}")
        time.sleep(every)
