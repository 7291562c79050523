"""/healthz, /readyz and /metrics, the request id, and forwarded headers believed only
from a trusted proxy: through the Flask test client on both engines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from huey import RedisHuey
from prometheus_client.parser import text_string_to_metric_families

from registry.accounts.actor import Actor
from registry.accounts.service import create_token
from registry.extensions import database
from registry.ledger.keys import create_key
from registry.ledger.store import ledger_head
from tests.conftest import PASSWORD, csrf_token, make_app
from tests.records.samples import SAMPLES

OUTSIDE = "198.51.100.7"  # a client address outside the metrics networks


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", "registry.test/ledger")
    application = make_app(
        database_url, instance, CHECKPOINT_EVERY_EVENTS=2, METRICS_TOKEN="scrape-token-1234"
    )
    yield application
    database(application).dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """A session outside any app context, so each request has a context (and ``g``) of
    its own, as in service."""
    own = database(app).sessionmaker()
    yield own
    own.rollback()
    own.close()


@pytest.fixture
def token(app: Flask, session: Any, users: dict[str, Any]) -> str:
    officer = users["compliance_officer"]
    _, secret = create_token(session, Actor.for_user(officer), officer, name="ops")
    session.commit()
    return secret


def scrape(app: Flask, **kwargs: Any) -> dict[str, Any]:
    response = app.test_client().get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    return {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}


def sample(families: dict[str, Any], name: str, suffix: str = "", **labels: str) -> float:
    """The value of the sample of ``name`` + ``suffix`` with ``labels`` (0 when absent)."""
    family = families.get(name)
    if family is None:
        return 0.0
    for s in family.samples:
        if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def test_healthz_and_readyz_answer_without_sign_in(app):
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_data(as_text=True) == "ok\n"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_data(as_text=True) == "ready\n"
    assert ready.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_without_saying_what_is_missing(app, tmp_path, capsys):
    """Each check fails in turn (then is mended): a 503 that names nothing, and the
    failed check named in the log for the operator."""
    client = app.test_client()
    key = Path(app.config["SIGNING_KEY_PATH"])
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    store = app.extensions["registry.documents"]
    db = database(app)
    if app.config["DATABASE_URL"].startswith("sqlite"):
        away = f"sqlite:///{tmp_path}/no/such/folder/db.sqlite3"
    else:
        away = "postgresql+psycopg://root@127.0.0.1:1/none"  # no server there
    faults = {
        "signing_key": lambda: key.rename(key.with_suffix(".gone")),
        "database": lambda: app.extensions.update({"registry.db": type(db)(away)}),
        "blob_store": lambda: setattr(store, "parts", blocked / "tmp"),
        "export_folder": lambda: app.config.update(EXPORT_DIR=str(blocked / "exports")),
        # A job backend that does not answer (Redis where no server listens).
        "job_queue": lambda: app.extensions.update(
            {"registry.jobs": SimpleNamespace(huey=RedisHuey("gone", url="redis://127.0.0.1:1/0"))}
        ),
    }
    mends = {
        "signing_key": lambda: key.with_suffix(".gone").rename(key),
        "database": lambda: app.extensions.update({"registry.db": db}),
        "blob_store": lambda: setattr(store, "parts", tmp_path / "documents" / "tmp"),
        "export_folder": lambda: app.config.update(EXPORT_DIR=str(tmp_path / "exports")),
        "job_queue": lambda: app.extensions.pop("registry.jobs"),
    }
    for lost, fault in faults.items():
        fault()
        capsys.readouterr()
        answer = client.get("/readyz")
        assert answer.status_code == 503, lost
        assert answer.get_data(as_text=True) == "not ready\n"  # nothing named to the caller
        logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        [warning] = [line for line in logged if line["message"] == "not ready"]
        assert warning["failed_checks"] == [lost]  # the operator reads it in the log
        mends[lost]()
        assert client.get("/readyz").status_code == 200, lost


def test_metrics_count_requests_writes_refusals_and_the_ledger(app, session, token):
    before = scrape(app)
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    for n in range(3):
        profile = {**SAMPLES["profile"], "reference": f"metrics-{n}"}
        answer = api.post("/api/v1/systems", json={"profile": profile}, headers=auth)
        assert answer.status_code == 201, answer.get_data(as_text=True)
    refused = api.post("/api/v1/systems", json={"profile": {"name": ""}}, headers=auth)
    assert refused.status_code == 422
    asked = api.post("/api/v1/exports", json={"system": "metrics-0"}, headers=auth)
    assert asked.status_code == 202, asked.get_data(as_text=True)  # run at once here
    assert api.get("/api/v1/systems", headers={"Authorization": "Bearer reg_nope"}).status_code == (
        401
    )
    after = scrape(app)
    rule = "/api/v1/systems"
    latency = "registry_request_duration_seconds"
    assert (
        sample(after, latency, "_count", endpoint=rule, method="POST", status="201")
        - sample(before, latency, "_count", endpoint=rule, method="POST", status="201")
        == 3
    )
    assert sample(after, latency, "_bucket", endpoint=rule, method="POST", status="422", le="+Inf")
    writes = "registry_writes"
    assert (
        sample(after, writes, "_total", action="system.create", kind="profile")
        - sample(before, writes, "_total", action="system.create", kind="profile")
        == 3
    )
    refusals = "registry_refusals"
    for kind, status in (("InvalidInput", "422"), ("TokenRejected", "401")):
        assert (
            sample(after, refusals, "_total", kind=kind, status=status)
            - sample(before, refusals, "_total", kind=kind, status=status)
            == 1
        ), (kind, after.get(refusals))
    # The ledger's size is its head's seq (the writes, and the checkpoints' own events).
    assert sample(after, "registry_ledger_events") == ledger_head(session).seq
    assert sample(after, "registry_ledger_events") >= sample(before, "registry_ledger_events") + 3
    # The jobs by state, read from their rows: the export just asked for has finished.
    jobs = "registry_jobs"
    assert sample(after, jobs, state="finished") - sample(before, jobs, state="finished") == 1
    assert sample(after, jobs, state="failed") == sample(before, jobs, state="failed") == 0
    # Every second event is covered by a checkpoint: one was signed a moment ago.
    assert 0 <= sample(after, "registry_latest_checkpoint_age_seconds") < 60


def test_metrics_need_the_token_or_an_allowed_network(app):
    client = app.test_client()
    away = {"environ_base": {"REMOTE_ADDR": OUTSIDE}}
    assert client.get("/metrics", **away).status_code == 404
    for wrong in ("Bearer nope", "Basic scrape-token-1234", "Bearer scrape-token-12345"):
        assert client.get("/metrics", headers={"Authorization": wrong}, **away).status_code == 404
    right = {"Authorization": "Bearer scrape-token-1234"}
    assert client.get("/metrics", headers=right, **away).status_code == 200
    assert client.get("/metrics").status_code == 200  # loopback: an allowed network
    app.config["METRICS_NETWORKS"] = []
    assert client.get("/metrics").status_code == 404


def test_operations_endpoints_permission_matrix(app, client, users, token):
    """Who gets what from each operations endpoint: the same for every principal (signed
    in on the web, with an API token, or nobody); only /metrics asks where from."""
    principals: dict[str, Any] = {
        "anonymous": {},
        "api_token": {"Authorization": f"Bearer {token}"},
    }
    expected = {
        ("/healthz", "allowed"): 200,
        ("/healthz", "outside"): 200,
        ("/readyz", "allowed"): 200,
        ("/readyz", "outside"): 200,
        ("/metrics", "allowed"): 200,
        ("/metrics", "outside"): 404,
    }
    failures = []
    for role, user in users.items():
        web = app.test_client()
        signed = web.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(web)},
        )
        assert signed.status_code == 302
        principals[role] = web
    for name, who in principals.items():
        for (path, where), status in expected.items():
            environ = {"REMOTE_ADDR": OUTSIDE if where == "outside" else "127.0.0.1"}
            if isinstance(who, dict):
                answer = app.test_client().get(path, headers=who, environ_base=environ)
            else:
                answer = who.get(path, environ_base=environ)
            if answer.status_code != status:
                failures.append(f"{path} from {where} as {name}: {answer.status_code}")
    assert failures == []


def _logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    return [line for line in lines if line.get("name") == "registry.requests"]


def test_each_request_has_an_id_echoed_and_logged(app, capsys):
    client = app.test_client()
    capsys.readouterr()
    given = client.get("/healthz", headers={"X-Request-ID": "trace-42.a_b:c"})
    assert given.headers["X-Request-ID"] == "trace-42.a_b:c"
    made = client.get("/healthz")
    bad = client.get("/healthz", headers={"X-Request-ID": "no spaces; <script>"})
    long = client.get("/healthz", headers={"X-Request-ID": "x" * 129})
    ids = [r.headers["X-Request-ID"] for r in (made, bad, long)]
    for request_id in ids:
        assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert len(set(ids)) == 3
    logged = _logged(capsys)
    assert [line["request_id"] for line in logged] == ["trace-42.a_b:c", *ids]
    assert {line["endpoint"] for line in logged} == {"/healthz"}
    assert {line["outcome"] for line in logged} == {"ok"}


def test_the_log_names_the_user_and_the_outcome(app, login_as, capsys, users, token):
    client = login_as("auditor")
    capsys.readouterr()
    assert client.get("/systems").status_code == 200
    api = app.test_client()
    assert (
        api.get("/api/v1/systems", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    assert api.get("/api/v1/systems").status_code == 401
    web, good, anonymous = _logged(capsys)
    assert (web["user_id"], web["status"], web["outcome"]) == (users["auditor"].id, 200, "ok")
    assert good["user_id"] == users["compliance_officer"].id
    assert (anonymous["user_id"], anonymous["outcome"]) == (None, "refused")


def test_forwarded_addresses_are_believed_only_from_a_trusted_proxy(database_url, tmp_path, capsys):
    for hops in (0, 1):
        app = make_app(database_url, tmp_path / "instance", TRUSTED_PROXY_HOPS=hops)
        client = app.test_client()
        proxy = {"REMOTE_ADDR": "127.0.0.1"}  # the proxy, on loopback
        # The proxy appends the address it saw to what the client sent.
        forwarded = {"X-Forwarded-For": f"10.9.9.9, {OUTSIDE}", "X-Forwarded-Proto": "https"}
        capsys.readouterr()
        answer = client.get("/metrics", headers=forwarded, environ_base=proxy)
        [line] = _logged(capsys)
        login = client.get("/login", headers=forwarded, environ_base=proxy)
        database(app).dispose()
        if hops:
            # The client is the address the proxy saw (never what the client wrote
            # before it), so the metrics, kept for loopback, are refused.
            assert line["client"] == OUTSIDE and answer.status_code == 404
            assert "Strict-Transport-Security" in login.headers  # https, as forwarded
        else:  # no proxy trusted: the headers are ignored
            assert line["client"] == "127.0.0.1" and answer.status_code == 200
            assert "Strict-Transport-Security" not in login.headers


def test_bad_operations_settings_are_refused(tmp_path):
    for setting, value, named in (
        ("TRUSTED_PROXY_HOPS", -1, "REGISTRY_TRUSTED_PROXY_HOPS"),
        ("LOG_FORMAT", "xml", "REGISTRY_LOG_FORMAT"),
        ("LOG_LEVEL", "LOUD", "REGISTRY_LOG_LEVEL"),
        ("METRICS_NETWORKS", "10.0.0.0/33", "REGISTRY_METRICS_NETWORKS"),
    ):
        with pytest.raises(ValueError, match=named):
            make_app(
                f"sqlite:///{tmp_path}/unused.sqlite3", tmp_path / "instance", **{setting: value}
            )
