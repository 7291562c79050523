"""The whole-registry export of the demo as a background job, and what it costs the
API's writers meanwhile.

The demo (``registry demo``: the NL algorithm register's history and the examples) is
loaded into a fresh database; ``registry serve`` (gunicorn, 2 workers) and ``registry
worker`` (1 thread, the SQLite-file queue) run as child processes, as ``make run``
starts them. 4 client threads create systems over the API back to back
(``POST /api/v1/systems``, a compliance officer's token), and every answer must be a
201.

Rounds alternate: writes alone for a fixed time (the baseline, same run), then writes
while a whole-registry export runs as a job (``POST /api/v1/exports`` answered 202,
its job polled until finished; writes are counted from the 202 to the end of the
job). Figures are medians over rounds: the export's time to completion (202 to
finished, as the job's poller sees it), the write rates, and the ratio of the write
rate during the export to the rate without. Target: ratio >= 0.8. Each round's writes
grow the registry the next round's export packs, so later exports take longer.

Run: ``cd bench && ../.venv/bin/python export_job.py [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import ENGINES, fresh_database, median

from registry import create_app
from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.extensions import db_session

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 4
BASELINE_SECONDS = 10.0


def registry(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "registry.cli", *args],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def officer_token(config: dict[str, str]) -> str:
    app = create_app(config)
    with app.app_context():
        session = db_session()
        admin = Actor.system("bench", roles=frozenset({"admin"}))
        user, _ = create_user(
            session,
            admin,
            "bench-officer@example.org",
            ["compliance_officer"],
            secrets.token_urlsafe(16),
        )
        _, token = create_token(session, admin, user, name="bench")
        session.commit()
    app.extensions["registry.db"].dispose()
    return token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, method: str, path: str, token: str, body: object = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read()
        return response.status, json.loads(text) if text else {}
    finally:
        conn.close()


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out)
        try:
            yield process
        finally:
            process.send_signal(2)  # SIGINT: both stop cleanly
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# Each system created gets the next number (references are unique across rounds).
SERIAL = itertools.count(1)


class Writers:
    """Client threads creating systems back to back; ``count`` 201s so far. Anything
    but a 201 stops the run (raised when the writers stop)."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.count = 0
        self.failure: str | None = None
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(CLIENTS)]

    def run(self) -> None:
        try:
            self.write()
        except BaseException as exc:  # noqa: BLE001 - said in the main thread
            self.failure = self.failure or f"{type(exc).__name__}: {exc}"
            self.stop.set()

    def write(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                n = next(SERIAL)
            profile = {
                "name": f"Bench system {n}",
                "reference": f"bench-{os.getpid()}-{n}",
                "purpose": "Measured while an export runs.",
                "stage": "pilot",
            }
            status, body = call(
                self.port, "POST", "/api/v1/systems", self.token, {"profile": profile}
            )
            if status != 201:
                raise SystemExit(f"POST /api/v1/systems answered {status}: {body}")
            with self.lock:
                self.count += 1

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
        if self.failure:
            raise SystemExit(f"a writer failed: {self.failure}")


def writes_alone(port: int, token: str) -> float:
    with Writers(port, token) as writers:
        time.sleep(1.0)  # warm
        before, start = writers.count, time.perf_counter()
        time.sleep(BASELINE_SECONDS)
        return (writers.count - before) / (time.perf_counter() - start)


def writes_during_export(port: int, token: str) -> tuple[float, float]:
    with Writers(port, token) as writers:
        time.sleep(1.0)  # warm
        before, start = writers.count, time.perf_counter()
        status, job = call(port, "POST", "/api/v1/exports", token, {})
        if status != 202:
            raise SystemExit(f"POST /api/v1/exports answered {status}: {job}")
        while job["state"] not in ("finished", "failed"):
            time.sleep(0.25)
            _, job = call(port, "GET", f"/api/v1/jobs/{job['id']}", token)
        elapsed = time.perf_counter() - start
        rate = (writers.count - before) / elapsed
    if job["state"] != "finished":
        raise SystemExit(f"the export job failed: {job.get('problem')}")
    return elapsed, rate


def run(engine: str, rounds: int, nice: int | None) -> None:
    with fresh_database(engine) as url, tempfile.TemporaryDirectory() as folder:
        instance = Path(folder) / "instance"
        config = {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(instance),
            "EXPORT_DIR": str(Path(folder) / "exports"),
            "SECRET_KEY": "bench",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update({f"REGISTRY_{k}": v for k, v in config.items()})
        registry(env, "keys", "init", "--if-missing")
        loaded = time.perf_counter()
        registry(env, "demo")
        registry(env, "ledger", "checkpoint")
        print(f"[{engine}] demo loaded in {time.perf_counter() - loaded:.0f} s", file=sys.stderr)
        token = officer_token(config)
        port = free_port()
        serve = [
            sys.executable,
            "-m",
            "registry.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--timeout",
            "120",
        ]
        worker = [sys.executable, "-m", "registry.cli", "worker", "--threads", "1"]
        if nice is not None:
            worker += ["--nice", str(nice)]
        with (
            started(serve, env, Path(folder) / "serve.log"),
            started(worker, env, Path(folder) / "worker.log"),
        ):
            deadline = time.monotonic() + 60
            while True:
                try:
                    call(port, "GET", "/api/v1/exports", token)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            alone, during, times = [], [], []
            for n in range(rounds):
                alone.append(writes_alone(port, token))
                took, rate = writes_during_export(port, token)
                times.append(took)
                during.append(rate)
                print(
                    f"[{engine}] round {n + 1}: {alone[-1]:.1f} writes/s alone, "
                    f"{rate:.1f} during an export of {took:.1f} s",
                    file=sys.stderr,
                )
    ratio = median(during) / median(alone)
    print(
        f"\nWhole-registry export of the demo as a job ({engine}, {rounds} rounds, medians; "
        f"worker --nice {'default' if nice is None else nice})"
    )
    print(f"  time to completion (202 to finished):   {median(times):8.1f} s")
    print(f"  API writes/s without an export:         {median(alone):8.1f}")
    print(f"  API writes/s while the export runs:     {median(during):8.1f}")
    print(f"  ratio during / without:                 {ratio:8.2f}  (target >= 0.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--worker-nice", type=int, default=None, help="The worker's --nice (default: its own)."
    )
    parser.add_argument("--engine", default=ENGINES[-1], choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    run(args.engine, args.rounds, args.worker_nice)


if __name__ == "__main__":
    main()
