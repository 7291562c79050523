"""What recording a token's last use costs: an API read (``GET /api/v1/me``, in process,
Flask's test client) whose token was already used today (the steady state: nothing is
written) against one whose use today is not recorded yet (the day's first request: one
conditional UPDATE in a short transaction of its own), on SQLite and PostgreSQL.

Before each request of the second kind the token's last use is cleared outside the
timing. Requests alternate between the two kinds; figures are medians of each kind's
latency, and the ratio is first use / steady state (what the day's first request of a
token costs, once per token per day).
Run: ``cd bench && ../.venv/bin/python token_last_use.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _common import fresh_database, median

from registry import create_app
from registry.accounts.actor import Actor
from registry.accounts.models import ApiToken
from registry.accounts.service import create_token, create_user
from registry.extensions import database, db_session


def run(engine: str, requests: int) -> None:
    with fresh_database(engine) as url, tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(Path(folder) / "instance"),
                "SECRET_KEY": "bench",
                "TESTING": True,
            }
        )
        with app.app_context():
            session = db_session()
            admin = Actor.system("bench", roles=frozenset({"admin"}))
            user, _ = create_user(session, admin, "bench@example.org", ["auditor"])
            token, secret = create_token(session, Actor.for_user(user), user, name="bench")
            session.commit()
            token_id = token.id
        engine_ = database(app).engine
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        clear = sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=None)
        assert client.get("/api/v1/me", headers=headers).status_code == 200  # warm-up
        steady, first = [], []
        for _ in range(requests):
            started = time.perf_counter()
            client.get("/api/v1/me", headers=headers)
            steady.append(time.perf_counter() - started)
            with engine_.begin() as connection:
                connection.execute(clear)
            started = time.perf_counter()
            client.get("/api/v1/me", headers=headers)
            first.append(time.perf_counter() - started)
        engine_.dispose()
    s, f = median(steady) * 1000, median(first) * 1000
    print(
        f"{engine:10} steady state {s:7.2f} ms  first use of the day {f:7.2f} ms  "
        f"ratio first/steady {f / s:5.2f}  (medians of {requests} each)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    print("token_last_use: GET /api/v1/me, a token's use already recorded today vs not yet")
    for engine in args.engines.split(","):
        run(engine, args.requests)


if __name__ == "__main__":
    main()
