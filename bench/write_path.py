"""The REST API's versioned update, in process: what one PUT costs, and for how long it
holds the ledger lock.

The same request as ``api_load.py`` (``PUT /api/v1/entries/{id}`` of a profile, its
purpose changed, with ``If-Match``) through Flask's test client, one at a time, on a
fresh PostgreSQL database with a signing key (a checkpoint every 1,000 events). No
server, no concurrency: these figures do not depend on how busy the machine is, so
they say where a change of the write path saves work even when the load test is
too noisy to show it.

Per request (medians over ``--requests``):
- what the database driver was asked to do, counted in its cursors whichever path
  sent it (registry.db_traffic): statements, transactions, and round trips (a
  pipeline of statements, with the ``BEGIN`` it starts with, is one; a ``COMMIT`` is
  one more);
- the process's CPU time;
- how long the ledger lock was held: from sending the pipeline that takes it until
  its transaction ended (an upper bound: it includes the wait for the lock's round
  trip).

``--writer owner`` updates with a technical owner's token (named by every system's owner
entry) instead of a compliance officer's. ``--profile N`` prints the N functions with
the most cumulative time (cProfile).
Run: ``cd bench && ../.venv/bin/python write_path.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import fresh_database, median, percentile
from api_load import _changed, profile_bodies

from registry import create_app
from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.db_traffic import DriverTraffic
from registry.extensions import database
from registry.ledger.keys import create_key
from registry.records import reads, writes

LOCKING = ("registry_ledger_lock_scope",)
# The function that takes the ledger lock (its time inside: pg_stat_user_functions).
FUNCTION = "registry_ledger_lock_scope"


class Counter:
    """Statements and transactions, counted at the driver (registry.db_traffic); how
    long the ledger lock was held."""

    def __init__(self, engine: sa.Engine) -> None:
        self.traffic = DriverTraffic(engine)
        self.held: list[float] = []
        self.locked_at: float | None = None  # in a transaction, until it ends
        sa.event.listen(engine, "commit", self._end)
        sa.event.listen(engine, "rollback", self._end)

    def reset(self) -> None:
        self.traffic.reset()
        self.locked_at = None

    def collect(self) -> None:
        """The lock holds of the request just made: an autocommit statement holds the
        lock while it runs; in a transaction, from the statement until the end."""
        for statement, sent, seconds, autocommit in self.traffic.timings:
            if any(name in statement for name in LOCKING):
                if autocommit:
                    self.held.append(seconds)
                elif self.locked_at is None:
                    self.locked_at = sent

    def _end(self, _conn: Any) -> None:
        self.collect()
        if self.locked_at is not None:
            self.held.append(time.perf_counter() - self.locked_at)
            self.locked_at = None
        self.traffic.timings.clear()


WRITERS = {"officer": "compliance_officer", "owner": "technical_owner"}


def setup(
    url: str, instance: Path, systems: int, writer: str = "officer"
) -> tuple[Any, str, list[Any]]:
    create_key(instance / "ledger-signing.key", "registry.bench/ledger")
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench",
            "CHECKPOINT_EVERY_EVENTS": 1000,
        }
    )
    bodies = profile_bodies(systems)
    with database(app).sessionmaker() as s:
        admin = Actor.system("bench", roles=frozenset({"admin"}))
        user, _ = create_user(
            s, admin, "pipeline@bench.example", [WRITERS[writer]], "a long bench pass 123"
        )
        _, secret = create_token(s, Actor.for_user(user), user, name="bench")
        actor = Actor.system("bench", roles=frozenset({"compliance_officer"}))
        profiles = []
        for body in bodies:
            system, _ = writes.create_system(s, actor, body)
            profiles.append((reads.profile_entry(s, system).id, body))
            if writer == "owner":  # the pipeline's user is the system's technical owner
                owner = {
                    "role": "technical",
                    "person": {"name": "Pipeline", "email": user.email},
                    "authority_scope": "Model, data and deployment of this system.",
                    "start": "2025-01-01",
                }
                writes.create_entry(s, actor, system, "owner", owner)
        s.commit()
    return app, secret, profiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--systems", type=int, default=50)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--sort", default="cumulative", help="of the profile (pstats key)")
    parser.add_argument(
        "--writer",
        choices=sorted(WRITERS),
        default="officer",
        help="whose token updates: a compliance officer's (default) or a technical owner's",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="write-path-") as folder,
        fresh_database("postgresql") as url,
    ):
        with sa.create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            # Time spent inside registry_ledger_lock_scope (pg_stat_user_functions).
            name = sa.engine.make_url(url).database
            conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET track_functions = 'pl'")
        app, secret, profiles = setup(url, Path(folder) / "instance", args.systems, args.writer)
        counter = Counter(database(app).engine)
        client = app.test_client()
        auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        versions = {entry_id: 1 for entry_id, _ in profiles}
        statements, transactions, trips, cpu = [], [], [], []
        profiler = cProfile.Profile() if args.profile else None

        def put(n: int) -> None:
            entry_id, body = profiles[n % len(profiles)]
            version = versions[entry_id]
            response = client.put(
                f"/api/v1/entries/{entry_id}",
                data=_changed(body, version),
                headers={**auth, "If-Match": f'"{entry_id}.{version}"'},
            )
            if response.status_code != 200:
                raise SystemExit(f"answered {response.status_code}: {response.get_data()!r}")
            versions[entry_id] = version + 1

        for n in range(len(profiles)):  # warm-up: every entry once
            put(n)
        counter.held.clear()
        for n in range(args.requests):
            counter.reset()
            started = time.process_time()
            if profiler is not None:
                profiler.enable()
            put(n)
            if profiler is not None:
                profiler.disable()
            cpu.append(time.process_time() - started)
            counter.collect()
            statements.append(len(counter.traffic.statements))
            transactions.append(counter.traffic.begins)
            trips.append(counter.traffic.round_trips)
        with database(app).sessionmaker() as s:
            checkpoints = s.scalar(sa.text("SELECT count(*) FROM checkpoint"))
        database(app).dispose()
        time.sleep(1.5)  # the backends report their statistics as they exit
        with sa.create_engine(url).connect() as conn:
            functions = conn.execute(
                sa.text(
                    "SELECT calls, total_time FROM pg_stat_user_functions WHERE funcname = :name"
                ),
                {"name": FUNCTION},
            ).first()
    held = counter.held
    print(
        json.dumps(
            {
                "writer": WRITERS[args.writer],
                "requests": args.requests,
                "statements": median(statements),
                "transactions": median(transactions),
                "round_trips": median(trips),
                "cpu_ms_p50": round(median(cpu) * 1000, 3),
                "lock_held_ms_p50": round(median(held) * 1000, 3) if held else None,
                "lock_held_ms_p99": round(percentile(held, 99) * 1000, 3) if held else None,
                "checkpoints": checkpoints,
                "in_function_ms_mean": (
                    round(functions.total_time / functions.calls, 3) if functions else None
                ),
            }
        )
    )
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.profile)
        print(out.getvalue())


if __name__ == "__main__":
    main()
