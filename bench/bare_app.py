"""The baseline of ``api_load.py``: a bare Flask + SQLAlchemy 2 app over one table.

What any Flask + SQLAlchemy JSON service does at the least, with nothing of the
registry: an ORM model, a session per request, one commit per write.

- ``POST /rows`` parses the request's JSON body, stores it as text in a new row and
  answers 201 ``{"id": …}``;
- ``GET /rows/<id>`` answers the row as JSON, 404 when there is none.

The database is named by ``BENCH_BARE_DATABASE_URL``. Serve it as gunicorn serves the
registry: ``gunicorn -w 4 --chdir bench 'bare_app:create_app()'``. The table is created
by whoever prepares the database (``Base.metadata.create_all``), not by the workers.
"""

from __future__ import annotations

import json
import os

import sqlalchemy as sa
from flask import Flask, abort, g, request
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DATABASE_URL_VARIABLE = "BENCH_BARE_DATABASE_URL"


class Base(DeclarativeBase):
    pass


class Row(Base):
    """An id and a JSON body as text."""

    __tablename__ = "bench_row"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(sa.Text)


def create_app(url: str | None = None) -> Flask:
    """The app on ``url`` (default: the environment variable ``BENCH_BARE_DATABASE_URL``)."""
    url = url or os.environ[DATABASE_URL_VARIABLE]
    app = Flask(__name__)
    # Connections are checked before use, as the registry's are by default
    # (REGISTRY_DATABASE_PRE_PING): both sides of a ratio pay the same pool policy.
    engine = sa.create_engine(url, pool_pre_ping=True)
    make_session = sessionmaker(engine, expire_on_commit=False)

    def session() -> Session:
        if "session" not in g:
            g.session = make_session()
        return g.session

    @app.teardown_appcontext
    def _close(_exc: BaseException | None) -> None:
        s = g.pop("session", None)
        if s is not None:
            s.close()

    @app.post("/rows")
    def add_row() -> tuple[dict[str, int], int]:
        body = request.get_json()
        row = Row(body=json.dumps(body, ensure_ascii=False))
        s = session()
        s.add(row)
        s.commit()
        return {"id": row.id}, 201

    @app.get("/rows/<int:row_id>")
    def get_row(row_id: int) -> dict[str, object]:
        row = session().get(Row, row_id)
        if row is None:
            abort(404)
        return {"id": row.id, "body": json.loads(row.body)}

    return app
