"""The systems list's database time at two sizes of register: every statement a page
sends, timed in the database alone, and the ratio between the sizes.

On a shared machine the pages' wall times (``scale.py``) move with the other work
running; what the database does for a page does not, and it is what grows with the
register when a list counts or sorts every system. Each page of the systems list and
``GET /api/v1/systems`` (as ``scale.py`` names them; ``--pages``: any of its pages) is
requested once through the Flask app to record its statements (after a warm-up
request); each statement is then run ``--repeat`` times on its own connection and its
best time kept: on PostgreSQL the ``Execution Time`` of ``EXPLAIN ANALYZE``, on SQLite
the wall time of executing it and fetching every row. The registers are built as
``scale.py`` builds them.

    cd bench && ../.venv/bin/python systems_list_sql.py --pages "my systems,my tasks"

    cd bench && REGISTRY_BENCH_ENGINES=postgresql ../.venv/bin/python systems_list_sql.py \\
        --sizes 1000,10000 --versions 30
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import tempfile
import time
from typing import Any

import sqlalchemy as sa
from _common import ENGINES, fresh_database
from scale import OFFICER, build, pages, signed_in
from sqlalchemy import event

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.service import create_token
from registry.db import Database

# Statements every request sends whatever the page (the signed-in user, the token).
OWN = re.compile(r'FROM "?user"?\b|FROM user_role|FROM api_token', re.IGNORECASE)


def _listed(systems: int, only: str = "") -> list[tuple[str, str]]:
    """The systems list's pages and the API's, or (``only``) the pages of ``scale.py``
    whose name holds one of these comma-separated parts."""
    if only:
        parts = only.split(",")
        return [(name, path) for name, path in pages(systems) if any(p in name for p in parts)]
    return [
        (name, path)
        for name, path in pages(systems)
        if path.startswith(("/systems?", "/api/v1/systems?"))
        or path in ("/systems", "/api/v1/systems")
    ]


def _statements(url: str, systems: int, only: str = "") -> dict[str, list[tuple[str, Any]]]:
    """Per page, the SELECT statements its second request sent, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        sent.append((statement, parameters))

    out = {}
    with tempfile.TemporaryDirectory() as folder:
        client = signed_in(url, folder)
        db = Database(url)
        with db.sessionmaker() as s:
            user = s.scalar(sa.select(User).where(User.email == OFFICER))
            _token, secret = create_token(s, Actor.for_user(user), user, name="bench")
            s.commit()
        db.engine.dispose()
        bearer = {"Authorization": f"Bearer {secret}"}
        event.listen(sa.engine.Engine, "before_cursor_execute", note)
        try:
            for name, path in _listed(systems, only):
                headers = bearer if path.startswith("/api/") else {}
                assert client.get(path, headers=headers).status_code == 200, path
                sent.clear()
                assert client.get(path, headers=headers).status_code == 200, path
                out[name] = [
                    (statement, parameters)
                    for statement, parameters in sent
                    if statement.lstrip().upper().startswith("SELECT") and not OWN.search(statement)
                ]
        finally:
            event.remove(sa.engine.Engine, "before_cursor_execute", note)
    return out


def _timed(url: str, found: dict[str, list[tuple[str, Any]]], repeat: int) -> dict[str, float]:
    """Per page, the sum of its statements' best times in the database (seconds)."""
    out = {}
    if url.startswith("sqlite"):
        connection = sqlite3.connect(sa.engine.make_url(url).database or "")
        try:
            for name, statements in found.items():
                total = 0.0
                for statement, parameters in statements:
                    best = float("inf")
                    for _ in range(repeat):
                        started = time.perf_counter()
                        connection.execute(statement, parameters).fetchall()
                        best = min(best, time.perf_counter() - started)
                    total += best
                out[name] = total
        finally:
            connection.close()
        return out
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            for name, statements in found.items():
                total = 0.0
                for statement, parameters in statements:
                    best = float("inf")
                    for _ in range(repeat):
                        plan = connection.exec_driver_sql(
                            "EXPLAIN (ANALYZE, BUFFERS OFF) " + statement, parameters
                        ).scalars()
                        last = list(plan)[-1]
                        match = re.search(r"Execution Time: ([\d.]+) ms", last)
                        assert match, last
                        best = min(best, float(match.group(1)) / 1e3)
                    total += best
                out[name] = total
    finally:
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="two register sizes, small,large")
    parser.add_argument("--versions", type=int, default=30, help="versions per system")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each statement (best kept)")
    parser.add_argument(
        "--pages",
        default="",
        help="instead of the systems lists, the pages of scale.py whose name holds one of "
        'these comma-separated parts (e.g. "my systems,my tasks")',
    )
    args = parser.parse_args()
    small, large = (int(n) for n in args.sizes.split(","))
    print(
        f"The systems list's database time: {small:,} and {large:,} systems, about "
        f"{args.versions} versions each; per page, the sum of its statements' best of "
        f"{args.repeat} (ms)"
    )
    for engine in ENGINES:
        results = {}
        for size in (small, large):
            with fresh_database(engine) as url:
                seconds = build(url, size, args.versions)
                print(f"  {engine}: built {size:,} systems in {seconds:.0f} s", flush=True)
                results[size] = _timed(url, _statements(url, size, args.pages), args.repeat)
        print(f"\n{engine}")
        print(f"  {'page':26} {f'{small:,}':>10} {f'{large:,}':>10} {'ratio':>8}")
        worst = 0.0
        for name, seconds in results[large].items():
            base = results[small][name]
            ratio = seconds / base if base else float("inf")
            worst = max(worst, ratio)
            print(f"  {name:26} {base * 1e3:10.2f} {seconds * 1e3:10.2f} {ratio:7.2f}x")
        print(f"  largest ratio {large:,}/{small:,}: {worst:.2f}x")


if __name__ == "__main__":
    main()
