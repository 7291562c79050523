"""Reminders: the scan over a large register, and what notifications add to a write.

1. A register of N systems (default 10,000), written through the service: each in
   production with a technical owner, a review procedure falling due and, every tenth,
   an open serious incident. Timed (median of --repeat), on read sessions that keep
   what they score in the readiness projection (as the app's): the baseline, every
   system scored in full (``due_items_evaluated``, what the scan did before it read the
   projection); ``due_items`` with the projection cold (its first run: every system
   scored and kept, as the first scan after midnight UTC) and current (the next runs);
   and the whole ``scan_due`` (recipients, preferences, outbox rows, inserting them:
   the first run queues, the next --repeat find everything queued; each's wall and
   CPU time), which reads the kept list of due items (``due_list``: timed cold and
   current before it, as "My tasks" reads it). Target: the scan under 5 s at 10,000
   systems. Then the next day (every row stale, as just after midnight UTC): the
   refresh (``projection.current`` on a read session, what the worker's midnight job
   and ``registry readiness refresh`` run) against a bulk evaluation of every system
   (``scorecard.evaluate_many``); its target is at most that. After the build the
   database's statistics are refreshed (``ANALYZE``), as a database in service has
   them (autovacuum's), so the first scan does not pay for a bulk load's stale ones.
2. A write (a new risk entry, committed) with no webhook subscription, and with 20
   subscriptions and a full outbox: record-change notifications are read from the
   ledger after a cursor by ``registry notify scan``, so the write does no
   notification work (target: under 5 % more).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

from _common import ENGINES, fresh_database, median

from registry.accounts.actor import Actor
from registry.accounts.models import User, UserRole
from registry.db import Database
from registry.notifications import due_list
from registry.notifications.due import AHEAD, due_items, due_items_evaluated
from registry.notifications.models import WebhookSubscription
from registry.notifications.outbox import scan_changes, scan_due
from registry.readiness.projection import INFO_KEY as PROJECTOR
from registry.readiness.projection import ReadinessProjection, current
from registry.readiness.projector import Projector
from registry.readiness.scorecard import evaluate_many
from registry.records import writes
from registry.records.reads import get_system

OFFICER = Actor.system("bench", roles=frozenset({"compliance_officer"}))
RISK = {"title": "Drift", "likelihood": "possible", "impact": "major"}


def load() -> str:
    """The load average now, printed with each figure (the machine may be shared)."""
    return "load " + "/".join(f"{x:.2f}" for x in os.getloadavg())


def build(db: Database, systems: int) -> None:
    """The register, and its users: two compliance officers and the 50 technical owners
    the owner entries name (by e-mail)."""
    now = dt.datetime.now(dt.UTC)
    with db.sessionmaker() as s:
        for n in range(2):
            s.add(
                User(
                    email=f"officer{n}@example.org", role_rows=[UserRole(role="compliance_officer")]
                )
            )
        for n in range(50):
            s.add(User(email=f"tech{n}@example.org", role_rows=[UserRole(role="technical_owner")]))
        s.commit()
    for start in range(0, systems, 500):
        with db.sessionmaker() as s:
            for n in range(start, min(start + 500, systems)):
                system, _ = writes.create_system(
                    s,
                    OFFICER,
                    {
                        "name": f"System {n}",
                        "reference": f"sys-{n:05d}",
                        "purpose": "Benchmark",
                        "stage": "production",
                        "risk_tier": "minimal",
                    },
                )
                owner = {
                    "role": "technical",
                    "person": {"name": "Tech", "email": f"tech{n % 50}@example.org"},
                    "start": "2020-01-01",
                }
                writes.create_entry(s, OFFICER, system, "owner", owner)
                procedure = {"type": "periodic", "frequency_days": 10 + n % 30}
                writes.create_entry(s, OFFICER, system, "review_procedure", procedure)
                if n % 10 == 0:
                    incident = {
                        "title": "Wrong scores",
                        "detected_at": now.isoformat(),
                        "severity": "high",
                        "serious": True,
                        "status": "open",
                    }
                    writes.create_entry(s, OFFICER, system, "incident", incident)
            s.commit()


def analyze(db: Database) -> None:
    """The statistics a database in service has (autovacuum's), after the bulk build."""
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def samples(db: Database, fn, repeat: int) -> tuple[list[float], list[float], object]:
    """Wall times, CPU times of this process (on SQLite: the database's work too; on a
    machine shared with other work the CPU time is the steadier figure), and the last
    result."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        with db.read_sessionmaker() as s:
            started, started_cpu = time.perf_counter(), time.process_time()
            result = fn(s)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return times, cpu, result


def forget_projection(db: Database) -> None:
    with db.sessionmaker() as s:
        s.execute(ReadinessProjection.__table__.delete())
        s.commit()


def scan_times(
    db: Database, now: dt.datetime, repeat: int
) -> tuple[float, float, float, float, int]:
    """The first scan (which queues) and the median of the next ones (everything queued
    already): wall and CPU time of each, and the messages queued."""
    wall: list[float] = []
    cpu: list[float] = []
    queued = 0
    for i in range(repeat + 1):
        with db.read_sessionmaker() as r, db.sessionmaker() as s:
            started, started_cpu = time.perf_counter(), time.process_time()
            _, n = scan_due(r, s, now + dt.timedelta(seconds=i))
            s.commit()
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        queued += n
    return wall[0], cpu[0], median(wall[1:]), median(cpu[1:]), queued


def write_times(db: Database, repeat: int) -> list[float]:
    times = []
    with db.sessionmaker() as s:
        system = get_system(s, "sys-00001")
        s.commit()
        for _ in range(repeat):
            started = time.perf_counter()
            writes.create_entry(s, OFFICER, system, "risk", RISK)
            s.commit()
            times.append(time.perf_counter() - started)
    return times


def run(engine: str, systems: int, repeat: int, writes_repeat: int) -> None:
    with fresh_database(engine) as url:
        db = Database(url)
        started = time.perf_counter()
        build(db, systems)
        print(f"[{engine}] {systems} systems written in {time.perf_counter() - started:.1f} s")
        analyze(db)
        # Read sessions keep what they score in the projection, and the due items they
        # find in the kept list, as the app's do.
        db.share(PROJECTOR, Projector(db.sessionmaker), reading_only=True)
        keeper = Projector(db.sessionmaker, due_list.store, "due list")
        db.share(due_list.INFO_KEY, keeper, reading_only=True)
        # Twenty days on: no row written while building is current then.
        now = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
        times, cpus, full = samples(db, lambda s: due_items_evaluated(s, now), repeat)
        base, base_cpu = median(times), median(cpus)
        forget_projection(db)
        times, cpus, items = samples(db, lambda s: due_items(s, now), repeat + 1)
        cold, cold_cpu = times[0], cpus[0]
        warm, warm_cpu = median(times[1:]), median(cpus[1:])
        assert items == full, "the scan from the projection finds what a full evaluation finds"
        print(
            f"[{engine}] due items of {systems} systems ({len(items)} items): every system "
            f"scored (baseline) {base:.2f} s (CPU {base_cpu:.2f} s); from the projection, "
            f"cold {cold:.2f} s (CPU {cold_cpu:.2f} s; {cold / base:.2f}x the baseline), "
            f"current {warm:.2f} s (CPU {warm_cpu:.2f} s; {warm / base:.2f}x the baseline); "
            + load()
        )
        # The kept list of due items (what the scan and "My tasks" read): cold (every
        # system's items found and stored), then current (its rows read).
        times, cpus, kept = samples(
            db, lambda s: due_list.current(s, now, AHEAD).page(s), repeat + 1
        )
        assert kept == full, "the kept list holds what a full evaluation finds"
        print(
            f"[{engine}] the kept list of due items: cold {times[0]:.2f} s (CPU "
            f"{cpus[0]:.2f} s), current {median(times[1:]):.2f} s (CPU "
            f"{median(cpus[1:]):.2f} s; {median(times[1:]) / base:.2f}x the baseline); " + load()
        )
        # The next day: every stored row stale, as just after midnight UTC.
        day = now + dt.timedelta(days=1)
        times, cpus, _ = samples(db, lambda s: evaluate_many(s, None, day), repeat)
        bulk, bulk_cpu = median(times), median(cpus)
        refresh, refresh_cpu = [], []
        for n in range(repeat):
            later = day + dt.timedelta(days=n)
            times, cpus, fresh = samples(db, lambda s, at=later: len(current(s, at).fresh), 1)
            assert fresh == systems, fresh
            refresh += times
            refresh_cpu += cpus
        r, r_cpu = median(refresh), median(refresh_cpu)
        print(
            f"[{engine}] the next day, every row stale: the refresh {r:.2f} s (CPU {r_cpu:.2f} s), "
            f"a bulk evaluation of every system {bulk:.2f} s (CPU {bulk_cpu:.2f} s): "
            f"{r / bulk:.2f}x (target <= 1)"
        )
        first, first_cpu, again, again_cpu, queued = scan_times(db, now, repeat)
        print(
            f"[{engine}] scan_due first {first:.2f} s (CPU {first_cpu:.2f} s; {queued} "
            f"queued), again {again:.2f} s (CPU {again_cpu:.2f} s; {again / base:.2f}x the "
            f"baseline) — target < 5 s: "
            f"{'met' if max(first, again) < 5 else 'NOT met'} in wall time, "
            f"{'met' if max(first_cpu, again_cpu) < 5 else 'NOT met'} in CPU time; " + load()
        )
        # The write, without and with webhook subscriptions and a full outbox.
        with db.sessionmaker() as s:
            scan_changes(s, now)  # the cursor at the head
            s.commit()
        plain = write_times(db, writes_repeat)
        with db.sessionmaker() as s:
            for n in range(20):
                s.add(
                    WebhookSubscription(
                        url=f"https://hooks{n}.example.org/x",
                        secret="whsec_" + "A" * 44,
                        events="record.changed incident due_item",
                        created_by="bench",
                    )
                )
            s.commit()
        with_hooks = write_times(db, writes_repeat)
        a, b = median(plain), median(with_hooks)
        print(
            f"[{engine}] write {a * 1000:.2f} ms without subscriptions, {b * 1000:.2f} ms with 20 "
            f"webhooks and {queued} queued messages: ratio {b / a:.3f} (target < 1.05); " + load()
        )
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    for engine in ENGINES:
        run(engine, args.systems, args.repeat, args.writes)


if __name__ == "__main__":
    main()
