"""How soon a freshly started registry serves: ``registry serve`` with one worker vs a
bare gunicorn app started the same way, same run.

For each engine, a migrated database gets the demo users and the three hand-written
example systems (``registry demo --no-register``), a signing key and a compliance
officer's API token, all before anything is timed. Then, several times over, a new
``registry serve --workers 1`` is started on a fresh port, and the clock runs from the
moment the process is started to the first successful (2xx) answer of

(a) ``GET /login`` (polled every 10 ms until the port answers),
(b) then an authenticated API read, ``GET /api/v1/systems/{reference}``,
(c) then the first API write, ``POST /api/v1/systems/{reference}/change-logs``
    (a new change log entry: a ledger event, and a signed checkpoint, since the
    process has made none yet).

Baseline, same run, started the same way (``gunicorn --workers 1``, the same
environment): the bare Flask + SQLAlchemy app of ``bare_app.py`` on its own database of
the same engine: (a) its first answer to ``GET /rows/1``, (c) then its first
``POST /rows``. Starts alternate bare, registry, bare, … after one unmeasured start of
each (which also writes Python's bytecode cache, as installing a package does: the
servers run without ``PYTHONDONTWRITEBYTECODE``). Each server is stopped (SIGTERM)
before the next starts.

Printed per engine: the medians over the starts of each figure, from process start, in
seconds, and the ratio registry / bare of (a) and of (c); also the CPU time the server's
processes (the gunicorn master and its worker, from /proc) had used by the first answer
(a), which depends less on what else the machine is doing than the wall-clock figures.
The registry's target is (a) and (c) within 1 s of the start on this machine; the ratio
says how much of it is the registry's own and how much any Flask app under gunicorn
pays.

Then a worker's start, which is what a running server pays when a worker dies (a crash,
``--timeout``, the OOM killer): with one server of each side up and answering, its
worker is killed (SIGKILL) several times over, and the clock runs from the kill to the
first successful answer of

(a) ``GET /login`` (sent at once: the master keeps listening, so it waits in the
    socket's queue for the worker the master forks in the dead one's place),
(b) then an API write, ``POST /api/v1/systems/{reference}/change-logs``, by the new
    worker (checked: its pid is not the killed one's).

``registry serve``'s master has imported the application's modules before it forks
(the command line built an application to find ``serve``), so the new worker only
builds its application (``create_app()``) and serves. Baseline: the bare app under
``gunicorn --preload``, whose master holds the whole application, so a new worker
costs a fork and nothing else: (a) ``GET /rows/1``, (b) ``POST /rows``. For comparison
also ``gunicorn 'registry:create_app()'`` (how the registry is served by those who run
gunicorn themselves), whose master imports nothing of the registry, so each new worker
imports everything. Printed: the medians over the kills, in seconds, and the ratio
registry serve / bare.
Run: ``cd bench && ../.venv/bin/python worker_start.py [--starts 7] [--kills 9]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import ENGINES, fresh_database, median
from api_load import tree_cpu_seconds
from bare_app import DATABASE_URL_VARIABLE, Base, Row

from registry.db import Database

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the virtualenv's bin: gunicorn and registry
HOST = "127.0.0.1"
TARGET_SECONDS = 1.0
OFFICER = "officer@demo.registry.example"
JSON = {"Content-Type": "application/json"}
CHANGE_LOG = {
    "change_type": "config",
    "summary": "Raised the review threshold after the start-up benchmark.",
    "from_version": "1.1",
    "to_version": "1.2",
    "approver": "Olivia Officer",
    "deployed_at": "2026-01-05T09:00:00+00:00",
    "substantial_modification": False,
}


class StartFailure(RuntimeError):
    """A server that did not start, or answered something else than asked."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def send(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REGISTRY_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(extra)
    return env


