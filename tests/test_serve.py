"""``registry serve``: the registry under gunicorn, over real HTTP, on both engines."""

from __future__ import annotations

import gc
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from registry import server
from registry.server import bind_address, serving_app
from tests.conftest import PASSWORD
from tests.serving import free_port, served


def _env(database_url: str, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_DATABASE_URL=database_url,
        REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        REGISTRY_EXPORT_DIR=str(tmp_path / "exports"),
        REGISTRY_SECRET_KEY="serve-test-secret",
    )
    return env


def test_serve_signs_in_across_workers_and_logs_each_request_as_json(database_url, users, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)]
    with served([*command, "--workers", "2"], port, _env(database_url, tmp_path), tmp_path) as run:
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        form = browser.open(f"{run.url}/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        body = urllib.parse.urlencode(
            {"email": users["auditor"].email, "password": PASSWORD, "csrf_token": token}
        ).encode()
        signed_in = browser.open(f"{run.url}/login", data=body)
        assert signed_in.status == 200 and signed_in.url != f"{run.url}/login"
        assert "Sign out" in signed_in.read().decode()
        css = browser.open(f"{run.url}/static/registry.css")
        assert css.status == 200 and css.headers.get_content_type() == "text/css"
    assert run.process.returncode == 0, run.errors
    assert "Booting worker" in run.errors and "Shutting down" in run.errors
    assert f"Listening at: http://127.0.0.1:{port}" in run.errors
    # Every line is JSON; one per request, with its rule, status and the user's id.
    lines = [json.loads(line) for line in run.errors.splitlines()]
    answered = [
        (line["method"], line["endpoint"], line["status"], line["user_id"])
        for line in lines
        if line["name"] == "registry.requests"
    ]
    # Two workers counting sign-in failures each on its own: the operator is told.
    assert any(line["level"] == "WARNING" and "memory://" in line["message"] for line in lines), (
        run.errors
    )
    auditor = users["auditor"].id
    assert ("POST", "/login", 302, auditor) in answered
    assert ("GET", "/systems", 200, auditor) in answered  # where the sign-in led
    assert ("GET", "/static/<path:filename>", 200, None) in answered  # no user loaded


def test_serve_refuses_bad_options(app):
    runner = app.test_cli_runner()
    for args, complaint in (
        (["--workers", "0"], "--workers"),
        (["--port", "70000"], "--port"),
        (["--timeout", "0"], "--timeout"),
    ):
        result = runner.invoke(args=["serve", *args])
        assert result.exit_code == 2 and complaint in result.output, result.output


