"""The REST API through Flask's test client, on both engines: what a pipeline does,
what bad input gets, and the protocol promises (tokens only, ETags, idempotency,
problem+json)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts.models import ApiToken
from registry.api import writes
from registry.api.models import IdempotencyKey
from registry.db import utcnow
from registry.extensions import db_session
from registry.records import reads
from tests.conftest import PASSWORD, csrf_token
from tests.records.samples import SAMPLES

PROBLEM = "application/problem+json"


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"] and body["instance"] == response.request.path
    if code:
        assert body["code"] == code, body
    return body


@pytest.fixture
def officer_api(api_as: Any) -> Any:
    return api_as("compliance_officer")


@pytest.fixture
def system(officer_api: Any, profile: dict[str, Any]) -> dict[str, Any]:
    response = officer_api.post("/api/v1/systems", json={"profile": profile, "reason": "new"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def add(client: Any, kind: str, body: dict[str, Any] | None = None, ref: str = "sys-1") -> Any:
    return client.post(
        f"/api/v1/systems/{ref}/entries", json={"kind": kind, "body": body or SAMPLES[kind]}
    )


# ----------------------------------------------------------------------------- the realm


def test_a_web_session_cookie_never_authenticates_an_api_call(app, users, system):
    client = app.test_client()
    client.post(
        "/login",
        data={
            "email": users["compliance_officer"].email,
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert client.get("/systems").status_code == 200  # signed in on the web
    problem(client.get("/api/v1/systems"), 401, "unauthenticated")
    problem(client.get("/api/v1/me"), 401)
    response = client.post("/api/v1/systems/sys-1/entries", json={"kind": "risk", "body": {}})
    problem(response, 401)


def test_no_api_response_sets_a_cookie(officer_api, system):
    responses = [
        officer_api.get("/api/v1/systems"),
        officer_api.get("/api/v1/systems/sys-1"),
        add(officer_api, "risk"),
        officer_api.get("/api/v1/nowhere"),
        officer_api.client.get("/api/v1/systems"),  # no token at all
    ]
    for response in responses:
        assert "Set-Cookie" not in response.headers, response.request.path


def test_tokens_are_refused_when_missing_unknown_revoked_or_expired(
    app, session, api_as, tokens, system
):
    anonymous = api_as(None)
    body = problem(anonymous.get("/api/v1/systems"), 401)
    assert "Bearer" in body["detail"]
    assert anonymous.get("/api/v1/systems").headers["WWW-Authenticate"].startswith("Bearer")
    for header in ("Basic dXNlcjpwdw==", "Bearer", "Bearer reg_not-a-token", "Bearer abc"):
        problem(anonymous.get("/api/v1/systems", headers={"Authorization": header}), 401)
    secret = tokens["auditor"]
    row = session.query(ApiToken).filter_by(prefix=secret[:12]).one()
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    assert "expired" in problem(api_as("auditor").get("/api/v1/systems"), 401)["detail"]
    row.expires_at = utcnow() + dt.timedelta(days=1)
    row.revoked_at = utcnow()
    session.commit()
    assert "revoked" in problem(api_as("auditor").get("/api/v1/systems"), 401)["detail"]


def test_a_bad_token_is_refused_before_anything_else_is_wrong(app, api_as, system):
    """The token's lookup may go with a view's first read (PostgreSQL): a request with
    an unknown token and a bad query or body is still answered 401, as on SQLite, and
    learns nothing of the rest."""
    stranger = api_as(None)
    unknown = {"Authorization": "Bearer reg_" + "x" * 40}
    entry = system["profile"]
    for response in (
        stranger.get("/api/v1/systems/sys-1", query_string={"per_kind": 0}, headers=unknown),
        stranger.get("/api/v1/systems/sys-1", headers=unknown),
        stranger.get("/api/v1/systems/" + "x" * 200, headers=unknown),
        stranger.put(
            entry["links"]["self"],
            json={"bogus": 1},
            headers={**unknown, "If-Match": entry["etag"]},
        ),
        stranger.put(
            entry["links"]["self"],
            json={"body": {"stage": "nonsense"}},
            headers={**unknown, "If-Match": '"1.99"'},
        ),
    ):
        assert problem(response, 401)["detail"] == "Unknown API token."
    shown = api_as("auditor").get("/api/v1/systems/sys-1", query_string={"per_kind": 0})
    assert problem(shown, 422)["errors"][0]["parameter"] == "per_kind"


def test_scopes_narrow_what_a_token_may_do(api_as, system):
    read_only, write_only = api_as("officer_read_only"), api_as("officer_write_only")
    assert read_only.get("/api/v1/systems/sys-1").status_code == 200
    problem(add(read_only, "risk"), 403, "forbidden")
    problem(write_only.get("/api/v1/systems/sys-1"), 403)
    assert add(write_only, "risk").status_code == 201


def test_technical_owners_write_only_to_systems_they_own(api_as, officer_api, users, system):
    tech = api_as("technical_owner")
    problem(add(tech, "change_log"), 403)
    owner = {
        "role": "technical",
        "person": {"name": "Tech", "email": users["technical_owner"].email},
        "start": "2020-01-01",
    }
    assert add(officer_api, "owner", owner).status_code == 201
    assert add(tech, "change_log").status_code == 201
    other = {**SAMPLES["profile"], "reference": "sys-2"}
    assert officer_api.post("/api/v1/systems", json={"profile": other}).status_code == 201
    problem(add(tech, "change_log", ref="sys-2"), 403)
    problem(tech.post("/api/v1/systems", json={"profile": {**other, "reference": "x"}}), 403)


# ----------------------------------------------------------------------------- entries


def test_entry_lifecycle_with_etags(officer_api, system):
    created = add(officer_api, "data_source")
    assert created.status_code == 201
    entry = created.get_json()
    assert created.headers["ETag"] == f'"{entry["id"]}.1"' == entry["etag"]
    assert created.headers["Location"] == f"/api/v1/entries/{entry['id']}"
    path = created.headers["Location"]

    got = officer_api.get(path)
    assert got.status_code == 200 and got.headers["ETag"] == created.headers["ETag"]
    assert got.get_json()["body"] == {**SAMPLES["data_source"]}

    changed = {**SAMPLES["data_source"], "name": "Applications 2019-2025"}
    body = problem(officer_api.put(path, json={"body": changed}), 428, "precondition_required")
    assert f'"{entry["id"]}.1"' in body["detail"]
    problem(officer_api.put(path, json={"body": changed}, headers={"If-Match": "*"}), 428)

    updated = officer_api.put(
        path, json={"body": changed, "reason": "new year"}, headers={"If-Match": entry["etag"]}
    )
    assert updated.status_code == 200, updated.get_data(as_text=True)
    assert updated.headers["ETag"] == f'"{entry["id"]}.2"'
    assert updated.get_json()["version"] == updated.get_json()["head_version"] == 2

    # The same If-Match again: someone else's change came first.
    stale = officer_api.put(path, json={"body": changed}, headers={"If-Match": entry["etag"]})
    body = problem(stale, 412, "stale_version")
    assert body["current_version"] == 2 and body["current_etag"] == f'"{entry["id"]}.2"'
    for tag in (f'W/"{entry["id"]}.2"', '"999.2"', "garbage", f'"{entry["id"]}.99999999999"'):
        problem(officer_api.put(path, json={"body": changed}, headers={"If-Match": tag}), 412)
    # Several tags: the change goes ahead, on the current version, when its tag is
    # among them, whatever the others name; else 412.
    tags = f'"{entry["id"]}.1", "{entry["id"]}.3"'
    problem(officer_api.put(path, json={"body": changed}, headers={"If-Match": tags}), 412)
    tags = f'"{entry["id"]}.5", "{entry["id"]}.2", "999.9"'
    listed = officer_api.put(path, json={"body": changed}, headers={"If-Match": tags})
    assert listed.status_code == 200 and listed.headers["ETag"] == f'"{entry["id"]}.3"'
    body = problem(officer_api.put(path, json={"body": changed}, headers={"If-Match": tags}), 412)
    assert body["current_etag"] == f'"{entry["id"]}.3"'

    history = officer_api.get(f"{path}/versions").get_json()
    assert [v["number"] for v in history["items"]] == [1, 2, 3]
    assert history["items"][1]["reason"] == "new year"
    one = officer_api.get(f"{path}/versions/1")
    assert one.headers["ETag"] == f'"{entry["id"]}.1"'
    assert one.get_json()["body"]["name"] == "Applications 2019-2024"
    diff = officer_api.get(f"{path}/diff?from=1&to=2").get_json()
    assert diff["changes"] == [
        {
            "path": "name",
            "change": "changed",
            "before": "Applications 2019-2024",
            "after": "Applications 2019-2025",
        }
    ]
    problem(officer_api.get(f"{path}/versions/4"), 404)
    problem(officer_api.get(f"{path}/diff?from=1&to=4"), 404)

    retired = officer_api.post(
        f"{path}/retire", json={}, headers={"If-Match": f'"{entry["id"]}.3"'}
    )
    assert retired.status_code == 200 and retired.get_json()["retired"] is True
    state = officer_api.get("/api/v1/systems/sys-1").get_json()
    assert entry["id"] not in [e["id"] for e in state["entries"]]
    assert officer_api.get(path).get_json()["retired"] is True
    again = officer_api.put(
        path, json={"body": changed}, headers={"If-Match": f'"{entry["id"]}.4"'}
    )
    problem(again, 409, "conflict")


def test_the_profile_is_updated_through_its_entry(officer_api, system, profile):
    path = system["profile"]["links"]["self"]
    changed = {**profile, "stage": "proposed"}
    response = officer_api.put(
        path, json={"body": changed}, headers={"If-Match": system["profile"]["etag"]}
    )
    assert response.status_code == 200
    moved = {**profile, "reference": "sys-renamed"}
    body = problem(
        officer_api.put(path, json={"body": moved}, headers={"If-Match": response.headers["ETag"]}),
        422,
    )
    assert body["errors"][0]["pointer"] == "/body/reference"
    problem(add(officer_api, "profile", profile), 422)  # kind: profile is not offered


def test_change_logs_and_incidents_are_first_class(officer_api, system):
    log = {**SAMPLES["change_log"], "deployed_at": "2026-03-01T08:00:00+01:00"}
    created = officer_api.post("/api/v1/systems/sys-1/change-logs", json=log)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["kind"] == "change_log"
    assert created.get_json()["effective_from"].startswith("2026-03-01T07:00:00")
    incident = officer_api.post("/api/v1/systems/sys-1/incidents", json=SAMPLES["incident"])
    assert incident.status_code == 201
    assert incident.get_json()["effective_from"].startswith("2025-07-01T10:00:00")
    add(officer_api, "risk")
    logs = officer_api.get("/api/v1/systems/sys-1/change-logs").get_json()["items"]
    assert [e["kind"] for e in logs] == ["change_log"]
    incidents = officer_api.get("/api/v1/systems/sys-1/incidents").get_json()["items"]
    assert [e["body"]["title"] for e in incidents] == [SAMPLES["incident"]["title"]]
    bad = officer_api.post(
        "/api/v1/systems/sys-1/incidents", json={**SAMPLES["incident"], "status": "gone", "x": 1}
    )
    pointers = {e["pointer"] for e in problem(bad, 422, "validation_failed")["errors"]}
    assert pointers == {"/status", "/x"}


def test_as_of_answers_as_the_registry_stood_then(officer_api, system, profile):
    before = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    path = system["profile"]["links"]["self"]
    officer_api.put(
        path,
        json={"body": {**profile, "stage": "proposed"}},
        headers={"If-Match": system["profile"]["etag"]},
    )
    risk = add(officer_api, "risk").get_json()
    then = {"as_of": before.isoformat()}
    state = officer_api.get("/api/v1/systems/sys-1", query_string=then).get_json()
    assert state["profile"]["body"]["stage"] == "pilot" and state["entries"] == []
    assert officer_api.get("/api/v1/systems/sys-1").get_json()["profile"]["body"]["stage"] == (
        "proposed"
    )
    listed = officer_api.get("/api/v1/systems", query_string={**then, "stage": "pilot"})
    assert [s["reference"] for s in listed.get_json()["items"]] == ["sys-1"]
    assert (
        officer_api.get("/api/v1/systems", query_string={"stage": "pilot"}).get_json()["items"]
        == []
    )
    shown = officer_api.get(path, query_string=then)
    assert shown.get_json()["version"] == 1 and shown.headers["ETag"].endswith('.1"')
    problem(officer_api.get(f"/api/v1/entries/{risk['id']}", query_string=then), 404)
    versions = officer_api.get(f"{path}/versions", query_string=then).get_json()["items"]
    assert [v["number"] for v in versions] == [1]
    problem(officer_api.get(f"{path}/versions/2", query_string=then), 404)
    long_ago = {"as_of": "2000-01-01T00:00:00Z"}
    problem(officer_api.get("/api/v1/systems/sys-1", query_string=long_ago), 404)
    naive = officer_api.get("/api/v1/systems/sys-1", query_string={"as_of": "2026-01-01T00:00"})
    assert problem(naive, 422)["errors"][0]["parameter"] == "as_of"


def test_instants_are_given_in_utc_whatever_the_databases_time_zone(
    app, officer_api, system, engine_name
):
    """A system's state (read without the ORM on PostgreSQL) and an entry (read with
    it) give the same instants, in UTC, on a database whose time zone is far from it;
    writes made there seal the same kind of event time."""
    if engine_name == "postgresql":
        engine = app.extensions["registry.db"].engine
        name = engine.url.database
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            far = "SET timezone TO 'Pacific/Chatham'"
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" {far}')
        app.extensions["registry.db"].dispose()  # new connections take the setting
        with engine.connect() as connection:  # the database's own setting holds for others
            probe = sa.create_engine(engine.url.render_as_string(False))
            with probe.connect() as other:
                assert other.exec_driver_sql("SHOW TimeZone").scalar() == "Pacific/Chatham"
            probe.dispose()
            assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
    added = add(officer_api, "risk").get_json()
    state = officer_api.get("/api/v1/systems/sys-1").get_json()
    shown = [state["profile"], *state["entries"]]
    assert [e["id"] for e in shown] == [system["profile"]["id"], added["id"]]
    for entry in shown:
        alone = officer_api.get(entry["links"]["self"]).get_json()
        for field in ("recorded_at", "effective_from"):
            assert entry[field] == alone[field]
            assert dt.datetime.fromisoformat(entry[field]).utcoffset() == dt.timedelta(0)
    assert state["profile"]["recorded_at"] == system["profile"]["recorded_at"]


def test_systems_list_filters_and_pages_by_cursor(officer_api, users):
    for i, (stage, tier) in enumerate(
        [("pilot", "high"), ("production", "high"), ("pilot", "minimal")] * 3
    ):
        body = {
            "name": f"System {i}",
            "reference": f"s-{i:02d}",
            "stage": stage,
            "risk_tier": tier,
            "organisation": "Gemeente Utrecht" if i % 2 else "Provincie Zeeland",
        }
        assert officer_api.post("/api/v1/systems", json={"profile": body}).status_code == 201
    add(
        officer_api,
        "owner",
        {"role": "business", "person": {"name": "Olga Owner", "email": "olga@example.org"}},
        ref="s-04",
    )
    seen, after, links = [], None, 0
    while True:
        query = {"limit": 4, **({"after": after} if after else {})}
        page = officer_api.get("/api/v1/systems", query_string=query)
        body = page.get_json()
        seen += [s["reference"] for s in body["items"]]
        after = body["next_cursor"]
        if after is None:
            assert "Link" not in page.headers
            break
        assert (
            page.headers["Link"].endswith('rel="next"') and f"after={after}" in page.headers["Link"]
        )
        links += 1
    assert seen == [f"s-{i:02d}" for i in range(9)] and links == 2

    def refs(**query: Any) -> list[str]:
        return [
            s["reference"]
            for s in officer_api.get("/api/v1/systems", query_string=query).get_json()["items"]
        ]

    assert refs(stage="production") == ["s-01", "s-04", "s-07"]
    assert refs(stage="pilot", risk_tier="minimal") == ["s-02", "s-05", "s-08"]
    assert refs(q="utrecht") == ["s-01", "s-03", "s-05", "s-07"]
    assert refs(q="SYSTEM 8") == ["s-08"]
    assert refs(q="100%_") == []
    assert refs(owner="OLGA@example.org") == ["s-04"] == refs(owner="olga own")
    for bad in ({"limit": 0}, {"limit": 201}, {"stage": "live"}, {"q": "x" * 201}, {"zzz": 1}):
        problem(officer_api.get("/api/v1/systems", query_string=bad), 422, "validation_failed")


# ----------------------------------------------------------------------------- idempotency


def test_a_retried_post_with_an_idempotency_key_creates_nothing_twice(officer_api, system):
    headers = {"Idempotency-Key": "deploy-2026-03-01-42"}
    log = {**SAMPLES["change_log"], "summary": "Deployed 42"}
    first = officer_api.post("/api/v1/systems/sys-1/change-logs", json=log, headers=headers)
    again = officer_api.post("/api/v1/systems/sys-1/change-logs", json=log, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    logs = officer_api.get("/api/v1/systems/sys-1/change-logs").get_json()["items"]
    assert len(logs) == 1
    different = {**log, "summary": "Deployed 43"}
    refused = officer_api.post("/api/v1/systems/sys-1/change-logs", json=different, headers=headers)
    assert (
        problem(refused, 422, "idempotency_key_reused")["errors"][0]["header"] == "Idempotency-Key"
    )
    for key in ("", "x" * 256, "naïve"):
        bad = officer_api.post(
            "/api/v1/systems/sys-1/change-logs", json=log, headers={"Idempotency-Key": key}
        )
        problem(bad, 400, "bad_idempotency_key")
    assert len(officer_api.get("/api/v1/systems/sys-1/change-logs").get_json()["items"]) == 1


def test_idempotency_keys_belong_to_their_user_and_failures_are_not_remembered(
    api_as, officer_api, system
):
    headers = {"Idempotency-Key": "k-1"}
    bad = officer_api.post(
        "/api/v1/systems/sys-1/entries", json={"kind": "risk", "body": {}}, headers=headers
    )
    problem(bad, 422)
    good = officer_api.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "risk", "body": SAMPLES["risk"]},
        headers=headers,
    )
    assert good.status_code == 201
    # Same user, another token: its request runs, meets the key and replays the answer.
    other = api_as("officer_write_only")
    replay = other.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "risk", "body": SAMPLES["risk"]},
        headers=headers,
    )
    assert replay.headers.get("Idempotent-Replayed") == "true"


def test_a_stored_answer_is_replayed_only_to_the_token_that_made_the_request(
    app, users, api_as, officer_api, system
):
    path = "/api/v1/systems/sys-1/change-logs"
    log = {**SAMPLES["change_log"], "summary": "Deployed by the pipeline"}
    headers = {"Idempotency-Key": "deploy-7"}
    first = officer_api.post(path, json=log, headers=headers)
    assert first.status_code == 201
    read_only = api_as("officer_read_only")  # same user, read scope only
    problem(read_only.post(path, json=log), 403)
    refused = read_only.post(path, json=log, headers=headers)
    problem(refused, 403)
    assert "Idempotent-Replayed" not in refused.headers
    different = {**log, "summary": "Deployed again"}
    problem(read_only.post(path, json=different, headers=headers), 422, "idempotency_key_reused")
    # A token that may make the request runs it; its commit meets the key: the first
    # answer, nothing created twice.
    write_only = api_as("officer_write_only")
    again = write_only.post(path, json=log, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert len(officer_api.get(path).get_json()["items"]) == 1
    # A key stored before keys named their token is replayed at once to none.
    body = json.dumps(different).encode()
    fingerprint = hashlib.sha256(f"POST {path}\n".encode() + body).hexdigest()
    with app.extensions["registry.db"].session() as s:
        s.add(
            IdempotencyKey(
                user_id=users["compliance_officer"].id,
                key="before-tokens",
                method="POST",
                path=path,
                request_hash=fingerprint,
                status=201,
                response_body='{"stored": "before"}',
                response_headers='{"Content-Type": "application/json"}',
                created_at=utcnow(),
            )
        )
    legacy = {"Idempotency-Key": "before-tokens", "Content-Type": "application/json"}
    problem(read_only.post(path, data=body, headers=legacy), 403)
    replayed = officer_api.post(path, data=body, headers=legacy)
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json() == {"stored": "before"}
    assert len(officer_api.get(path).get_json()["items"]) == 1


def _keys_stored_at(app: Any, users: Any, *ages: dt.timedelta) -> None:
    with app.extensions["registry.db"].session() as s:
        for n, age in enumerate(ages):
            for user in (users["compliance_officer"], users["technical_owner"]):
                s.add(
                    IdempotencyKey(
                        user_id=user.id,
                        key=f"old-{age.total_seconds():.0f}-{n}",
                        method="POST",
                        path="/api/v1/systems/sys-1/change-logs",
                        request_hash="0" * 64,
                        status=201,
                        response_body="{}",
                        response_headers="{}",
                        created_at=utcnow() - age,
                    )
                )


def _stored_keys(app: Any) -> list[str]:
    with app.extensions["registry.db"].session() as s:
        return sorted(s.scalars(sa.select(IdempotencyKey.key)))


def test_expired_idempotency_keys_are_deleted_by_a_request_that_stores_one(
    app, users, officer_api, system
):
    day = dt.timedelta(hours=24)
    _keys_stored_at(app, users, day + dt.timedelta(minutes=1), 2 * day, day - dt.timedelta(hours=1))
    assert len(_stored_keys(app)) == 6
    # A request without a key, or one that fails, deletes nothing.
    plain = officer_api.post("/api/v1/systems/sys-1/change-logs", json=SAMPLES["change_log"])
    assert plain.status_code == 201
    bad = {"Idempotency-Key": "bad"}
    problem(officer_api.post("/api/v1/systems/sys-1/change-logs", json={}, headers=bad), 422)
    assert len(_stored_keys(app)) == 6
    made = officer_api.post(
        "/api/v1/systems/sys-1/change-logs",
        json=SAMPLES["change_log"],
        headers={"Idempotency-Key": "new"},
    )
    assert made.status_code == 201
    # Every user's expired keys went; the one still valid and the new one stay.
    assert _stored_keys(app) == ["new", "old-82800-2", "old-82800-2"]
    # Once per interval: keys that expire meanwhile wait for the next one.
    _keys_stored_at(app, users, 2 * day)
    assert (
        officer_api.post(
            "/api/v1/systems/sys-1/change-logs",
            json=SAMPLES["change_log"],
            headers={"Idempotency-Key": "newer"},
        ).status_code
        == 201
    )
    assert _stored_keys(app) == [
        "new",
        "newer",
        "old-172800-0",
        "old-172800-0",
        "old-82800-2",
        "old-82800-2",
    ]
    app.extensions[writes.PRUNED_AT] -= writes.PRUNE_EVERY
    assert (
        officer_api.post(
            "/api/v1/systems/sys-1/change-logs",
            json=SAMPLES["change_log"],
            headers={"Idempotency-Key": "newest"},
        ).status_code
        == 201
    )
    assert _stored_keys(app) == ["new", "newer", "newest", "old-82800-2", "old-82800-2"]


def test_racing_retries_with_one_key_create_one_entry(app, officer_api, system, engine_name):
    log = {**SAMPLES["change_log"], "summary": "Deployed in a race"}
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        client = type(officer_api)(app.test_client(), officer_api.token)
        barrier.wait()
        results.append(
            client.post(
                "/api/v1/systems/sys-1/change-logs", json=log, headers={"Idempotency-Key": "race"}
            )
        )

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [201] * 4, [r.get_data() for r in results]
    assert len({r.get_data() for r in results}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == 3
    items = officer_api.get("/api/v1/systems/sys-1/change-logs").get_json()["items"]
    assert len(items) == 1


# ----------------------------------------------------------------------------- errors


def test_every_error_under_api_is_a_problem(app, officer_api, system, monkeypatch):
    problem(officer_api.get("/api/v1/nowhere"), 404, "not_found")
    problem(officer_api.get("/api/nowhere"), 404)
    problem(officer_api.get("/api/v1/systems/nope"), 404)
    problem(officer_api.get("/api/v1/entries/99999999999999"), 404)
    gone = officer_api.open("PATCH", "/api/v1/systems")
    assert "GET" in problem(gone, 405, "method_not_allowed")["detail"]
    assert "POST" in gone.headers["Allow"]
    problem(
        officer_api.post("/api/v1/systems", data="<x/>", headers={"Content-Type": "text/xml"}),
        415,
        "unsupported_media_type",
    )
    problem(
        officer_api.post("/api/v1/systems", data="{", headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
    )
    huge = {"profile": {**SAMPLES["profile"], "purpose": "x" * (app.config["MAX_CONTENT_LENGTH"])}}
    problem(officer_api.post("/api/v1/systems", json=huge), 413, "body_too_large")
    body = problem(officer_api.post("/api/v1/systems", json={"profile": {"name": ""}}), 422)
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/profile/name", "/profile/reference", "/profile/stage"} <= pointers
    dup = problem(officer_api.post("/api/v1/systems", json={"profile": SAMPLES["profile"]}), 409)
    assert dup["errors"] == [{"pointer": "/profile/reference", "detail": "Already in use."}]
    long_reason = {"kind": "risk", "body": SAMPLES["risk"], "reason": "r" * 2001}
    assert problem(add_raw(officer_api, long_reason), 422)["errors"][0]["pointer"] == "/reason"

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reads, "current_rows", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    body = problem(officer_api.get("/api/v1/systems/sys-1"), 500, "internal_error")
    assert "database" not in body["detail"]
    # The web keeps its own error pages.
    page = app.test_client().get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"


def add_raw(client: Any, payload: dict[str, Any]) -> Any:
    return client.post("/api/v1/systems/sys-1/entries", json=payload)


def test_bad_input_loses_nothing_already_stored(officer_api, system):
    entry = add(officer_api, "owner").get_json()
    path = entry["links"]["self"]
    for body in ({"role": "boss"}, {"person": {"email": "nope"}}, [], "x", None):
        response = officer_api.put(path, json={"body": body}, headers={"If-Match": entry["etag"]})
        problem(response, 422)
    now = officer_api.get(path).get_json()
    assert now["version"] == 1 and now["body"] == SAMPLES["owner"]


# ----------------------------------------------------------------------------- me, tokens, ledger


def test_me_and_my_tokens(api_as, users):
    me = api_as("technical_owner")
    body = me.get("/api/v1/me").get_json()
    assert body["email"] == users["technical_owner"].email and body["roles"] == ["technical_owner"]
    made = me.post("/api/v1/me/tokens", json={"name": "ci", "scopes": ["read"], "days": 7})
    assert made.status_code == 201
    secret = made.get_json()["secret"]
    assert secret.startswith("reg_") and made.get_json()["scopes"] == ["read"]
    listed = me.get("/api/v1/me/tokens").get_json()["items"]
    assert [t["name"] for t in listed][:1] == ["ci"] and all("secret" not in t for t in listed)
    from tests.api.conftest import ApiClient

    ci = ApiClient(me.client, secret)
    assert ci.get("/api/v1/me").get_json()["token"]["scopes"] == ["read"]
    problem(ci.post("/api/v1/me/tokens", json={"scopes": ["write"]}), 403)
    problem(ci.delete(f"/api/v1/me/tokens/{made.get_json()['id']}"), 403)
    problem(me.delete(f"/api/v1/me/tokens/{listed[-1]['id'] + 1000}"), 404)
    officer_tokens = api_as("compliance_officer").get("/api/v1/me/tokens").get_json()["items"]
    problem(me.delete(f"/api/v1/me/tokens/{officer_tokens[0]['id']}"), 404)  # not theirs
    revoked = me.delete(f"/api/v1/me/tokens/{made.get_json()['id']}")
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    problem(ci.get("/api/v1/me"), 401)
    problem(me.post("/api/v1/me/tokens", json={"days": 0, "scopes": ["admin"]}), 422)
    for days in (1.5, 2.0, "2", True):  # a whole JSON number of days, as other integers
        body = problem(me.post("/api/v1/me/tokens", json={"name": "x", "days": days}), 422)
        assert body["errors"] == [{"pointer": "/days", "detail": "Not a valid integer."}], days


def test_my_tokens_give_the_day_of_last_use(app, api_as):
    """The day the token list on the web shows, as a date (UTC), null when never used."""
    me = api_as("technical_owner")
    made = me.post("/api/v1/me/tokens", json={"name": "ci", "scopes": ["read"], "days": 7})
    made_id = made.get_json()["id"]
    assert made.get_json()["last_used_on"] is None
    listed = {t["id"]: t for t in me.get("/api/v1/me/tokens").get_json()["items"]}
    assert listed[made_id]["last_used_on"] is None
    own = me.get("/api/v1/me").get_json()["token"]
    assert listed[own["id"]]["last_used_on"] == utcnow().date().isoformat()  # this request
    # An evening west of UTC is already the next day in UTC.
    used = dt.datetime(2026, 3, 9, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    with app.app_context():
        session = db_session()
        session.execute(sa.update(ApiToken).where(ApiToken.id == made_id).values(last_used_at=used))
        session.commit()
    listed = {t["id"]: t for t in me.get("/api/v1/me/tokens").get_json()["items"]}
    assert listed[made_id]["last_used_on"] == "2026-03-10"


def test_ledger_over_the_api(api_as, officer_api, system):
    for i in range(12):
        add(officer_api, "change_log", {**SAMPLES["change_log"], "summary": f"c{i}"})
    keys = api_as(None).get("/api/v1/ledger/keys")
    assert keys.status_code == 200 and keys.get_json()["current"].startswith(
        "registry.test/ledger+"
    )
    auditor = api_as("auditor")
    checkpoints = auditor.get("/api/v1/ledger/checkpoints").get_json()["items"]
    assert checkpoints and checkpoints[-1]["note"].startswith("registry.test/ledger\n")
    latest = auditor.get("/api/v1/ledger/checkpoints/latest").get_json()
    assert latest.pop("cosignatures") == []  # no witness configured
    assert latest == checkpoints[-1]
    event = auditor.get("/api/v1/ledger/events/3").get_json()
    import hashlib

    assert hashlib.sha256(event["canonical"].encode()).hexdigest() == event["event_hash"]
    proof = auditor.get("/api/v1/ledger/events/3/proof").get_json()
    from registry.ledger.merkle import verify_inclusion

    assert verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["proof"]],
        bytes.fromhex(proof["root_hash"]),
    )
    problem(auditor.get("/api/v1/ledger/events/99999/proof"), 404)
    head = auditor.get("/api/v1/ledger/verification").get_json()
    assert head["ok"] is True and head["events"] >= 12
    problem(auditor.get("/api/v1/ledger/events/0"), 404)
    problem(api_as("admin").get("/api/v1/ledger/events/1"), 403)


def test_nul_characters_are_refused_not_stored(officer_api, system):
    """PostgreSQL keeps no NUL in text: a NUL anywhere is bad input on both engines."""
    for query in ({"q": "a\x00b"}, {"owner": "\x00"}, {"after": "x\x00"}):
        problem(officer_api.get("/api/v1/systems", query_string=query), 422)
    problem(officer_api.get("/api/v1/systems/sys\x001"), 404)
    problem(
        officer_api.post(
            "/api/v1/systems/sys-1/entries",
            json={"kind": "risk", "body": SAMPLES["risk"], "reason": "a\x00"},
        ),
        422,
    )
    problem(officer_api.post("/api/v1/me/tokens", json={"name": "\x00"}), 422)


@pytest.mark.parametrize("bad", ["\x00", "\ud800"])
def test_entry_text_no_database_can_store_is_refused_and_lists_keep_working(
    api_as, officer_api, system, bad
):
    """A NUL (or a lone surrogate) in an entry's text is refused with a pointer to it;
    nothing is stored, so the filters that read entries in SQL keep answering everyone."""
    owner = {**SAMPLES["owner"], "person": {"name": f"Ann{bad}Smith", "email": "ann@example.org"}}
    body = problem(add(officer_api, "owner", owner), 422)
    assert {e["pointer"] for e in body["errors"]} == {"/body/person/name"}
    risk = {**SAMPLES["risk"], "likelihood": f"high{bad}"}
    body = problem(add(officer_api, "risk", risk), 422)
    assert {e["pointer"] for e in body["errors"]} == {"/body/likelihood"}
    profile = officer_api.get("/api/v1/systems/sys-1").get_json()["profile"]
    changed = {**profile["body"], "organisation": f"Org{bad}"}
    response = officer_api.put(
        f"/api/v1/entries/{profile['id']}",
        json={"body": changed},
        headers={"If-Match": profile["etag"]},
    )
    assert problem(response, 422)["errors"][0]["pointer"] == "/body/organisation"
    for role in ("admin", "compliance_officer", "technical_owner", "auditor"):
        client = api_as(role)
        for query in ({"owner": "Ann"}, {"stage": "pilot"}, {"risk_tier": "high"}, {"q": "Org"}):
            response = client.get("/api/v1/systems", query_string=query)
            assert response.status_code in (200, 403), (role, query, response.status_code)
    # A query string carries no lone surrogate (its bytes are UTF-8): NUL it is.
    for query in (
        {"owner": "Ann\x00"},
        {"stage": "pilot\x00"},
        {"risk_tier": "high\x00"},
        {"q": "\x00"},
        {"after": "\x00"},
    ):
        problem(officer_api.get("/api/v1/systems", query_string=query), 422)


def test_every_operation_documents_its_problem_responses(app):
    """The problem responses are documented on each operation (without wrapping the
    view once per status at run time)."""
    document = app.test_client().get("/api/openapi.json").get_json()
    update = document["paths"]["/api/v1/entries/{entry_id}"]["put"]["responses"]
    for status in ("400", "401", "403", "404", "409", "412", "413", "415", "422", "428"):
        assert status in update, status
    listing = document["paths"]["/api/v1/systems"]["get"]["responses"]
    for status in ("401", "403", "422"):
        assert status in listing, status
    keys = document["paths"]["/api/v1/ledger/keys"]["get"]["responses"]
    assert "401" not in keys  # public


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ('{"kind": "risk", "body": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"kind": "risk", "body": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001, "too deeply"),
        ('{"kind": "funding", "body": {"budget": ' + "9" * 4_301 + "}}", "too many digits"),
        ('{"kind": "risk", "body": {}, "reason": ' + "1" * 5_000 + "}", "too many digits"),
    ],
)
def test_json_python_cannot_read_is_a_400(officer_api, system, payload, detail):
    """Bodies nested deeper than the parser goes, or with an integer longer than Python
    reads from text, are malformed JSON (400), on every endpoint that reads a body."""
    before = officer_api.get("/api/v1/systems/sys-1").get_json()
    response = officer_api.post(
        "/api/v1/systems/sys-1/entries",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert detail in problem(response, 400, "malformed_json")["errors"][0]["detail"]
    profile = before["profile"]
    response = officer_api.open(
        "PATCH",
        f"/api/v1/entries/{profile['id']}",
        data=payload,
        headers={"Content-Type": "application/merge-patch+json", "If-Match": profile["etag"]},
    )
    assert detail in problem(response, 400, "malformed_json")["errors"][0]["detail"]
    assert officer_api.get("/api/v1/systems/sys-1").get_json() == before


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_instants_beyond_the_calendar_in_utc_are_refused(api_as, officer_api, system, instant):
    """An offset that moves an instant out of years 1 to 9999 in UTC is bad input (422,
    naming the parameter or field) wherever an instant is read."""
    auditor = api_as("auditor")
    for path, name in (
        ("/api/v1/systems", "as_of"),
        ("/api/v1/systems", "effective_at"),
        ("/api/v1/systems/sys-1", "as_of"),
        ("/api/v1/systems/sys-1", "effective_at"),
        ("/api/v1/systems/sys-1/readiness", "at"),
        ("/api/v1/ledger/checkpoints", "as_of"),
    ):
        body = problem(auditor.get(path, query_string={name: instant}), 422)
        assert body["errors"] == [{"parameter": name, "detail": body["errors"][0]["detail"]}], (
            path,
            body,
        )
        assert "out of range" in body["errors"][0]["detail"]
    before = officer_api.get("/api/v1/systems/sys-1").get_json()
    body = problem(
        officer_api.post(
            "/api/v1/systems/sys-1/entries",
            json={"kind": "risk", "body": SAMPLES["risk"], "effective_from": instant},
        ),
        422,
    )
    assert [e["pointer"] for e in body["errors"]] == ["/effective_from"]
    grant = {**SAMPLES["access_grant"], "expires_at": instant}
    body = problem(add(officer_api, "access_grant", grant), 422)
    assert "/body/expires_at" in [e["pointer"] for e in body["errors"]]
    body = problem(auditor.post("/api/v1/exports", json={"system": "sys-1", "as_of": instant}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/as_of"]
    assert officer_api.get("/api/v1/systems/sys-1").get_json() == before


def test_a_bodys_truth_values_are_json_true_or_false(officer_api, system):
    """An entry's boolean fields take JSON true and false only: not 1, 0 or text."""
    for value in (1, 0, "yes", "true", 1.0):
        body = {**SAMPLES["access_grant"], "can_override": value}
        refused = problem(add(officer_api, "access_grant", body), 422)
        assert [e["pointer"] for e in refused["errors"]] == ["/body/can_override"], value
    for value in (True, False):
        body = {**SAMPLES["access_grant"], "can_override": value}
        made = add(officer_api, "access_grant", body)
        assert made.status_code == 201 and made.get_json()["body"]["can_override"] is value


