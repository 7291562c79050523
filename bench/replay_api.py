"""The whole Dutch algorithm register (4,525 changes) replayed over real HTTP, then read back.

A live server: gunicorn (``-w 4``) on a fresh migrated database with a signing key,
started from the repository root; a compliance officer and a bearer token are seeded
through the service layer first. The replay is one technical owner's pipeline
(``registry.demo.replay_api``): sequential, in stream order, one request per change
(``POST /systems`` with an Idempotency-Key, ``PUT /entries/<id>`` and ``POST
/entries/<id>/retire`` with If-Match), over ``http.client``; it notes the wall-clock
instant after each snapshot date's last change. Figures: changes per second, and the
latency of each request. Then the register is read back over HTTP on chosen snapshot
dates, as recorded (``as_of`` = that instant) and as effective (``effective_at`` =
the end of that day): the pages of ``GET /systems``, then each system's profile
(``GET /entries/<id>`` at the same instants, 4 client threads; a version never
changes, so each (entry, version) is fetched once: ``--no-cache`` fetches every profile
of every read), each record compared field by field with the register as published
that day. Last, the ledger is verified against the signing key. Exit status 1 on any
mismatch or failed request.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import fresh_database, percentile

from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.config import load_config
from registry.db import Database
from registry.demo import nl_register
from registry.demo.replay_api import ApiFailure, RegisterPipeline, differences, read_register
from registry.ledger.key_events import record_key
from registry.ledger.keys import create_key
from registry.ledger.store import verify_ledger

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DATES = ["2026-05-13", "2026-06-08", "2026-06-09", "2026-06-24", "2026-08-08"]
ORIGIN = "registry.example/ai-governance"


class HttpSender:
    """``send`` for the pipeline over ``http.client``: one connection per thread (it
    reconnects by itself when gunicorn's sync workers close it), a bearer token on each
    request, and the seconds each request took by method."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.local = threading.local()
        self.seconds: dict[str, list[float]] = {}
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        if not hasattr(self.local, "conn"):
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return self.local.conn

    def __call__(
        self, method: str, path: str, body: Any, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        sent.update(headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        conn = self._connection()
        started = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            raise
        took = time.perf_counter() - started
        with self.lock:
            self.seconds.setdefault(method, []).append(took)
            self.statuses[response.status] += 1
        answered = dict(response.getheaders())
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        return response.status, answered, parsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str, instance: Path) -> tuple[str, str]:
    """The signing key (as ``registry keys init``), an officer and their token."""
    db = Database(url)
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    admin = Actor.system("bench", roles=frozenset({"admin"}))
    with db.sessionmaker() as s:
        record_key(s, admin.label, signer)
        user, _ = create_user(
            s, admin, "pipeline@example.org", ["compliance_officer"], os.urandom(16).hex()
        )
        s.commit()
        _, secret = create_token(s, Actor.for_user(user), user, name="nl-register pipeline")
        s.commit()
    db.dispose()
    return secret, signer.verifier_key


@contextmanager
def server(url: str, instance: Path, workers: int, token: str) -> Iterator[int]:
    """gunicorn serving the registry on a free port, until the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_INSTANCE_PATH": str(instance),
        "REGISTRY_SECRET_KEY": os.urandom(24).hex(),
        "REGISTRY_ORIGIN": ORIGIN,
    }
    log = instance / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(GUNICORN), "-w", str(workers), "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        probe = HttpSender(port, token)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{log.read_text()}")
            try:
                if probe("GET", "/api/v1/me", None, {})[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer in 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.1f}"


def run(
    engine: str, workers: int, readers: int, dates: list[str], limit: int | None, cache: bool
) -> bool:
    corpus = load_config()["DEMO_CORPUS"]
    stream = list(nl_register.read_changes(corpus))
    changes = stream[:limit]
    # Only dates whose changes were all replayed can be compared with the register.
    dates = [d for d in dates if d <= changes[-1]["date"]]
    if len(changes) < len(stream):
        dates = [d for d in dates if d < stream[len(changes)]["date"]]
    print(
        f"replay_api: {len(changes):,} register changes over HTTP, {engine}, gunicorn -w {workers}"
    )
    good = True
    with (
        fresh_database(engine) as url,
        tempfile.TemporaryDirectory(prefix="registry-bench-api-") as folder,
    ):
        instance = Path(folder)
        token, verifier = seed(url, instance)
        with server(url, instance, workers, token) as port:
            send = HttpSender(port, token)
            pipeline = RegisterPipeline(send)
            done = 0

            def progress(n: int) -> None:
                nonlocal done
                done += n
                if done % 500 == 0 or done == len(changes):
                    rate = done / (time.perf_counter() - started)
                    print(f"\r  {done:,} changes ({rate:.0f}/s)", end="", file=sys.stderr)

            started = time.perf_counter()
            try:
                count = pipeline.replay(changes, progress)
            except ApiFailure as exc:
                print(f"\n  FAILED after {done:,} changes: {exc}")
                return False
            seconds = time.perf_counter() - started
            print(file=sys.stderr)
            writes = [t for m in ("POST", "PUT") for t in send.seconds.get(m, [])]
            print(
                f"  writes: {count:,} changes in {seconds:.1f} s = {count / seconds:.0f} "
                f"changes/s, one pipeline (latency p50 {ms(writes, 50)} ms, "
                f"p95 {ms(writes, 95)} ms, p99 {ms(writes, 99)} ms)"
            )
            write_statuses = dict(sorted(send.statuses.items()))
            print(f"  statuses: {write_statuses}")
            good &= all(200 <= s < 300 for s in write_statuses)

            send.seconds.pop("GET", None)
            bodies: dict[tuple[int, int], dict] | None = {} if cache else None
            read_started = time.perf_counter()
            with ThreadPoolExecutor(readers) as pool:
                for date in dates:
                    expected = {
                        rid: nl_register.comparable_record(rec)
                        for rid, rec in nl_register.register_on(corpus, date).items()
                    }
                    for label, when in (
                        ("as_of", {"as_of": pipeline.recorded_by_end_of_day(date)}),
                        ("effective_at", {"effective_at": nl_register.end_of_day(date)}),
                    ):
                        began = time.perf_counter()
                        try:
                            got = read_register(send, map_=pool.map, bodies=bodies, **when)
                        except ApiFailure as exc:
                            print(f"  {label:12} {date}: FAILED: {exc}")
                            good = False
                            continue
                        diff = differences(expected, got)
                        ok = len(expected) - sum(1 for d in diff if not d.endswith("register"))
                        print(
                            f"  {label:12} {date}: {len(expected):5,} published, "
                            f"{len(got):5,} read, OK {ok:5,}, mismatched {len(diff)} "
                            f"({time.perf_counter() - began:.1f} s)"
                        )
                        for line in diff[:5]:
                            print(f"      {line}")
                        good &= not diff
            reads = send.seconds.get("GET", [])
            read_seconds = time.perf_counter() - read_started
            print(
                f"  reads: {len(reads):,} GETs in {read_seconds:.1f} s = "
                f"{len(reads) / read_seconds:.0f}/s with {readers} threads "
                f"(latency p50 {ms(reads, 50)} ms, p95 {ms(reads, 95)} ms)"
                + (", profile bodies cached by (entry, version)" if cache else "")
            )
        db = Database(url)
        with db.read_sessionmaker() as s:
            report = verify_ledger(s, [verifier], origin=ORIGIN)
        db.dispose()
        print(
            f"  ledger: {'OK' if report.ok else 'FAILED'}: {report.events:,} events, "
            f"{report.versions:,} versions, {report.checkpoints} signed checkpoints"
            + ("" if report.ok else f": {report.problem}")
        )
        good &= report.ok
    print(f"  register reproduced: {'yes' if good else 'NO'}")
    return good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--readers", type=int, default=4, help="client threads for reads")
    parser.add_argument("--dates", nargs="+", default=DATES, help="snapshot dates to check")
    parser.add_argument("--changes", type=int, help="replay only the first N changes")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="read every profile at every instant (default: each version once)",
    )
    args = parser.parse_args()
    ok = run(args.engine, args.workers, args.readers, args.dates, args.changes, not args.no_cache)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
