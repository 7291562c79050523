"""The registry at scale: every page's warm latency at two sizes of register, and the
ratio between them (the cost should stay flat as the register grows).

A synthetic registry is bulk-loaded (``build``: rows as the write path stores them,
events sealed and chained in Python, each naming its system and linked to the system's
previous event, inserted in batches): per system a profile (stage and risk tier
varying), the entries a ready system has (some left out, so that about a third are not
ready), a performed review, an incident on every fifth, a waiver on every seventh, and
change-log entries with further versions up to ``--versions`` versions per system. The
signed-in compliance officer is named as technical owner of every tenth system ("My
systems"). Then, through the Flask app on the real databases (both sizes built and
kept), each page is requested ``--repeat`` times at each size, the sizes in turn, after
one warm-up request (which also fills the readiness projection, as the first read after
a change does), and its p50 and p95 are printed at both sizes with the ratio
large/small: taken in alternation, other work on a shared machine weighs on both
sizes alike.

    python scale.py --sizes 1000,10000 --versions 100     # the issue's shape (slow to build)
    python scale.py                                       # make bench: 200 and 1,000 systems
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import ENGINES, fresh_database, median, percentile

from registry import create_app
from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.service import create_token, create_user
from registry.db import Database
from registry.ledger.canonical import canonical_bytes, sha256_hex
from registry.ledger.chain import seal_event
from registry.ledger.models import AuditEvent
from registry.ledger.store import ledger_head
from registry.records.inputs import validated
from registry.records.kinds import RISK_TIERS
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.search_index import rebuild as rebuild_search_index
from tests.readiness.evidence import ready_entries
from tests.records.samples import SAMPLES

PASSWORD = "a long bench password 123"
OFFICER = "officer@bench.example"
STAGES = ("pilot", "production", "proposed", "pilot", "retired")
BATCH = 20_000
ORGANISATIONS = ("Gemeente Utrecht", "Belastingdienst", "UWV", "Politie", "RDW", "DUO")


def _bodies(i: int) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) of system ``i``'s entries, profile first, validated as the API would."""
    reference = f"sys-{i:05d}"
    profile = {
        "name": f"{('Triage', 'Chatbot', 'Fraud signal', 'Route planner')[i % 4]} {i}",
        "reference": reference,
        "purpose": f"Helps {ORGANISATIONS[i % len(ORGANISATIONS)]} order case {i} by urgency.",
        "business_value": "Faster decisions for urgent cases",
        "stage": STAGES[i % len(STAGES)],
        "risk_tier": RISK_TIERS[i % len(RISK_TIERS)],
    }
    out: list[tuple[str, dict[str, Any]]] = [("profile", profile)]
    skip = {1: "monitoring_plan", 2: "owner"}.get(i % 3)
    for kind, body in ready_entries():
        if kind == skip:
            continue
        if kind == "owner" and body["role"] == "technical" and i % 10 == 0:
            body = {**body, "person": {"name": "Olivia Officer", "email": OFFICER}}
        out.append((kind, body))
    if i % 5 == 0:
        out.append(("incident", {**SAMPLES["incident"], "status": "open"}))
    if i % 7 == 0:
        out.append(("waiver", SAMPLES["waiver"]))
    return [(kind, validated(kind, body)[0]) for kind, body in out]


