"""Two app servers (``registry serve``, gunicorn) behind a real reverse proxy (Debian's
HAProxy, started here) on one PostgreSQL, sharing a Redis for their limits: writes
through both keep one gapless, verifiable ledger; a session signed in on one works on
the other; sign-in throttling and export limits count across both; the client's
address is the one the trusted proxy saw; packs exported on one download from the
other; each server's /metrics adds up its workers.

Needs ``haproxy`` (.ci/ensure-haproxy) and Redis on 127.0.0.1:6379."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from registry.accounts.actor import Actor
from registry.accounts.service import create_token
from registry.ledger.keys import create_key
from tests.conftest import ENGINES, PASSWORD
from tests.records.samples import SAMPLES
from tests.serving import free_port, served

REDIS_URL = "redis://127.0.0.1:6379/0"
CLIENT = "127.0.0.3"  # where the test's requests come from (the proxy listens on .1)
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@pytest.fixture(params=["postgresql"])
def engine_name(request: pytest.FixtureRequest) -> str:
    if "postgresql" not in ENGINES:
        pytest.skip("several app servers share one PostgreSQL; REGISTRY_TEST_ENGINES omits it")
    return request.param


@pytest.fixture(scope="module")
def redis_answers() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis does not answer at {REDIS_URL} ({exc}): the shared limits need it")
    if not os.access(HAPROXY, os.X_OK):
        pytest.fail("haproxy is not installed: run .ci/ensure-haproxy (make test does)")


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def server(self) -> str:
        return self.headers.get("X-Served-By", "")


@dataclass
class Client:
    """HTTP/1.1 from a chosen source address, with the session cookie kept."""

    port: int
    source: str = "127.0.0.1"
    cookie: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        sent = {**self.headers, **headers}
        data = None
        if isinstance(body, dict) and "csrf_token" in body:
            data = urllib.parse.urlencode(body).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if self.cookie:
            sent["Cookie"] = self.cookie
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=120, source_address=(self.source, 0)
        )
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
        finally:
            connection.close()
        cookie = response.headers.get("Set-Cookie")
        if cookie and cookie.startswith("session="):
            self.cookie = cookie.split(";", 1)[0]
        return Answer(response.status, response.headers, text)

    def form_token(self, path: str = "/login") -> str:
        page = self.call("GET", path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}: {page.status}"
        return match.group(1)

    def sign_in(self, email: str, password: str) -> Answer:
        token = self.form_token()
        return self.call(
            "POST", "/login", {"email": email, "password": password, "csrf_token": token}
        )


HAPROXY_CONFIG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option forwardfor
frontend registry
    bind 127.0.0.1:{port}
    http-request set-header X-Forwarded-Proto http
    default_backend app_servers
backend app_servers
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    http-response set-header X-Served-By %s
    server a 127.0.0.1:{a} check inter 500ms
    server b 127.0.0.1:{b} check inter 500ms
"""


