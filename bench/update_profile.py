"""Where an API update's CPU time goes: the registry's ``PUT /api/v1/entries/{id}`` vs
the bare app's ``POST /rows`` (``bare_app.py``), in this process, same run.

``api_load.py`` measures the two apps under gunicorn and load; this looks inside one
request. Both apps run in this process on their own fresh PostgreSQL database and are
called through Flask's test client (no HTTP server, no other client: what is left is
the app, its libraries and the database driver). The registry is seeded as
``api_load.py`` seeds it (a signing key, so checkpoints are signed; ``--systems``
systems with a profile, an owner and a change log; a compliance officer's token, or a
technical owner's with ``--writer owner``) and updates the profiles with ``If-Match``
as its clients do.

Rounds alternate bare, registry, bare, registry …; each round times ``--requests``
requests of one side. Printed: the medians over rounds of the CPU time per request of
this process (the app) and of the database's PostgreSQL backends (from /proc, when
PostgreSQL runs on this machine), with their ratio registry / bare. Then one more
registry round under cProfile with a CPU clock (the profiler's own cost inflates every
figure alike, so only the shares are shown): the shares of the request's CPU time by
library (inclusive of nothing: each function's own time, summed by the package its
file is in) and the inclusive shares of the registry's steps of an update. The machine
is shared: say what the load was (printed at the start and the end).

Run: ``cd bench && ../.venv/bin/python update_profile.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import fresh_database, median
from api_load import profile_bodies, registry_env, seed_bare, seed_registry, update_body
from bare_app import create_app as create_bare_app

from registry import create_app
from registry.db import Database

JSON = {"Content-Type": "application/json"}
# The registry's steps of an update, by the function that carries each out (inclusive).
STEPS = {
    "authenticate (token lookup queued)": "registry/api/auth.py:authenticate",
    "request body parsed (EntryUpdate)": "webargs/core.py:parse",
    "lock and read (first round trip)": "registry/ledger/append.py:lock_and_read",
    "state made, body validated": "registry/records/writes.py:state",
    "decision": "registry/records/writes.py:decide",
    "append: seal, store, the version's objects": "registry/records/writes.py:_append",
    "  of which the version's ORM objects": "registry/records/writes.py:_attached",
    "commit (second round trip)": "registry/api/writes.py:commit_change",
    "answer rendered (JSON)": "registry/api/blueprint.py:json_response",
    "before_request hooks": "flask/app.py:preprocess_request",
    "after_request hooks (logs, metrics, headers)": "flask/app.py:process_response",
    "  of which the request's log line": "registry/logs.py:answered",
}


def backends_cpu(url: str) -> Callable[[], float | None]:
    """CPU seconds so far of the PostgreSQL backends connected to ``url``'s database
    (other than the one asking), read from /proc; None when they cannot be read."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            pids = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
            pids = list(pids)
    finally:
        db.dispose()
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += int(fields[11]) + int(fields[12])
        return total / tick

    return read


def _where(filename: str) -> str:
    """A function's file as a package name (a library's, or registry/…, or stdlib)."""
    if (found := re.search(r"site-packages/([^/]+)", filename)) is not None:
        return found.group(1)
    if "/registry/" in filename:
        return "registry (" + filename.split("/registry/", 1)[1].split("/")[0] + ")"
    return "standard library" if "python3" in filename else "built-in"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
    return re.sub(r"^[^/]+/(?=registry/)", "", filename)