class Loader:
    """Rows as the write path stores them, chained, inserted in batches."""

    def __init__(self, db: Database, start: dt.datetime) -> None:
        self.db = db
        with db.sessionmaker() as s:
            head = ledger_head(s)
        self.seq, self.prev = head.seq, head.event_hash
        self.clock = start
        self.rows: dict[str, list[dict[str, Any]]] = {"s": [], "e": [], "v": [], "a": []}
        self.ids = {"s": 0, "e": 0, "v": 0}
        self.last: dict[int, int] = {}
        self.events = 0

    def version(
        self, system: int, reference: str, entry: int, kind: str, number: int, body: Any
    ) -> None:
        data = canonical_bytes(body)
        self.seq += 1
        self.clock += dt.timedelta(milliseconds=1)
        action = "system.create" if number == 1 and kind == "profile" else "entry.create"
        if number > 1:
            action = "entry.update"
        fields = {
            "time": self.clock.isoformat(timespec="microseconds"),
            "action": action,
            "actor": "system:bench",
            "system": reference,
            "system_id": system,
            "entry_id": entry,
            "kind": kind,
            "version": number,
            "body_sha256": sha256_hex(data),
            "reason_sha256": sha256_hex(b""),
            "tombstone": False,
            "system_prev": self.last.get(system, 0),
            "effective_from": self.clock.isoformat(),
        }
        sealed = seal_event(self.seq, self.prev, fields)
        self.prev = sealed.event_hash
        self.last[system] = self.seq
        self.rows["a"].append(
            {
                "seq": self.seq,
                "recorded_at": self.clock,
                "event": sealed.event,
                "prev_hash": sealed.prev_hash,
                "event_hash": sealed.event_hash,
                "leaf_hash": sealed.leaf_hash,
                "system_id": system,
                "action": action,
                "actor": "system:bench",
            }
        )
        self.ids["v"] += 1
        self.rows["v"].append(
            {
                "id": self.ids["v"],
                "entry_id": entry,
                "number": number,
                "body": data.decode(),
                "body_hash": hashlib.sha256(data).hexdigest(),
                "recorded_at": self.clock,
                "effective_from": self.clock,
                "author_id": None,
                "author": "system:bench",
                "reason": "",
                "tombstone": False,
                "audit_seq": self.seq,
            }
        )
        self.events += 1

    def system(self, i: int, versions: int) -> None:
        bodies = _bodies(i)
        reference = bodies[0][1]["reference"]
        self.ids["s"] += 1
        system = self.ids["s"]
        self.rows["s"].append({"id": system, "reference": reference, "created_at": self.clock})
        heads: list[list[Any]] = []
        for kind, body in bodies:
            self.ids["e"] += 1
            entry = self.ids["e"]
            self.version(system, reference, entry, kind, 1, body)
            heads.append([entry, kind, 1])
        extra = max(0, versions - len(bodies))
        logs = []
        for n in range(max(1, extra // 4) if extra else 0):
            self.ids["e"] += 1
            body = {**SAMPLES["change_log"], "summary": f"Change {n}", "to_version": f"1.{n}"}
            self.version(system, reference, self.ids["e"], "change_log", 1, body)
            logs.append([self.ids["e"], "change_log", 1])
        for n in range(extra - len(logs)):
            head = logs[n % len(logs)]
            head[2] += 1
            body = {**SAMPLES["change_log"], "summary": f"Change {n}", "to_version": f"2.{n}"}
            self.version(system, reference, head[0], "change_log", head[2], body)
        for entry, kind, number in heads + logs:
            self.rows["e"].append(
                {
                    "id": entry,
                    "system_id": system,
                    "kind": kind,
                    "head_number": number,
                    "retired": False,
                    "created_at": self.clock,
                }
            )
        if len(self.rows["v"]) >= BATCH:
            self.flush()

    def flush(self) -> None:
        with self.db.engine.begin() as conn:
            for key, table in (
                ("s", AISystem.__table__),
                ("e", Entry.__table__),
                ("a", AuditEvent.__table__),
                ("v", EntryVersion.__table__),
            ):
                if self.rows[key]:
                    conn.execute(sa.insert(table), self.rows[key])
                    self.rows[key].clear()


def build(url: str, systems: int, versions: int) -> float:
    """Bulk-load ``systems`` systems of about ``versions`` versions; returns seconds."""
    started = time.perf_counter()
    db = Database(url)
    with db.sessionmaker() as s:
        admin = Actor.system("bench", roles=frozenset({"admin"}))
        create_user(s, admin, OFFICER, ["compliance_officer"], PASSWORD, name="Olivia Officer")
        s.commit()
    loader = Loader(db, dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    for i in range(1, systems + 1):
        loader.system(i, versions)
        if i % 500 == 0:
            print(
                f"\r  {db.dialect}: {i:,} systems, {loader.events:,} versions "
                f"({time.perf_counter() - started:.0f} s)",
                end="",
                file=sys.stderr,
            )
    loader.flush()
    print(file=sys.stderr)
    # The rows went in around the write path: the search index is made as migration 0020
    # makes it for a register recorded before it (`registry search rebuild`).
    with db.sessionmaker() as s:
        rebuild_search_index(s)
        s.commit()
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    db.engine.dispose()
    return time.perf_counter() - started


def pages(systems: int) -> list[tuple[str, str]]:
    """(name, path) of every page measured; the system pages are of one in the middle."""
    ref = f"sys-{systems // 2:05d}"
    return [
        ("dashboard", "/dashboard"),
        ("my systems", "/my-systems"),
        ("systems list", "/systems"),
        ("systems: stage", "/systems?stage=pilot"),
        ("systems: tier", "/systems?tier=high"),
        ("systems: not ready", "/systems?attention=not_ready"),
        ("systems: sort changed", "/systems?sort=changed"),
        ("systems: sort attention", "/systems?sort=attention"),
        ("systems: text search", "/systems?q=Chatbot"),
        ("system page", f"/systems/{ref}"),
        ("readiness", f"/systems/{ref}/readiness"),
        ("audit trail", "/audit"),
        ("audit: action", "/audit?action=entry.create"),
        ("audit: system", f"/audit?system={ref}"),
        ("audit: actor", "/audit?actor=system:bench"),
        ("exports list", "/exports"),
        ("systems: sort stage", "/systems?sort=stage"),
        ("systems: sort risk tier", "/systems?sort=risk_tier"),
        ("systems: last page", "/systems?page=100000"),
        ("systems: two words", "/systems?q=chat+urgen"),
        ("systems: owner name", "/systems?q=Olivia"),
        ("systems: owner e-mail", f"/systems?q={OFFICER}"),
        ("API systems", "/api/v1/systems"),
        ("API text search", "/api/v1/systems?q=Chatbot"),
        ("API owner search", "/api/v1/systems?q=Olivia"),
        ("systems: retired", "/systems?status=retired"),
        ("systems: sort reference", "/systems?sort=reference"),
        ("audit: page 5", "/audit?page=5"),
        ("exports: system", f"/exports?system={ref}"),
        ("API systems: stage", "/api/v1/systems?stage=pilot"),
        ("API systems: page after", f"/api/v1/systems?after={ref}"),
        ("API system", f"/api/v1/systems/{ref}"),
        ("API entries", f"/api/v1/systems/{ref}/entries"),
        ("API exports", "/api/v1/exports"),
        ("API checkpoints", "/api/v1/ledger/checkpoints"),
        ("my tasks", "/tasks"),
        ("API my tasks", "/api/v1/me/tasks"),
    ]


def signed_in(url: str, folder: str) -> Any:
    """A test client of an app on ``url`` (its instance in ``folder``), signed in as the
    bench's compliance officer."""
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": folder,
            "EXPORT_DIR": str(Path(folder) / "exports"),
            "SECRET_KEY": "bench-secret-key",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
        }
    )
    client = app.test_client()
    response = client.post("/login", data={"email": OFFICER, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def _prepared(
    stack: ExitStack, url: str, systems: int
) -> tuple[Any, list[tuple[str, str]], dict[str, str]]:
    """A signed-in client of an app on ``url`` (kept open by ``stack``), the pages of a
    register of ``systems`` systems and the API's bearer header."""
    client = signed_in(url, stack.enter_context(tempfile.TemporaryDirectory()))
    listed = pages(systems)
    ref = listed[9][1].rsplit("/", 1)[1]
    db = Database(url)
    with db.sessionmaker() as s:
        entry_id, head = s.execute(
            sa.select(Entry.id, Entry.head_number)
            .join(AISystem, AISystem.id == Entry.system_id)
            .where(AISystem.reference == ref, Entry.kind == "change_log")
            .order_by(Entry.head_number.desc())
            .limit(1)
        ).one()
        user = s.scalar(sa.select(User).where(User.email == OFFICER))
        _token, secret = create_token(s, Actor.for_user(user), user, name="bench")
        s.commit()
    db.engine.dispose()
    base = f"/systems/{ref}/entries/{entry_id}"
    listed += [
        ("history", f"{base}/history"),
        ("diff", f"{base}/diff?from={max(1, head - 1)}&to={head}"),
    ]
    return client, listed, {"Authorization": f"Bearer {secret}"}


def measure(
    urls: dict[int, str], repeat: int, only: str = ""
) -> dict[int, dict[str, tuple[float, float]]]:
    """Per register size (``urls``: size -> database), each page's warm p50 and p95. The
    sizes' requests alternate (one of each in turn), so that other work on the machine
    weighs on both alike and their ratio holds."""
    out: dict[int, dict[str, tuple[float, float]]] = {size: {} for size in urls}
    with ExitStack() as stack:
        prepared = {size: _prepared(stack, url, size) for size, url in urls.items()}
        names = [name for name, _path in next(iter(prepared.values()))[1]]
        for index, name in enumerate(names):
            if only and not any(part in name for part in only.split(",")):
                continue
            requests = {}
            for size, (client, listed, bearer) in prepared.items():
                path = listed[index][1]
                headers = bearer if path.startswith("/api/") else {}
                response = client.get(path, headers=headers)  # warm-up (and the projection)
                assert response.status_code == 200, (path, response.status_code)
                requests[size] = (client, path, headers)
            samples: dict[int, list[float]] = {size: [] for size in urls}
            for _ in range(repeat):
                for size, (client, path, headers) in requests.items():
                    started = time.perf_counter()
                    response = client.get(path, headers=headers)
                    samples[size].append(time.perf_counter() - started)
                    assert response.status_code == 200, path
            for size, taken in samples.items():
                out[size][name] = (median(taken), percentile(taken, 95))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200,1000", help="two register sizes, small,large")
    parser.add_argument("--versions", type=int, default=30, help="versions per system")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--pages",
        default="",
        help="only the pages whose name holds one of these comma-separated parts "
        '(e.g. "systems" for the systems lists)',
    )
    args = parser.parse_args()
    small, large = (int(n) for n in args.sizes.split(","))
    print(
        f"The registry at scale: {small:,} and {large:,} systems, about {args.versions} "
        f"versions each; warm p50 / p95 of {args.repeat} requests per page (ms)"
    )
    for engine in ENGINES:
        with ExitStack() as stack:
            urls = {}
            for size in (small, large):
                urls[size] = stack.enter_context(fresh_database(engine))
                seconds = build(urls[size], size, args.versions)
                print(f"  {engine}: built {size:,} systems in {seconds:.0f} s", flush=True)
            results = measure(urls, args.repeat, args.pages)
        print(f"\n{engine}")
        print(
            f"  {'page':26} {f'{small:,} p50':>10} {'p95':>8} {f'{large:,} p50':>11} "
            f"{'p95':>8} {'p95 ratio':>10}"
        )
        worst = 0.0
        for name, (p50, p95) in results[large].items():
            s50, s95 = results[small][name]
            ratio = p95 / s95
            worst = max(worst, ratio)
            print(
                f"  {name:26} {s50 * 1e3:10.1f} {s95 * 1e3:8.1f} {p50 * 1e3:11.1f} "
                f"{p95 * 1e3:8.1f} {ratio:9.2f}x"
            )
        slowest = max(results[large].items(), key=lambda kv: kv[1][1])
        print(
            f"  slowest p95 at {large:,}: {slowest[0]} {slowest[1][1] * 1e3:.1f} ms; "
            f"largest p95 ratio {large:,}/{small:,}: {worst:.2f}x"
        )


if __name__ == "__main__":
    main()