def _ok(status: int, body: bytes, what: str) -> None:
    if not 200 <= status < 300:
        raise StartFailure(f"{what} answered {status}: {body.decode(errors='replace')[:2000]}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def started(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Iterator[tuple]:
    """Start ``command`` on a fresh port; yields (port, process, start time)."""
    port = free_port()
    with open(log, "wb") as out:
        began = time.perf_counter()
        process = subprocess.Popen(
            [part.format(port=port) for part in command],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        yield port, process, began
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def first_answer(port: int, process: subprocess.Popen, path: str, log: Path) -> tuple[int, bytes]:
    """The first answer to ``GET path``, polling until the server listens."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise StartFailure(f"the server exited:\n{_tail(log)}")
        try:
            return send(port, "GET", path)
        except OSError:
            if time.monotonic() > deadline:
                raise StartFailure(f"not up in 60 s:\n{_tail(log)}") from None
            time.sleep(0.01)


def workers_of(master: int) -> list[int]:
    """The pids of the processes whose parent is ``master``."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue  # gone meanwhile
            if ppid == master:
                found.append(int(entry.name))
    return found


def killed_worker(master: int) -> tuple[int, float]:
    """SIGKILL the master's one worker; (its pid, the time of the kill)."""
    [worker] = workers_of(master)
    os.kill(worker, signal.SIGKILL)
    return worker, time.perf_counter()


def replaced(master: int, killed: int) -> None:
    """Check that the answers came from a new worker, not the killed one."""
    if killed in workers_of(master) or not workers_of(master):
        raise StartFailure(f"worker {killed} was not replaced")


# ----------------------------------------------------------------------------- the sides


class Registry:
    label = "registry"

    def __init__(self, url: str, folder: Path) -> None:
        self.instance = folder / "instance"
        self.env = server_env(
            {
                "REGISTRY_DATABASE_URL": url,
                "REGISTRY_INSTANCE_PATH": str(self.instance),
                "REGISTRY_EXPORT_DIR": str(folder / "exports"),
                "REGISTRY_SECRET_KEY": secrets.token_hex(32),
            }
        )
        self.log = folder / "registry.log"
        for args in (["keys", "init"], ["demo", "--no-register"]):
            self._command(args)
        self.token = self._command(["tokens", "create", OFFICER, "--name", "bench"]).strip()
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.reference: str | None = None

    def _command(self, args: list[str]) -> str:
        done = subprocess.run(
            [str(BIN / "registry"), *args],
            cwd=self.instance.parent,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StartFailure(f"registry {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> list[float]:
        command = [str(BIN / "registry"), "serve", "--workers", "1", "--port", "{port}"]
        with started(command, self.instance.parent, self.env, self.log) as (port, proc, began):
            status, body = first_answer(port, proc, "/login", self.log)
            _ok(status, body, "GET /login")
            login = time.perf_counter() - began
            cpu = tree_cpu_seconds(proc.pid)
            if self.reference is None:
                status, body = send(port, "GET", "/api/v1/systems", headers=self.headers)
                _ok(status, body, "GET /api/v1/systems")
                self.reference = json.loads(body)["items"][0]["reference"]
            status, body = send(
                port, "GET", f"/api/v1/systems/{self.reference}", headers=self.headers
            )
            _ok(status, body, "GET /api/v1/systems/{reference}")
            read = time.perf_counter() - began
            self._write(port)
            write = time.perf_counter() - began
        return [login, read, write, cpu if cpu is not None else float("nan")]

    def _write(self, port: int) -> None:
        status, body = send(
            port,
            "POST",
            f"/api/v1/systems/{self.reference}/change-logs",
            json.dumps(CHANGE_LOG).encode(),
            {**self.headers, **JSON},
        )
        _ok(status, body, "POST /api/v1/systems/{reference}/change-logs")

    def restarts(self, kills: int, command: list[str] | None = None) -> list[list[float]]:
        """Kill the worker of one running server ``kills`` times; per kill, seconds from
        the kill to (a) the new worker's sign-in page, (b) its first API write.
        ``command``: how the server is started (default ``registry serve``)."""
        command = command or [
            str(BIN / "registry"),
            *("serve", "--workers", "1", "--port", "{port}"),
        ]
        times = []
        with started(command, self.instance.parent, self.env, self.log) as (port, proc, _):
            _ok(*first_answer(port, proc, "/login", self.log), "GET /login")
            self._write(port)  # the first worker's first write, not measured
            for _ in range(kills):
                worker, killed = killed_worker(proc.pid)
                _ok(*send(port, "GET", "/login"), "GET /login")
                login = time.perf_counter() - killed
                self._write(port)
                write = time.perf_counter() - killed
                replaced(proc.pid, worker)
                times.append([login, write])
        return times


class Bare:
    label = "bare"

    def __init__(self, url: str, folder: Path) -> None:
        db = Database(url)
        try:
            Base.metadata.create_all(db.engine)
            with db.sessionmaker() as s:
                s.add(Row(body=json.dumps(CHANGE_LOG)))
                s.commit()
        finally:
            db.dispose()
        self.folder = folder
        self.env = server_env({DATABASE_URL_VARIABLE: url})
        self.log = folder / "bare.log"

    def start(self) -> list[float]:
        command = [
            str(BIN / "gunicorn"),
            "--workers",
            "1",
            "--chdir",
            str(BENCH),
            "bare_app:create_app()",
            "--bind",
            f"{HOST}:{{port}}",
        ]
        with started(command, self.folder, self.env, self.log) as (port, proc, began):
            status, body = first_answer(port, proc, "/rows/1", self.log)
            _ok(status, body, "GET /rows/1")
            read = time.perf_counter() - began
            cpu = tree_cpu_seconds(proc.pid)
            status, body = send(port, "POST", "/rows", json.dumps(CHANGE_LOG).encode(), JSON)
            _ok(status, body, "POST /rows")
            write = time.perf_counter() - began
        return [read, write, cpu if cpu is not None else float("nan")]

    def restarts(self, kills: int) -> list[list[float]]:
        """As ``Registry.restarts``, the app preloaded in the master: (a) ``GET /rows/1``,
        (b) ``POST /rows``."""
        command = [
            str(BIN / "gunicorn"),
            *("--workers", "1", "--preload", "--chdir", str(BENCH)),
            *("bare_app:create_app()", "--bind", f"{HOST}:{{port}}"),
        ]
        times = []
        with started(command, self.folder, self.env, self.log) as (port, proc, _):
            _ok(*first_answer(port, proc, "/rows/1", self.log), "GET /rows/1")
            for _ in range(kills):
                worker, killed = killed_worker(proc.pid)
                _ok(*send(port, "GET", "/rows/1"), "GET /rows/1")
                read = time.perf_counter() - killed
                _ok(*send(port, "POST", "/rows", json.dumps(CHANGE_LOG).encode(), JSON), "POST")
                write = time.perf_counter() - killed
                replaced(proc.pid, worker)
                times.append([read, write])
        return times


# ----------------------------------------------------------------------------- run


def run_engine(engine: str, starts: int, kills: int) -> bool:
    with (
        fresh_database(engine) as registry_url,
        fresh_database(engine) as bare_url,
        tempfile.TemporaryDirectory(prefix="registry-bench-start-") as tmp,
    ):
        folder = Path(tmp)
        registry, bare = Registry(registry_url, folder), Bare(bare_url, folder)
        bare.start(), registry.start()  # unmeasured: bytecode cache, files in the OS cache
        times: dict[str, list[list[float]]] = {"registry": [], "bare": []}
        for n in range(starts):
            for side in (bare, registry):
                times[side.label].append(side.start())
            print(f"\r  {engine}: {n + 1}/{starts} starts of each", end="", file=sys.stderr)
        print(file=sys.stderr)
        restarts = {
            "bare": bare.restarts(kills),
            "registry": registry.restarts(kills),
            "plain": registry.restarts(
                kills,
                [
                    str(BIN / "gunicorn"),
                    *("--workers", "1", "registry:create_app()", "--bind", f"{HOST}:{{port}}"),
                ],
            ),
        }
    login, read, write, cpu = (median([t[i] for t in times["registry"]]) for i in range(4))
    bare_read, bare_write, bare_cpu = (median([t[i] for t in times["bare"]]) for i in range(3))
    print(f"{engine}: medians over {starts} starts, seconds from process start")
    print(
        f"  registry: (a) GET /login {login:.3f}   (b) API read {read:.3f}"
        f"   (c) first API write {write:.3f}"
    )
    print(f"  bare:     (a) first GET  {bare_read:.3f}   (c) first POST {bare_write:.3f}")
    print(
        f"  CPU seconds of the server's processes (master and worker) by (a):"
        f" registry {cpu:.3f}, bare {bare_cpu:.3f}"
    )
    print(
        f"  ratio registry/bare: (a) {login / bare_read:.2f}   (c) {write / bare_write:.2f}"
        f"   CPU by (a) {cpu / bare_cpu:.2f}"
        f"   (target: (a) and (c) within {TARGET_SECONDS:.0f} s)"
    )
    (r_login, r_write), (b_read, b_write), (p_login, p_write) = (
        [median([t[i] for t in restarts[side]]) for i in range(2)]
        for side in ("registry", "bare", "plain")
    )
    print(f"  a worker's start: medians over {kills} kills, seconds from the kill")
    print(
        f"  registry serve: (a) GET /login {r_login:.3f}   (b) API write {r_write:.3f}"
        f"   (gunicorn 'registry:create_app()': {p_login:.3f}, {p_write:.3f})"
    )
    print(f"  bare --preload: (a) first GET  {b_read:.3f}   (b) first POST {b_write:.3f}")
    print(
        f"  ratio registry serve/bare: (a) {r_login / b_read:.2f}   (b) {r_write / b_write:.2f}"
        f"   (target: (b) within {TARGET_SECONDS:.0f} s)"
    )
    return login <= TARGET_SECONDS and write <= TARGET_SECONDS and r_write <= TARGET_SECONDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=7, help="measured starts of each side")
    parser.add_argument("--kills", type=int, default=9, help="workers killed on each side")
    args = parser.parse_args()
    met = [run_engine(engine, args.starts, args.kills) for engine in ENGINES]
    print("target met" if all(met) else "target NOT met")


if __name__ == "__main__":
    main()