def test_unknown_query_parameters_are_refused_on_every_operation(officer_api, system):
    """An operation that takes no query parameter refuses any (422 naming it), as the
    others refuse those they do not know: `as_of` too where the answer cannot be as of
    another instant (the caller, their tokens and preferences, jobs, webhooks)."""
    sha = "0" * 64
    paths = (
        "/api/v1/me",
        "/api/v1/me/tokens",
        "/api/v1/me/notifications",
        "/api/v1/webhooks",
        "/api/v1/frameworks",
        "/api/v1/jobs/1",
        f"/api/v1/documents/{sha}",
        "/api/v1/ledger/verification",
        "/api/v1/ledger/keys",
    )
    for path in paths:
        assert officer_api.get(path).status_code in (200, 404), path
        for name in ("bogus", "as_of"):
            body = problem(officer_api.get(path, query_string={name: "1"}), 422)
            assert [e["parameter"] for e in body["errors"]] == [name], (path, body)
    before = officer_api.get("/api/v1/systems/sys-1").get_json()
    body = problem(
        officer_api.post(
            "/api/v1/systems/sys-1/entries?bogus=1", json={"kind": "risk", "body": SAMPLES["risk"]}
        ),
        422,
    )
    assert [e["parameter"] for e in body["errors"]] == ["bogus"]
    body = problem(officer_api.delete("/api/v1/webhooks/1?bogus=1"), 422)
    assert [e["parameter"] for e in body["errors"]] == ["bogus"]
    assert officer_api.get("/api/v1/systems/sys-1").get_json() == before


@pytest.mark.parametrize("number", ["2147483648", "9223372036854775808", "9" * 40, "0"])
def test_a_token_id_beyond_the_integer_range_is_not_found(api_as, number):
    problem(api_as("admin").delete(f"/api/v1/me/tokens/{number}"), 404)