def shares(profile: cProfile.Profile) -> tuple[Counter[str], dict[str, float], float]:
    """The own time by package, the inclusive time of each of STEPS, and the total."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    own: Counter[str] = Counter()
    inclusive: dict[str, float] = dict.fromkeys(STEPS, 0.0)
    total = 0.0
    for (filename, _, name), (_, _, tottime, cumtime, _) in stats.items():
        own[_where(filename)] += tottime
        total += tottime
        key = f"{_short(filename)}:{name}"
        for step, where in STEPS.items():
            if key.endswith(where):
                inclusive[step] += cumtime
    return own, inclusive, total


def run(args: argparse.Namespace) -> None:
    print(
        f"update_profile: PUT /api/v1/entries/{{id}} vs bare POST /rows, in-process, "
        f"PostgreSQL; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    bodies = profile_bodies(args.systems)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="update-profile-")))
        registry_url = stack.enter_context(fresh_database("postgresql"))
        bare_url = stack.enter_context(fresh_database("postgresql"))
        env = registry_env(registry_url, folder / "instance")
        seed = seed_registry(registry_url, env, bodies, args.writer)
        seed_bare(bare_url, bodies)
        for name in [k for k in os.environ if k.startswith("REGISTRY_")]:
            del os.environ[name]
        os.environ.update({k: v for k, v in env.items() if k.startswith("REGISTRY_")})
        registry = create_app().test_client()
        bare = create_bare_app(bare_url).test_client()
        auth = {**JSON, "Authorization": f"Bearer {seed.secret}"}
        versions = {entry_id: 1 for entry_id, _ in seed.profiles}
        turn = iter(range(10**9))

        def update() -> None:
            entry_id, body = seed.profiles[next(turn) % len(seed.profiles)]
            version = versions[entry_id]
            answer = registry.put(
                f"/api/v1/entries/{entry_id}",
                data=update_body(body, version),
                headers={**auth, "If-Match": f'"{entry_id}.{version}"'},
            )
            if answer.status_code != 200:
                raise SystemExit(f"update answered {answer.status_code}: {answer.data[:500]!r}")
            versions[entry_id] += 1

        def insert() -> None:
            _, body = seed.profiles[next(turn) % len(seed.profiles)]
            answer = bare.post("/rows", data=update_body(body, 0), headers=JSON)
            if answer.status_code != 201:
                raise SystemExit(f"insert answered {answer.status_code}")

        for _ in range(args.warmup):
            update()
            insert()
        database_cpu = {"registry": backends_cpu(registry_url), "bare": backends_cpu(bare_url)}
        cpu: dict[str, list[float]] = {"registry": [], "bare": []}
        db_cpu: dict[str, list[float]] = {"registry": [], "bare": []}
        for _ in range(args.rounds):
            for side, call in (("bare", insert), ("registry", update)):
                before, db_before = time.process_time(), database_cpu[side]()
                for _ in range(args.requests):
                    call()
                cpu[side].append((time.process_time() - before) / args.requests)
                db_after = database_cpu[side]()
                if db_before is not None and db_after is not None:
                    db_cpu[side].append((db_after - db_before) / args.requests)
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(args.requests):
            update()
        profile.disable()
        if args.stats:
            profile.dump_stats(args.stats)

    print(f"medians of {args.rounds} rounds x {args.requests} requests per side, alternating")
    print(f"  {'CPU per request':28} {'bare':>8} {'registry':>9} {'ratio':>6}")
    for label, figures in (("this process (the app)", cpu), ("PostgreSQL backends", db_cpu)):
        if figures["bare"] and figures["registry"]:
            b, r = median(figures["bare"]) * 1000, median(figures["registry"]) * 1000
            print(f"  {label:28} {b:6.2f} ms {r:6.2f} ms {r / b:6.1f}")
    own, inclusive, total = shares(profile)
    print("registry update under cProfile (CPU clock), share of the request's CPU time")
    print("  by package (each function's own time):")
    for where, seconds in own.most_common(args.top):
        print(f"    {seconds / total:6.1%}  {where}")
    print("  by step (inclusive):")
    for step, seconds in inclusive.items():
        print(f"    {seconds / total:6.1%}  {step}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="per side per round")
    parser.add_argument("--warmup", type=int, default=100, help="requests per side")
    parser.add_argument("--systems", type=int, default=50)
    parser.add_argument("--top", type=int, default=14, help="packages shown")
    parser.add_argument("--writer", choices=("officer", "owner"), default="officer")
    parser.add_argument("--stats", help="file to write the profile to (pstats), to read further")
    args: Any = parser.parse_args()
    run(args)


if __name__ == "__main__":
    main()