def test_bind_addresses():
    assert bind_address("127.0.0.1", 5000) == "127.0.0.1:5000"
    assert bind_address("0.0.0.0", 8080) == "0.0.0.0:8080"
    assert bind_address("::1", 8080) == "[::1]:8080"
    assert bind_address("[::]", 80) == "[::]:80"


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the master's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _database_links(pid: int, database_url: str) -> list[str]:
    """What process ``pid`` holds open on the database: the SQLite file (or its journal),
    or TCP connections to PostgreSQL's port (matched by socket inode in /proc/net)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = str(Path(url.database).resolve())
        return [t for t in targets if t.startswith(database)]
    sockets = {t[len("socket:[") : -1] for t in targets if t.startswith("socket:[")}
    port = f":{url.port or 5432:04X}"
    held = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            if columns[2].endswith(port) and columns[9] in sockets:
                held.append(f"{table}: {columns[1]} -> {columns[2]}")
    return held


def _touch_database(url: str) -> int:
    """An API request whose token the worker looks up in the database (401: unknown)."""
    request = urllib.request.Request(
        f"{url}/api/v1/systems", headers={"Authorization": "Bearer reg_unknown"}
    )
    try:
        urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as answer:
        return answer.code
    return 200


def test_a_killed_worker_is_replaced_and_only_workers_connect(database_url, tmp_path):
    """The master forks workers and never connects to the database itself, before or
    after a worker is killed; the replacement serves."""
    port = free_port()
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)]
    with served([*command, "--workers", "1"], port, _env(database_url, tmp_path), tmp_path) as run:
        master = run.process.pid
        for _ in range(2):
            assert _touch_database(run.url) == 401
            [worker] = _children(master)
            assert _database_links(worker, database_url)  # what is looked for is there
            assert _database_links(master, database_url) == []
            os.kill(worker, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while _children(master) in ([], [worker]) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _touch_database(run.url) == 401  # served by the new worker
            assert _children(master) not in ([], [worker])
        assert _database_links(master, database_url) == []
    assert run.process.returncode == 0, run.errors
    assert run.errors.count("Booting worker") == 3


def test_resolving_serve_imports_what_a_worker_builds_its_app_with(database_url, tmp_path):
    """``registry serve`` builds an application in the master (the command line looks
    its commands up on one), so every module ``create_app`` imports is imported before
    the workers fork: a new worker (at start, or replacing one that died) imports
    nothing and only builds its own application."""
    program = (
        "import json, sys\n"
        "from registry.cli import main\n"
        "ctx = main.make_context('registry', ['serve'])\n"
        "main.resolve_command(ctx, ['serve'])\n"
        "before = set(sys.modules)\n"
        "from registry import create_app\n"
        "create_app()\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=_env(database_url, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_a_serving_app_sets_its_start_up_aside_from_the_garbage_collector(
    database_url, tmp_path, monkeypatch
):
    """What ``registry serve`` and ``wsgi:app`` run: the app, and what start-up left
    alive frozen (``gc.freeze``): out of the collector's generations, so a full
    collection does not walk it again at every run; the app answers as any other."""
    for name in [n for n in os.environ if n.startswith("REGISTRY_")]:
        monkeypatch.delenv(name)
    for name, value in _env(database_url, tmp_path).items():
        if name.startswith("REGISTRY_"):
            monkeypatch.setenv(name, value)
    assert gc.get_freeze_count() == 0
    try:
        app = serving_app()
        frozen = gc.get_freeze_count()
        # Everything alive was frozen: the generations hold next to nothing (without
        # the freeze they would hold all of it, the app's start-up with the rest).
        assert len(gc.get_objects()) < frozen // 20, (len(gc.get_objects()), frozen)
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        gc.unfreeze()


def test_a_serving_app_makes_no_database_where_there_is_none(tmp_path, monkeypatch):
    """A mistyped database URL: the server's requests fail, and no empty SQLite file (nor
    its -wal and -shm) is left where the URL pointed; only ``registry db upgrade``
    makes a database."""
    for name in [n for n in os.environ if n.startswith("REGISTRY_")]:
        monkeypatch.delenv(name)
    missing = tmp_path / "typo.sqlite3"
    monkeypatch.setenv("REGISTRY_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(tmp_path / "instance"))
    try:
        app = serving_app()
        client = app.test_client()
        assert client.get("/readyz").status_code == 503  # not ready: no database
        assert client.get("/api/v1/ledger/keys").status_code >= 500
    finally:
        gc.unfreeze()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("typo")) == []


def test_the_master_sets_what_it_holds_aside_before_each_fork(monkeypatch):
    """``registry serve`` gives gunicorn a ``pre_fork`` hook: before forking a worker the
    master freezes what it holds (every module the app needs), as a worker's start-up
    is frozen, so the new worker's own collection walks only what it builds
    (``bench/worker_start.py``: a replaced worker answers about 0.1 s sooner)."""
    given: dict = {}
    monkeypatch.setattr(server.RegistryServer, "run", lambda self: given.update(self.settings))
    server.serve(port=free_port(), workers=1)
    assert gc.get_freeze_count() == 0
    try:
        given["pre_fork"](None, None)
        frozen = gc.get_freeze_count()
        assert len(gc.get_objects()) < frozen // 20, (len(gc.get_objects()), frozen)
    finally:
        gc.unfreeze()
