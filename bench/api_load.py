"""The REST API under load: the registry vs a bare Flask + SQLAlchemy app, same run.

Both apps are served by gunicorn with the same settings, those of docs/operations.md:
4 workers of the default ``sync`` class (one request at a time per worker, the
connection closed after each answer), bound to 127.0.0.1, each app on its own fresh
PostgreSQL database. The sync worker is kept: it is what the registry documents, and
another class would change the server, not the comparison. 16 client threads in this
process send requests back to back, each on a fresh connection (the sync worker closes
every connection anyway), and every answer must be a 2xx: anything else stops the run
and prints the status and the body. The client shares the machine's cores with the
servers and PostgreSQL and does the same work for both sides (the same request bodies,
a connection per request), so it weighs on both alike and the ratios stay fair; the
absolute rates are those of this machine with its client, not of a server alone (the
progress lines on stderr say how much of a core the client took).

The registry runs its realistic path: a signing key (``registry keys init``), so
checkpoints are signed every 1,000 events as in service; 200 systems from the NL
algorithm register, each with its profile, a technical owner and a change log, written
through the service layer before gunicorn starts; a compliance officer's API token.
With ``--writer owner`` the token is a technical owner's instead, named by every
system's owner entry: the owner's right is read (the system's owner entries) under
the ledger lock with the rest of the write's state, in the same round trip as a
compliance officer's update (docs/architecture.md).

1. Versioned updates: ``PUT /api/v1/entries/{id}`` of a profile with ``If-Match``, its
   body changed (the purpose), vs ``POST /rows`` of the same JSON request body, which
   the bare app stores as text in its one table. Each client owns its share of the 200
   profile entries and follows each one's version by the ``ETag`` it gets back, so no
   update can be refused (412) unless the registry loses one. Afterwards every 2xx
   answer must have written exactly one version (or row), and the registry must have
   signed checkpoints. Target: ratio (registry / bare) >= 0.6.
2. One system's state: ``GET /api/v1/systems/{reference}`` (profile, owner, change log)
   vs ``GET /rows/{id}`` of one row holding a profile. Target: ratio >= 0.7.

Each round runs one side for a fixed time; rounds alternate bare, registry, bare,
registry … after a short unmeasured warm-up of each. Figures are medians over rounds:
requests per second (the round's answers over its wall time), the p50 and p99 latency
of one request (connect, send, answer read), and the CPU time per request of the
gunicorn workers and of PostgreSQL (all its processes, when it runs on this machine:
other databases' work on a shared server counts too),
from /proc: where a side's time goes when the machine is full. The
ratio is registry / bare of the median rates; the spread of the per-round ratios shows
how noisy the machine was. Beside the CPU time per request, each side says how busy its
workers were (their CPU time per second of the round, in cores), and the registry's
updates how many requests waited on the ledger lock on average (``pg_stat_activity``
sampled every 50 ms by one more connection): the lock is one for the whole ledger and
held until a write's commit is durable, so when several wait while the workers are
far from busy, the lock's hold, not the workers' CPU, set the rate
(docs/architecture.md, "The write path"). The load averages of the machine at the start
and the end are printed too. ``update_profile.py`` shows where an update's CPU time
goes. Run: ``cd bench && ../.venv/bin/python api_load.py``.
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import fresh_database, median, percentile
from bare_app import DATABASE_URL_VARIABLE, Base, Row

from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.config import load_config
from registry.db import Database
from registry.demo import nl_register
from registry.ledger.canonical import canonical_bytes
from registry.records import reads, writes

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent  # the virtualenv's bin: gunicorn and registry
HOST = "127.0.0.1"
TARGETS = {"update": 0.6, "read": 0.7}
JSON = {"Content-Type": "application/json"}

# A request: method, path, body, headers.
Request = tuple[str, str, bytes | None, dict[str, str]]


class LoadFailure(RuntimeError):
    """An answer that is not what the benchmark asked for: the run is void."""


# ----------------------------------------------------------------------------- setup


def profile_bodies(n: int) -> list[dict[str, Any]]:
    """Profiles of ``n`` distinct systems of the NL algorithm register."""
    corpus = load_config()["DEMO_CORPUS"]
    bodies: dict[str, dict[str, Any]] = {}
    for change in nl_register.read_changes(corpus):
        body = nl_register.profile_from_record(change["record"])
        bodies.setdefault(body["reference"], body)
        if len(bodies) == n:
            return list(bodies.values())
    raise SystemExit(f"The corpus has only {len(bodies)} systems; {n} asked for.")


def registry_env(url: str, instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_DATABASE_URL=url,
        REGISTRY_INSTANCE_PATH=str(instance),
        REGISTRY_SECRET_KEY=secrets.token_hex(32),
    )
    return env


@dataclass
class RegistrySeed:
    secret: str
    profiles: list[tuple[int, dict[str, Any]]]  # (profile entry id, body at version 1)


WRITERS = {"officer": "compliance_officer", "owner": "technical_owner"}


def seed_registry(
    url: str, env: dict[str, str], bodies: list[dict[str, Any]], writer: str = "officer"
) -> RegistrySeed:
    """A signing key, the pipeline's user (a compliance officer, or with ``writer``
    'owner' a technical owner named by every system's owner entry) with a token, and
    the systems."""
    keys = subprocess.run(
        [str(BIN / "registry"), "keys", "init", "--if-missing"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if keys.returncode != 0:  # (its warning that no key exists yet is expected: not shown)
        raise LoadFailure(f"registry keys init failed:\n{keys.stdout}{keys.stderr}")
    db = Database(url)
    try:
        with db.sessionmaker() as s:
            admin = Actor.system("bench", roles=frozenset({"admin"}))
            user, _ = create_user(
                s,
                admin,
                "pipeline@bench.example",
                [WRITERS[writer]],
                "a long bench password 123",
                name="Pipeline",
            )
            _, secret = create_token(s, Actor.for_user(user), user, name="bench")
            actor = Actor.system("bench", roles=frozenset({"compliance_officer"}))
            profiles = []
            for i, body in enumerate(bodies):
                system, _ = writes.create_system(s, actor, body)
                profiles.append((reads.profile_entry(s, system).id, body))
                writes.create_entry(
                    s,
                    actor,
                    system,
                    "owner",
                    {
                        "role": "technical",
                        "person": (
                            {"name": "Pipeline", "email": user.email}
                            if writer == "owner"
                            else {"name": f"Owner {i}", "email": f"owner{i}@bench.example"}
                        ),
                        "authority_scope": "Model, data and deployment of this system.",
                        "start": "2025-01-01",
                    },
                )
                writes.create_entry(
                    s,
                    actor,
                    system,
                    "change_log",
                    {
                        "change_type": "model",
                        "summary": "Retrained on the 2025 data; thresholds unchanged.",
                        "from_version": "1.0",
                        "to_version": "1.1",
                        "approver": f"Owner {i}",
                        "deployed_at": "2025-06-01T09:00:00+00:00",
                        "substantial_modification": False,
                    },
                )
            s.commit()
    finally:
        db.dispose()
    return RegistrySeed(secret, profiles)


def seed_bare(url: str, bodies: list[dict[str, Any]]) -> list[int]:
    """The bare table with one row per profile (what the read side fetches)."""
    db = Database(url)
    try:
        Base.metadata.create_all(db.engine)
        with db.sessionmaker() as s:
            rows = [Row(body=canonical_bytes(b).decode()) for b in bodies]
            s.add_all(rows)
            s.commit()
            return [r.id for r in rows]
    finally:
        db.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _tick() -> int:
    return os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_cpu_seconds(root: int, *, reaped: bool = False) -> float | None:
    """CPU time so far of process ``root`` and its children, from /proc (None without
    it); with ``reaped``, also that of children which have exited and been waited for
    (PostgreSQL's backends come and go with connections)."""
    total = 0
    try:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            pid, ppid = int(entry.name), int(fields[1])
            if pid == root or ppid == root:
                total += int(fields[11]) + int(fields[12])  # utime + stime
            if pid == root and reaped:
                total += int(fields[13]) + int(fields[14])  # cutime + cstime
    except OSError:
        return None
    return total / _tick()


@dataclass(frozen=True)
class Server:
    """A gunicorn master serving on ``port``."""

    port: int
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time so far of the master and its workers (None without Linux's /proc)."""
        return tree_cpu_seconds(self.pid)


def postmaster_pid(url: str) -> int | None:
    """The pid of the PostgreSQL server behind ``url`` when it runs on this machine and
    its processes can be read in /proc, else None."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:  # the backend lives as long as its connection
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            try:
                with open(f"/proc/{backend}/stat") as fh:
                    name, rest = fh.read().rsplit(")", 1)
            except OSError:
                return None
    finally:
        db.dispose()
    return int(rest.split()[1]) if name.endswith("(postgres") else None


@contextmanager
def gunicorn(
    name: str,
    target: list[str],
    env: dict[str, str],
    workers: int,
    worker_class: str,
    log: Path,
    probe: Request,
) -> Iterator[Server]:
    """Serve ``target`` with gunicorn until the block ends; yields the server once the
    probe request is answered 2xx."""
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--bind",
        f"{HOST}:{port}",
        *target,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise LoadFailure(f"gunicorn ({name}) exited:\n{_log_tail(log)}")
            try:
                status, _, body = send(port, probe)
                if 200 <= status < 300:
                    break
                raise LoadFailure(
                    f"{name}: {probe[0]} {probe[1]} answered {status} at start-up:\n"
                    f"{body.decode(errors='replace')[:2000]}"
                )
            except OSError:
                if time.monotonic() > deadline:
                    raise LoadFailure(
                        f"gunicorn ({name}) not up in 60 s:\n{_log_tail(log)}"
                    ) from None
                time.sleep(0.1)
        yield Server(port, process.pid)
    finally:
        process.terminate()  # SIGTERM: graceful shutdown of the master and workers
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ----------------------------------------------------------------------------- load


def send(port: int, req: Request) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a fresh connection; the status, headers and body of the answer."""
    method, path, body, headers = req
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, response.headers, data
    finally:
        conn.close()


class Client:
    """One simulated client: what to send next, and what to check in the answer."""

    def request(self) -> Request:
        raise NotImplementedError

    def check(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        if not 200 <= status < 300:
            raise LoadFailure(f"answered {status}")


def update_body(body: dict[str, Any], n: int) -> bytes:
    """The request body of the ``n``-th update of a profile (the purpose changes)."""
    purpose = f"{body.get('purpose') or ''} (herzien {n})"
    return json.dumps({"body": {**body, "purpose": purpose}, "reason": "bench"}).encode()


class RegistryUpdates(Client):
    def __init__(
        self,
        share: list[tuple[int, dict[str, Any]]],
        versions: dict[int, int],
        headers: dict[str, str],
    ) -> None:
        self.turns = itertools.cycle(share)
        self.versions = versions  # of this client's entries: only this client writes them
        self.headers = {**JSON, **headers}
        self.pending: int | None = None

    def request(self) -> Request:
        entry_id, body = next(self.turns)
        version = self.versions[entry_id]
        self.pending = entry_id
        headers = {**self.headers, "If-Match": f'"{entry_id}.{version}"'}
        return "PUT", f"/api/v1/entries/{entry_id}", update_body(body, version), headers

    def check(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        super().check(status, headers, body)
        entry_id = self.pending
        assert entry_id is not None
        expected = f'"{entry_id}.{self.versions[entry_id] + 1}"'
        if headers.get("ETag") != expected:
            raise LoadFailure(f"ETag {headers.get('ETag')!r}, expected {expected}")
        self.versions[entry_id] += 1


class BareInserts(Client):
    def __init__(self, share: list[tuple[int, dict[str, Any]]]) -> None:
        self.turns = itertools.cycle(share)
        self.count = itertools.count(1)

    def request(self) -> Request:
        _, body = next(self.turns)
        return "POST", "/rows", update_body(body, next(self.count)), JSON

    def check(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        super().check(status, headers, body)
        if status != 201 or "id" not in json.loads(body):
            raise LoadFailure(f"answered {status} without an id")


class Reads(Client):
    def __init__(self, paths: list[str], headers: dict[str, str]) -> None:
        self.turns = itertools.cycle(paths)
        self.headers = headers

    def request(self) -> Request:
        return "GET", next(self.turns), None, self.headers


@dataclass
class Run:
    """One round of one side."""

    requests: int
    seconds: float
    latencies: list[float] = field(repr=False)
    client_cpu: float  # CPU seconds of this process (the load generator) during the round
    server_cpu: float | None = None  # CPU seconds of the gunicorn master and workers
    database_cpu: float | None = None  # CPU seconds of PostgreSQL (all its processes)
    lock_waiters: float | None = None  # mean count of the database's sessions waiting on
    # an advisory lock (the ledger lock) while the round ran

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def drive(port: int, clients: list[Client], seconds: float) -> Run:
    """Every client in its own thread, back to back for ``seconds``."""
    start = threading.Barrier(len(clients) + 1)
    stop = threading.Event()
    failures: list[str] = []
    latencies: list[list[float]] = [[] for _ in clients]
    deadline = 0.0

    def loop(client: Client, mine: list[float]) -> None:
        start.wait()
        while not stop.is_set() and time.perf_counter() < deadline:
            req = client.request()
            began = time.perf_counter()
            try:
                status, headers, body = send(port, req)
            except OSError as exc:
                failures.append(f"{req[0]} {req[1]}: {exc!r}")
                stop.set()
                return
            mine.append(time.perf_counter() - began)
            try:
                client.check(status, headers, body)
            except LoadFailure as exc:
                failures.append(f"{req[0]} {req[1]} {exc}:\n{body.decode(errors='replace')[:2000]}")
                stop.set()
                return

    threads = [
        threading.Thread(target=loop, args=(c, mine), daemon=True)
        for c, mine in zip(clients, latencies, strict=True)
    ]
    for t in threads:
        t.start()
    deadline = time.perf_counter() + seconds
    began, cpu = time.perf_counter(), time.process_time()
    start.wait()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    if failures:
        raise LoadFailure(f"{len(failures)} client(s) failed; the first:\n{failures[0]}")
    merged = [x for mine in latencies for x in mine]
    return Run(len(merged), elapsed, merged, cpu)


WAITING_ON_LOCK = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
    "AND wait_event = 'advisory'"
)


@contextmanager
def lock_waiters(url: str, every: float = 0.05) -> Iterator[list[int]]:
    """Sample, every ``every`` seconds while the block runs, how many of the database's
    sessions wait on an advisory lock: the registry's writers waiting for the ledger
    lock (its one advisory lock). The samples are in the list yielded."""
    samples: list[int] = []
    stop = threading.Event()
    db = Database(url)

    def sample() -> None:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not stop.wait(every):
                samples.append(conn.exec_driver_sql(WAITING_ON_LOCK).scalar_one())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join()
        db.dispose()


def _count(url: str, table: str) -> int:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    finally:
        db.dispose()


def check_writes(registry_url: str, bare_url: str, systems: int, posts: int, puts: int) -> None:
    """Every 2xx answer to a write wrote exactly one row (or version), and the registry
    signed checkpoints on the way (its realistic path ran)."""
    versions, rows = _count(registry_url, "entry_version"), _count(bare_url, "bench_row")
    if versions != 3 * systems + puts or rows != systems + posts:
        raise LoadFailure(
            f"registry: {versions} versions for {puts} updates answered 200 after "
            f"{3 * systems} seeded; bare: {rows} rows for {posts} inserts after {systems}"
        )
    checkpoints = _count(registry_url, "checkpoint")
    print(
        f"  checked: {puts} versions and {posts} rows written as answered; "
        f"{checkpoints} checkpoints signed",
        file=sys.stderr,
    )
    if checkpoints == 0:
        raise LoadFailure("The registry signed no checkpoint: is its signing key missing?")


# ----------------------------------------------------------------------------- report


@dataclass
class Side:
    label: str
    server: Server
    clients: Callable[[], list[Client]]
    postmaster: int | None = None  # PostgreSQL's server process, when on this machine
    lock_url: str | None = None  # sample the waiters on the ledger lock in this database
    runs: list[Run] = field(default_factory=list)
    answered: int = 0  # requests answered, warm-up included

    def _database_cpu(self) -> float | None:
        return None if self.postmaster is None else tree_cpu_seconds(self.postmaster, reaped=True)

    def drive(self, seconds: float) -> Run:
        cpu, database_cpu = self.server.cpu_seconds(), self._database_cpu()
        with ExitStack() as stack:
            waits = stack.enter_context(lock_waiters(self.lock_url)) if self.lock_url else None
            result = drive(self.server.port, self.clients(), seconds)
        if waits:
            result.lock_waiters = sum(waits) / len(waits)
        if cpu is not None and (after := self.server.cpu_seconds()) is not None:
            result.server_cpu = after - cpu
        if database_cpu is not None and (after := self._database_cpu()) is not None:
            result.database_cpu = after - database_cpu
        self.answered += result.requests
        return result

    def figures(self) -> tuple[float, float, float]:
        """Median over rounds of the rate, p50 and p99 (ms)."""
        return (
            median([r.rate for r in self.runs]),
            median([percentile(r.latencies, 50) * 1000 for r in self.runs]),
            median([percentile(r.latencies, 99) * 1000 for r in self.runs]),
        )

    def cpu_per_request(self, which: str) -> str:
        """Median over rounds of the CPU time per request of the gunicorn workers
        (``server_cpu``) or of PostgreSQL (``database_cpu``)."""
        known = [getattr(r, which) / r.requests for r in self.runs if getattr(r, which) is not None]
        return f"{median(known) * 1000:4.1f} ms" if known else "   ?"

    def busy(self) -> str:
        """Median over rounds of the gunicorn workers' CPU time per second of the round
        (cores), and of the writers waiting on the ledger lock when sampled."""
        cores = [r.server_cpu / r.seconds for r in self.runs if r.server_cpu is not None]
        said = f"workers busy {median(cores):.2f} cores" if cores else ""
        waiting = [r.lock_waiters for r in self.runs if r.lock_waiters is not None]
        if waiting:
            said += f", {median(waiting):.1f} requests waiting on the ledger lock"
        return said


def report(title: str, target: float, bare: Side, registry: Side) -> bool:
    print(title)
    for side in (bare, registry):
        rate, p50, p99 = side.figures()
        print(
            f"  {side.label:45} {rate:6.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
            f"CPU/req workers {side.cpu_per_request('server_cpu')}, "
            f"PostgreSQL {side.cpu_per_request('database_cpu')}"
        )
        if busy := side.busy():
            print(f"  {'':45} {busy}")
    ratio = registry.figures()[0] / bare.figures()[0]
    per_round = [r.rate / b.rate for b, r in zip(bare.runs, registry.runs, strict=True)]
    met = ratio >= target
    print(
        f"  ratio (registry / bare) {ratio:.2f}   (per round {min(per_round):.2f}"
        f"-{max(per_round):.2f})   target >= {target:.2f} -> {'met' if met else 'NOT met'}"
    )
    return met


# ----------------------------------------------------------------------------- main


def _load() -> str:
    """The machine's load averages (1, 5, 15 minutes): how busy it was around the run."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def partition(items: list[Any], n: int) -> list[list[Any]]:
    shares = [items[i::n] for i in range(n)]
    if any(not share for share in shares):
        raise SystemExit(f"{len(items)} systems cannot be shared among {n} clients.")
    return shares


def run(args: argparse.Namespace) -> bool:
    bodies = profile_bodies(args.systems)
    print(
        f"api_load: REST API under gunicorn ({args.workers} {args.worker_class} workers, "
        f"PostgreSQL, {args.clients} clients) vs bare Flask + SQLAlchemy; updates by a "
        f"{WRITERS[args.writer].replace('_', ' ')}; load average {_load()} at the start",
        flush=True,  # before the progress lines on stderr
    )
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="api-load-")))
        registry_url = stack.enter_context(fresh_database("postgresql"))
        bare_url = stack.enter_context(fresh_database("postgresql"))
        env = registry_env(registry_url, folder / "instance")
        started = time.perf_counter()
        seed = seed_registry(registry_url, env, bodies, args.writer)
        row_ids = seed_bare(bare_url, bodies)
        print(
            f"  seeded {len(bodies)} systems x (profile, owner, change log) and "
            f"{len(row_ids)} bare rows in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        auth = {"Authorization": f"Bearer {seed.secret}"}
        references = [body["reference"] for _, body in seed.profiles]
        bare_env = {**env, DATABASE_URL_VARIABLE: bare_url}
        registry_server = stack.enter_context(
            gunicorn(
                "registry",
                ["wsgi:app"],
                env,
                args.workers,
                args.worker_class,
                folder / "registry.log",
                ("GET", f"/api/v1/systems/{references[0]}", None, auth),
            )
        )
        bare_server = stack.enter_context(
            gunicorn(
                "bare",
                ["--chdir", str(BENCH), "bare_app:create_app()"],
                bare_env,
                args.workers,
                args.worker_class,
                folder / "bare.log",
                ("GET", f"/rows/{row_ids[0]}", None, {}),
            )
        )
        versions = {entry_id: 1 for entry_id, _ in seed.profiles}
        postmaster = postmaster_pid(registry_url)
        profile_shares = partition(seed.profiles, args.clients)
        system_paths = partition([f"/api/v1/systems/{r}" for r in references], args.clients)
        row_paths = partition([f"/rows/{i}" for i in row_ids], args.clients)
        scenarios = {
            "update": (
                Side(
                    "bare      POST /rows",
                    bare_server,
                    lambda: [BareInserts(share) for share in profile_shares],
                    postmaster,
                ),
                Side(
                    "registry  PUT /api/v1/entries/{id} (If-Match)",
                    registry_server,
                    lambda: [RegistryUpdates(share, versions, auth) for share in profile_shares],
                    postmaster,
                    registry_url,
                ),
            ),
            "read": (
                Side(
                    "bare      GET /rows/{id}",
                    bare_server,
                    lambda: [Reads(paths, {}) for paths in row_paths],
                    postmaster,
                ),
                Side(
                    "registry  GET /api/v1/systems/{reference}",
                    registry_server,
                    lambda: [Reads(paths, auth) for paths in system_paths],
                    postmaster,
                ),
            ),
        }
        for sides in scenarios.values():
            for side in sides:
                side.drive(args.warmup)
        for n in range(1, args.rounds + 1):
            for name, sides in scenarios.items():
                for side in sides:
                    result = side.drive(args.seconds)
                    side.runs.append(result)
                    print(
                        f"  round {n} {name:6} {side.label.split()[0]:8} "
                        f"{result.rate:7.0f} req/s ({result.requests} in {result.seconds:.1f} s, "
                        f"client CPU {result.client_cpu / result.seconds:.0%} of a core)",
                        file=sys.stderr,
                    )
        check_writes(
            registry_url, bare_url, len(bodies), *(s.answered for s in scenarios["update"])
        )
    print(
        f"medians of {args.rounds} rounds x {args.seconds:g} s per side, "
        "alternating bare / registry; latencies per request on a fresh connection; "
        f"load average {_load()} at the end"
    )
    met = [
        report("versioned updates", TARGETS["update"], *scenarios["update"]),
        report("one system's state", TARGETS["read"], *scenarios["read"]),
    ]
    return all(met)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="of each side per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, unmeasured")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--systems", type=int, default=200)
    parser.add_argument(
        "--writer",
        choices=sorted(WRITERS),
        default="officer",
        help="whose token updates: a compliance officer's (default) or a technical owner's",
    )
    args = parser.parse_args()
    run(args)


if __name__ == "__main__":
    main()
