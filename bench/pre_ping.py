"""What testing each pooled connection before use costs: the REST API on PostgreSQL with
``REGISTRY_DATABASE_PRE_PING`` on (the default) vs off, same run.

Two registries serve the same fresh PostgreSQL database under gunicorn, with the
settings of ``api_load.py`` (4 sync workers, 16 client threads, a connection per
request): one with pre-ping on, one with it off. With it on, each checkout of a pooled
connection sends an empty statement first (one round trip), but an API request's: its
first exchange is the test (``db.untested_checkout``), so both sides now send the same
round trips and the ratio should be 1.00 within the noise. The data and
the token are ``api_load.py``'s: 200 systems from the NL algorithm register, a signing
key, a compliance officer's token.

1. One system's state: ``GET /api/v1/systems/{reference}``.
2. Versioned updates: ``PUT /api/v1/entries/{id}`` of a profile with ``If-Match``.

Rounds alternate off, on, off, on … after an unmeasured warm-up of each; figures are
medians over rounds of requests per second and of the p50 latency. The ratio is on /
off of the median rates: what pre-ping leaves of the throughput (1.00: nothing lost).
Run: ``cd bench && ../.venv/bin/python pre_ping.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _common import fresh_database, median, percentile
from api_load import (
    Client,
    Reads,
    RegistryUpdates,
    Run,
    drive,
    gunicorn,
    partition,
    profile_bodies,
    registry_env,
    seed_registry,
)

SETTINGS = ("off", "on")


def run(args: argparse.Namespace) -> None:
    bodies = profile_bodies(args.systems)
    print(
        f"pre_ping: REST API under gunicorn ({args.workers} sync workers, PostgreSQL, "
        f"{args.clients} clients), REGISTRY_DATABASE_PRE_PING off vs on",
        flush=True,
    )
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pre-ping-")))
        url = stack.enter_context(fresh_database("postgresql"))
        env = registry_env(url, folder / "instance")
        started = time.perf_counter()
        seed = seed_registry(url, env, bodies)
        print(
            f"  seeded {len(bodies)} systems in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        auth = {"Authorization": f"Bearer {seed.secret}"}
        references = [body["reference"] for _, body in seed.profiles]
        ports = {}
        for setting in SETTINGS:
            server = stack.enter_context(
                gunicorn(
                    f"registry, pre-ping {setting}",
                    ["wsgi:app"],
                    {**env, "REGISTRY_DATABASE_PRE_PING": "true" if setting == "on" else "false"},
                    args.workers,
                    "sync",
                    folder / f"registry-{setting}.log",
                    ("GET", f"/api/v1/systems/{references[0]}", None, auth),
                )
            )
            ports[setting] = server.port
        # Both servers update the same entries, one side at a time: one record of versions.
        versions = {entry_id: 1 for entry_id, _ in seed.profiles}
        profile_shares = partition(seed.profiles, args.clients)
        system_paths = partition([f"/api/v1/systems/{r}" for r in references], args.clients)

        def clients(scenario: str) -> list[Client]:
            if scenario == "read":
                return [Reads(paths, auth) for paths in system_paths]
            return [RegistryUpdates(share, versions, auth) for share in profile_shares]

        scenarios = {
            "read": "one system's state  GET /api/v1/systems/{reference}",
            "update": "versioned updates   PUT /api/v1/entries/{id} (If-Match)",
        }
        runs: dict[tuple[str, str], list[Run]] = {(s, p): [] for s in scenarios for p in SETTINGS}
        for scenario in scenarios:
            for setting in SETTINGS:
                drive(ports[setting], clients(scenario), args.warmup)
        for n in range(1, args.rounds + 1):
            for scenario in scenarios:
                for setting in SETTINGS:
                    result = drive(ports[setting], clients(scenario), args.seconds)
                    runs[scenario, setting].append(result)
                    print(
                        f"  round {n} {scenario:6} pre-ping {setting:3} {result.rate:7.0f} req/s",
                        file=sys.stderr,
                    )
    print(f"medians of {args.rounds} rounds x {args.seconds:g} s per side, alternating off / on")
    for scenario, title in scenarios.items():
        print(title)
        rates = {}
        for setting in SETTINGS:
            done = runs[scenario, setting]
            rates[setting] = median([r.rate for r in done])
            p50 = median([percentile(r.latencies, 50) * 1000 for r in done])
            print(f"  pre-ping {setting:3}  {rates[setting]:6.0f} req/s   p50 {p50:6.1f} ms")
        per_round = [
            on.rate / off.rate
            for off, on in zip(runs[scenario, "off"], runs[scenario, "on"], strict=True)
        ]
        print(
            f"  ratio (on / off) {rates['on'] / rates['off']:.2f}   "
            f"(per round {min(per_round):.2f}-{max(per_round):.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0, help="of each side per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, unmeasured")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--systems", type=int, default=200)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