@contextmanager
def haproxy(port: int, a: int, b: int, folder: Path) -> Iterator[subprocess.Popen[str]]:
    config = folder / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, a=a, b=b))
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while seen != {"a", "b"}:  # both servers up and taking requests
            if process.poll() is not None:
                raise AssertionError(f"haproxy stopped: {process.communicate()[0]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"haproxy did not reach both servers (saw {seen})")
            try:
                seen.add(Client(port).call("GET", "/readyz").server)
            except OSError:
                pass
            seen.discard("")
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


@contextmanager
def worker_of(env: dict[str, str], folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `registry worker` on these settings, stopped (SIGTERM) at the end."""
    with open(folder / "worker.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "registry.cli", "worker", "--threads", "1"],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def finished_pack(client: Client, job_url: str, worker: subprocess.Popen[bytes]) -> str:
    """The pack's file name once the export job at ``job_url`` has finished."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker stopped"
        job = json.loads(client.call("GET", job_url).text)
        assert job["state"] != "failed", job
        if job["state"] == "finished":
            return job["export"]["file"]
        time.sleep(0.2)
    raise AssertionError(f"the export job {job_url} did not finish in 120 s")


def scrape(port: int) -> dict[str, Any]:
    answer = Client(port).call("GET", "/metrics")
    assert answer.status == 200, answer.text
    return {f.name: f for f in text_string_to_metric_families(answer.text)}


def creates(families: dict[str, Any]) -> float:
    return sum(
        s.value
        for s in families["registry_writes"].samples
        if s.name == "registry_writes_total"
        and s.labels == {"action": "system.create", "kind": "profile"}
    )


def test_two_app_servers_behind_haproxy_share_one_registry(
    redis_answers, database_url, session, users, tmp_path
):
    officer = users["compliance_officer"]
    _, token = create_token(session, Actor.for_user(officer), officer, name="proxy")
    session.commit()
    shared = tmp_path / "shared"  # what every server reaches: a shared folder
    create_key(shared / "ledger-signing.key", "registry.test/proxy")
    prefix = f"registry-test-{uuid.uuid4().hex}"  # this run's own counts in the Redis
    ports = {"a": free_port(), "b": free_port()}
    proxy_port = free_port()

    def env(name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update(
            REGISTRY_DATABASE_URL=database_url,
            REGISTRY_INSTANCE_PATH=str(tmp_path / f"instance-{name}"),  # its own disk
            REGISTRY_SECRET_KEY="one-secret-for-every-server",
            REGISTRY_SIGNING_KEY=str(shared / "ledger-signing.key"),
            REGISTRY_EXPORT_DIR=str(shared / "exports"),
            REGISTRY_DOCUMENT_DIR=str(shared / "documents"),
            REGISTRY_RATELIMIT_STORAGE_URI=REDIS_URL,
            REGISTRY_RATELIMIT_KEY_PREFIX=prefix,
            REGISTRY_LOGIN_LIMIT_PER_EMAIL="3 per minute",
            REGISTRY_LOGIN_LIMIT_PER_IP="1000 per minute",
            REGISTRY_EXPORTS_PER_HOUR="2",
            REGISTRY_TRUSTED_PROXY_HOPS="1",
            REGISTRY_CHECKPOINT_EVERY_EVENTS="7",
            # One job queue for both servers and the worker: Redis, this run's own.
            REGISTRY_JOBS_BACKEND="redis",
            REGISTRY_JOBS_URL=REDIS_URL,
            REGISTRY_JOBS_QUEUE=prefix,
        )
        return env

    command = [sys.executable, "-m", "registry.cli", "serve", "--workers", "2", "--port"]
    with ExitStack() as stack:
        runs = {
            name: stack.enter_context(
                served([*command, str(port)], port, env(name), tmp_path, ready_path="/healthz")
            )
            for name, port in ports.items()
        }
        stack.enter_context(haproxy(proxy_port, ports["a"], ports["b"], tmp_path))
        api = Client(proxy_port, CLIENT, headers={"Authorization": f"Bearer {token}"})

        # Writes through both servers at once: one gapless ledger.
        served_by: list[str] = []
        failures: list[str] = []

        def write(worker: int) -> None:
            for n in range(6):
                profile = {**SAMPLES["profile"], "reference": f"proxy-{worker}-{n}"}
                answer = api.call("POST", "/api/v1/systems", {"profile": profile})
                served_by.append(answer.server)
                if answer.status != 201:
                    failures.append(f"{answer.status}: {answer.text[:200]}")

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert sorted(set(served_by)) == ["a", "b"]
        count, last = session.execute(sa.text("SELECT count(*), max(seq) FROM audit_event")).one()
        assert count == last  # gapless
        verified = subprocess.run(
            [sys.executable, "-m", "registry.cli", "ledger", "verify"],
            env=env("a"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr

        # Each server's /metrics adds up its own workers; together, every write.
        assert creates(scrape(ports["a"])) + creates(scrape(ports["b"])) == 24

        # A session signed in through the proxy (its CSRF form and the POST may meet
        # different servers) works on both.
        browser = Client(proxy_port, CLIENT)
        signed_in = browser.sign_in(officer.email, PASSWORD)
        assert signed_in.status == 302, signed_in.text[:300]
        pages = [browser.call("GET", "/systems") for _ in range(4)]
        assert {p.status for p in pages} == {200}
        assert all("Sign out" in p.text for p in pages)
        assert sorted({p.server for p in pages}) == ["a", "b"]

        # Sign-in throttling counts across servers: 3 failures an e-mail a minute, two on
        # a and one on b; then neither lets a fourth try in.
        email = f"nobody-{uuid.uuid4().hex}@example.org"
        direct = {name: Client(port) for name, port in ports.items()}
        for name in ("a", "a", "b"):
            assert direct[name].sign_in(email, "wrong").status == 401
        for name in ("a", "b"):
            assert direct[name].sign_in(email, "wrong").status == 429

        # Export limits too (2 an hour): two on a, the third refused on b; a pack made
        # on a downloads from b (the shared export folder).
        exporter = {
            name: Client(port, headers={"Authorization": f"Bearer {token}"})
            for name, port in ports.items()
        }
        scope = {"system": "proxy-0-0"}
        made = [exporter["a"].call("POST", "/api/v1/exports", scope) for _ in "12"]
        assert [m.status for m in made] == [202, 202], made[-1].text[:300]
        refused = exporter["b"].call("POST", "/api/v1/exports", scope)
        assert refused.status == 429 and "too_many_exports" in refused.text
        # A worker (of either server: one queue in Redis) makes the pack; b serves it.
        worker = stack.enter_context(worker_of(env("a"), tmp_path))
        job = json.loads(made[0].text)
        pack = finished_pack(exporter["b"], job["url"], worker)
        download = exporter["b"].call("GET", f"/api/v1/exports/{pack}")
        assert download.status == 200

        # The client's address is the one the proxy saw, not what the client wrote.
        spoofed = Client(proxy_port, CLIENT).call(
            "GET", "/healthz", **{"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "via-proxy-1"}
        )
        assert spoofed.status == 200 and spoofed.headers["X-Request-ID"] == "via-proxy-1"
    lines = [
        json.loads(line)
        for run in runs.values()
        for line in run.errors.splitlines()
        if line.startswith("{")
    ]
    [seen] = [line for line in lines if line.get("request_id") == "via-proxy-1"]
    assert not [line for line in lines if "memory://" in line["message"]]  # Redis is shared
    assert seen["client"] == CLIENT
    assert all(run.process.returncode == 0 for run in runs.values())
