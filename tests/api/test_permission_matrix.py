"""Every API endpoint × every principal, with the status each must get.

One table row per (method, URL rule); the test fails when an endpoint exists without a
row, so a new endpoint cannot ship without saying who may call it. Principals: nobody,
each role with a read+write token, a technical owner on a system they own, and a
compliance officer's read-only and write-only tokens.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.accounts.service import create_token
from registry.db import utcnow
from registry.documents.service import Upload, receive
from registry.extensions import document_store
from registry.jobs.service import ask_export
from registry.records import reads, writes
from tests.api.conftest import ApiClient
from tests.records.samples import SAMPLES

PRINCIPALS = (
    "anonymous",
    "admin",
    "compliance_officer",
    "technical_owner",  # on a system they do not own
    "technical_owner_own",  # on a system they own
    "auditor",
    "officer_read_only",
    "officer_write_only",
)


def statuses(*codes: int) -> dict[str, int]:
    return dict(zip(PRINCIPALS, codes, strict=True))


#                anon admin officer tech  own  auditor read write
READ = statuses(401, 403, 200, 200, 200, 200, 200, 403)
CREATE = statuses(401, 403, 201, 403, 201, 403, 403, 201)
CHANGE = statuses(401, 403, 200, 403, 200, 403, 403, 200)
CREATE_SYSTEM = statuses(401, 403, 201, 403, 403, 403, 403, 201)
ANY_TOKEN = statuses(401, 200, 200, 200, 200, 200, 200, 200)
OWN_TOKENS_NEW = statuses(401, 201, 201, 201, 201, 201, 403, 201)
OWN_TOKENS_REVOKE = statuses(401, 200, 200, 200, 200, 200, 403, 200)
PUBLIC = statuses(200, 200, 200, 200, 200, 200, 200, 200)
EXPORT = statuses(401, 403, 202, 403, 403, 202, 202, 403)
# A job: who asked for it (the auditor here), auditors and compliance officers.
JOB = statuses(401, 403, 200, 403, 403, 200, 200, 403)
# The world's systems are not ready: a compliance officer gets as far as the 409.
APPROVE = statuses(401, 403, 409, 403, 403, 403, 403, 409)
# Notifications: one's own preferences (changing them needs the write scope), following
# a system (a reader with the write scope), webhooks (administrators and officers).
OWN_PREFERENCES = statuses(401, 200, 200, 200, 200, 200, 403, 200)
SUBSCRIBE = statuses(401, 403, 200, 200, 200, 200, 403, 403)
READ_WEBHOOKS = statuses(401, 200, 200, 403, 403, 403, 200, 403)
NEW_WEBHOOK = statuses(401, 201, 201, 403, 403, 403, 403, 201)
MANAGE_WEBHOOKS = statuses(401, 200, 200, 403, 403, 403, 403, 200)
# Retiring, reinstating and classifying a system: a compliance officer's decisions.
GOVERN = statuses(401, 403, 200, 403, 403, 403, 403, 200)


@dataclass
class World:
    """What the requests refer to: a system the technical owner does not own (``other``)
    and one they own (``own``), each with a change log and an incident."""

    session: Any
    officer: Actor
    users: dict[str, Any]
    pack: str = ""  # the file name of an exported evidence pack
    document: str = ""  # the SHA-256 of a stored document
    job: int = 0  # an export job the auditor asked for

    def system_for(self, principal: str) -> str:
        return "own-1" if principal == "technical_owner_own" else "other-1"

    def fresh_entry(self, principal: str) -> tuple[int, str]:
        system = reads.get_system(self.session, self.system_for(principal))
        version = writes.create_entry(self.session, self.officer, system, "risk", SAMPLES["risk"])
        self.session.commit()
        return version.entry_id, f'"{version.entry_id}.1"'

    def fresh_system(self, principal: str, *, retired: bool = False) -> tuple[str, int, str]:
        """A new system (owned by the technical owner for ``technical_owner_own``), its
        profile retired when ``retired``: its reference, profile entry and ETag."""
        reference = f"fresh-{next(_new_system_refs)}"
        system, version = writes.create_system(
            self.session, self.officer, {**SAMPLES["profile"], "reference": reference}
        )
        if principal == "technical_owner_own":
            owner = {
                "role": "technical",
                "person": {"name": "Tech", "email": self.users["technical_owner"].email},
                "start": "2020-01-01",
            }
            writes.create_entry(self.session, self.officer, system, "owner", owner)
        if retired:
            version = writes.retire_entry(
                self.session, self.officer, version.entry_id, base_version=1, reason="gone"
            )
        self.session.commit()
        return reference, version.entry_id, f'"{version.entry_id}.{version.number}"'

    def any_entry(self, principal: str) -> int:
        system = reads.get_system(self.session, self.system_for(principal))
        return reads.profile_entry(self.session, system).id

    def fresh_token_id(self, principal: str) -> int:
        # Anonymous callers try to revoke the officer's token.
        user = self.users["compliance_officer" if principal == "anonymous" else _role(principal)]
        token, _ = create_token(self.session, Actor.for_user(user), user, name="to revoke")
        self.session.commit()
        return token.id


def _role(principal: str) -> str:
    if principal.startswith("officer_"):
        return "compliance_officer"
    return principal.removesuffix("_own")


Request = Callable[[World, str], tuple[str, dict[str, Any]]]


def _consistency(world: World, who: str) -> tuple[str, dict[str, Any]]:
    """From the first signed checkpoint to the latest."""
    from registry.ledger.models import Checkpoint

    sizes = world.session.scalars(
        sa.select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)
    ).all()
    return f"/api/v1/ledger/consistency?from={sizes[0]}&to={sizes[-1]}", {}


def get(path: str) -> Request:
    def build(world: World, who: str) -> tuple[str, dict[str, Any]]:
        return (
            path.format(
                ref=world.system_for(who),
                entry=world.any_entry(who),
                pack=world.pack,
                document=world.document,
                job=world.job,
            ),
            {},
        )

    return build


def post(path: str, body: Any) -> Request:
    def build(world: World, who: str) -> tuple[str, dict[str, Any]]:
        payload = body(who) if callable(body) else body
        return path.format(ref=world.system_for(who)), {"json": payload}

    return build


def change(path: str, body: dict[str, Any]) -> Request:
    def build(world: World, who: str) -> tuple[str, dict[str, Any]]:
        entry, tag = world.fresh_entry(who)
        return path.format(entry=entry), {"json": body, "headers": {"If-Match": tag}}

    return build


def merge_patch(path: str, patch: dict[str, Any]) -> Request:
    def build(world: World, who: str) -> tuple[str, dict[str, Any]]:
        entry, tag = world.fresh_entry(who)
        headers = {"If-Match": tag, "Content-Type": "application/merge-patch+json"}
        return path.format(entry=entry), {"data": json.dumps(patch), "headers": headers}

    return build


def on_profile(path: str, body: Any, *, retired: bool = False) -> Request:
    def build(world: World, who: str) -> tuple[str, dict[str, Any]]:
        reference, entry, tag = world.fresh_system(who, retired=retired)
        payload = body(reference) if callable(body) else body
        return (
            path.format(ref=reference, entry=entry),
            {"json": payload, "headers": {"If-Match": tag}},
        )

    return build


_uploads = itertools.count()


def upload(world: World, who: str) -> tuple[str, dict[str, Any]]:
    """A new document (new bytes each time) for the principal's system."""
    data = {"file": (io.BytesIO(f"evidence {next(_uploads)}".encode()), "report.txt")}
    path = f"/api/v1/systems/{world.system_for(who)}/documents"
    return path, {"data": data, "content_type": "multipart/form-data"}


# A public address (an IP literal: no DNS needed); nothing is sent to it in the test.
PUBLIC_HOOK = {"url": "https://93.184.215.14/hook", "events": ["due_item"]}


def _webhook(world: World) -> Any:
    from registry.notifications import service

    hook = service.create_webhook(
        world.session, world.officer, allow_private=False, system=None, **PUBLIC_HOOK
    )
    world.session.commit()
    return hook


def webhook_path(suffix: str = "") -> Request:
    def build(world: World, who: str) -> tuple[str, dict[str, Any]]:
        return f"/api/v1/webhooks/{_webhook(world).id}{suffix}", {}

    return build


def replay(world: World, who: str) -> tuple[str, dict[str, Any]]:
    import datetime as dt

    from registry.notifications.models import OutboxMessage

    hook = _webhook(world)
    now = dt.datetime.now(dt.UTC)
    message = OutboxMessage(
        key=f"matrix:{hook.id}",
        channel="webhook",
        webhook_id=hook.id,
        event_type="due_item.review_due",
        payload="{}",
        state="failed",
        attempts=8,
        next_attempt_at=now,
        created_at=now,
    )
    world.session.add(message)
    world.session.commit()
    return f"/api/v1/webhooks/deliveries/{message.id}/replay", {}


def put(path: str, body: Any) -> Request:
    """A request on the principal's system that reads nothing first (a changing request
    must not wait for the world's session to let go of SQLite's write lock)."""

    def build(world: World, who: str) -> tuple[str, dict[str, Any]]:
        return path.format(ref=world.system_for(who)), {"json": body}

    return build


def revoke(world: World, who: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/me/tokens/{world.fresh_token_id(who)}", {}


_new_system_refs = itertools.count()


def new_system(_who: str) -> dict[str, Any]:
    return {"profile": {**SAMPLES["profile"], "reference": f"new-{next(_new_system_refs)}"}}


MATRIX: dict[tuple[str, str], tuple[Request, dict[str, int]]] = {
    ("GET", "/api/v1/systems"): (get("/api/v1/systems"), READ),
    ("POST", "/api/v1/systems"): (post("/api/v1/systems", new_system), CREATE_SYSTEM),
    ("GET", "/api/v1/systems/<reference>"): (get("/api/v1/systems/{ref}"), READ),
    ("GET", "/api/v1/systems/<reference>/entries"): (get("/api/v1/systems/{ref}/entries"), READ),
    ("POST", "/api/v1/systems/<reference>/reinstate"): (
        on_profile("/api/v1/systems/{ref}/reinstate", {"reason": "back"}, retired=True),
        GOVERN,
    ),
    ("POST", "/api/v1/systems/<reference>/entries"): (
        post("/api/v1/systems/{ref}/entries", {"kind": "risk", "body": SAMPLES["risk"]}),
        CREATE,
    ),
    ("GET", "/api/v1/systems/<reference>/change-logs"): (
        get("/api/v1/systems/{ref}/change-logs"),
        READ,
    ),
    ("POST", "/api/v1/systems/<reference>/change-logs"): (
        post("/api/v1/systems/{ref}/change-logs", SAMPLES["change_log"]),
        CREATE,
    ),
    ("GET", "/api/v1/systems/<reference>/incidents"): (
        get("/api/v1/systems/{ref}/incidents"),
        READ,
    ),
    ("POST", "/api/v1/systems/<reference>/incidents"): (
        post("/api/v1/systems/{ref}/incidents", SAMPLES["incident"]),
        CREATE,
    ),
    ("GET", "/api/v1/systems/<reference>/readiness"): (
        get("/api/v1/systems/{ref}/readiness"),
        READ,
    ),
    ("POST", "/api/v1/systems/<reference>/approvals"): (
        post("/api/v1/systems/{ref}/approvals", {}),
        APPROVE,
    ),
    ("GET", "/api/v1/entries/<int:entry_id>"): (get("/api/v1/entries/{entry}"), READ),
    ("PUT", "/api/v1/entries/<int:entry_id>"): (
        change("/api/v1/entries/{entry}", {"body": {**SAMPLES["risk"], "title": "Changed"}}),
        CHANGE,
    ),
    ("PATCH", "/api/v1/entries/<int:entry_id>"): (
        merge_patch("/api/v1/entries/{entry}", {"title": "Patched"}),
        CHANGE,
    ),
    ("POST", "/api/v1/entries/<int:entry_id>/retire"): (
        change("/api/v1/entries/{entry}/retire", {"reason": "gone"}),
        CHANGE,
    ),
    ("GET", "/api/v1/entries/<int:entry_id>/versions"): (
        get("/api/v1/entries/{entry}/versions"),
        READ,
    ),
    ("GET", "/api/v1/entries/<int:entry_id>/versions/<int:number>"): (
        get("/api/v1/entries/{entry}/versions/1"),
        READ,
    ),
    ("GET", "/api/v1/entries/<int:entry_id>/diff"): (
        get("/api/v1/entries/{entry}/diff?from=1&to=1"),
        READ,
    ),
    ("POST", "/api/v1/systems/<reference>/documents"): (upload, CREATE),
    ("GET", "/api/v1/systems/<reference>/documents"): (
        get("/api/v1/systems/{ref}/documents"),
        READ,
    ),
    ("GET", "/api/v1/documents/<sha256:sha256>"): (get("/api/v1/documents/{document}"), READ),
    ("PUT", "/api/v1/systems/<reference>/documents/<sha256:sha256>/withheld"): (
        lambda world, who: (
            f"/api/v1/systems/other-1/documents/{world.document}/withheld",
            {"json": {"withheld": True}},
        ),
        GOVERN,
    ),
    ("GET", "/api/v1/ledger/keys"): (get("/api/v1/ledger/keys"), PUBLIC),
    ("GET", "/api/v1/ledger/checkpoints"): (get("/api/v1/ledger/checkpoints"), READ),
    ("GET", "/api/v1/ledger/checkpoints/latest"): (get("/api/v1/ledger/checkpoints/latest"), READ),
    ("GET", "/api/v1/ledger/events/<int:seq>"): (get("/api/v1/ledger/events/1"), READ),
    ("GET", "/api/v1/ledger/events/<int:seq>/proof"): (get("/api/v1/ledger/events/1/proof"), READ),
    ("GET", "/api/v1/ledger/verification"): (get("/api/v1/ledger/verification"), READ),
    ("GET", "/api/v1/ledger/consistency"): (_consistency, READ),
    ("GET", "/api/v1/me"): (get("/api/v1/me"), ANY_TOKEN),
    ("GET", "/api/v1/me/tokens"): (get("/api/v1/me/tokens"), ANY_TOKEN),
    ("POST", "/api/v1/me/tokens"): (post("/api/v1/me/tokens", {"name": "new"}), OWN_TOKENS_NEW),
    ("DELETE", "/api/v1/me/tokens/<id:token_id>"): (revoke, OWN_TOKENS_REVOKE),
    ("GET", "/api/v1/me/notifications"): (get("/api/v1/me/notifications"), ANY_TOKEN),
    ("PUT", "/api/v1/me/notifications"): (
        put("/api/v1/me/notifications", {"preferences": {"review_due": "digest"}}),
        OWN_PREFERENCES,
    ),
    ("GET", "/api/v1/me/tasks"): (get("/api/v1/me/tasks"), READ),
    ("PUT", "/api/v1/systems/<reference>/subscription"): (
        put("/api/v1/systems/{ref}/subscription", None),
        SUBSCRIBE,
    ),
    ("DELETE", "/api/v1/systems/<reference>/subscription"): (
        put("/api/v1/systems/{ref}/subscription", None),
        SUBSCRIBE,
    ),
    ("GET", "/api/v1/webhooks"): (get("/api/v1/webhooks"), READ_WEBHOOKS),
    ("POST", "/api/v1/webhooks"): (post("/api/v1/webhooks", PUBLIC_HOOK), NEW_WEBHOOK),
    ("DELETE", "/api/v1/webhooks/<id:webhook_id>"): (webhook_path(), MANAGE_WEBHOOKS),
    ("GET", "/api/v1/webhooks/<id:webhook_id>/deliveries"): (
        webhook_path("/deliveries"),
        READ_WEBHOOKS,
    ),
    ("POST", "/api/v1/webhooks/deliveries/<id:delivery_id>/replay"): (replay, MANAGE_WEBHOOKS),
    ("POST", "/api/v1/exports"): (post("/api/v1/exports", {"system": "other-1"}), EXPORT),
    ("GET", "/api/v1/exports"): (get("/api/v1/exports"), READ),
    ("GET", "/api/v1/exports/<name>"): (get("/api/v1/exports/{pack}"), READ),
    ("GET", "/api/v1/exports/verify_pack.py"): (get("/api/v1/exports/verify_pack.py"), PUBLIC),
    ("GET", "/api/v1/jobs/<id:job_id>"): (get("/api/v1/jobs/{job}"), JOB),
    ("GET", "/api/v1/frameworks"): (get("/api/v1/frameworks"), READ),
    ("GET", "/api/v1/frameworks/<framework>"): (get("/api/v1/frameworks/iso-42001"), READ),
    ("GET", "/api/v1/frameworks/<framework>/items/<item>"): (
        get("/api/v1/frameworks/nist-ai-rmf/items/GOVERN-2.1"),
        READ,
    ),
    ("GET", "/api/v1/systems/<reference>/coverage"): (
        get("/api/v1/systems/{ref}/coverage?framework=iso-42001"),
        READ,
    ),
    ("GET", "/api/v1/systems/<reference>/statement-of-applicability"): (
        get("/api/v1/systems/{ref}/statement-of-applicability"),
        READ,
    ),
    ("GET", "/api/v1/systems/<reference>/oscal/assessment-results"): (
        get("/api/v1/systems/{ref}/oscal/assessment-results"),
        READ,
    ),
    ("GET", "/api/v1/frameworks/<framework>/oscal"): (
        get("/api/v1/frameworks/eu-ai-act/oscal"),
        READ,
    ),
    ("GET", "/api/v1/statement-of-applicability"): (
        get("/api/v1/statement-of-applicability"),
        READ,
    ),
    ("GET", "/api/openapi.json"): (get("/api/openapi.json"), PUBLIC),
    ("GET", "/api/docs"): (get("/api/docs"), PUBLIC),
    ("GET", "/api/docs/assets/<name>"): (get("/api/docs/assets/swagger-ui.css"), PUBLIC),
    ("GET", "/api/docs/own/<path:filename>"): (get("/api/docs/own/docs.js"), PUBLIC),
}


# More than one row for some endpoints: what a request changes decides who may make it.
MORE: dict[tuple[str, str], tuple[Request, dict[str, int]]] = {
    ("POST", "retire a system's profile"): (
        on_profile("/api/v1/entries/{entry}/retire", {"reason": "gone"}),
        GOVERN,
    ),
    ("PUT", "change a system's risk tier"): (
        on_profile(
            "/api/v1/entries/{entry}",
            lambda ref: {
                "body": {
                    **SAMPLES["profile"],
                    "reference": ref,
                    "risk_tier": "minimal",
                    "art_6_3_rationale": "Narrow procedural task",
                }
            },
        ),
        GOVERN,
    ),
    ("PUT", "change a system's profile but not its classification"): (
        on_profile(
            "/api/v1/entries/{entry}",
            lambda ref: {"body": {**SAMPLES["profile"], "reference": ref, "name": "Renamed"}},
        ),
        CHANGE,
    ),
}


def api_rules(app: Any) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


@pytest.fixture
def world(session, users, actors, officer) -> World:
    for reference in ("other-1", "own-1"):
        system, _ = writes.create_system(
            session, officer, {**SAMPLES["profile"], "reference": reference}
        )
        writes.create_entry(session, officer, system, "change_log", SAMPLES["change_log"])
        writes.create_entry(session, officer, system, "incident", SAMPLES["incident"])
    owner = {
        "role": "technical",
        "person": {"name": "Tech", "email": users["technical_owner"].email},
        "start": "2020-01-01",
    }
    writes.create_entry(session, officer, reads.get_system(session, "own-1"), "owner", owner)
    session.commit()
    return World(session, officer, users)


def test_every_api_endpoint_has_a_row(app):
    assert api_rules(app) == set(MATRIX), "add a row to MATRIX for every API endpoint"


def test_each_principal_gets_exactly_its_status(app, world, tokens):
    # A checkpoint covers the first events, so the proof endpoint can answer.
    from registry.ledger.checkpoints import make_checkpoint, settings_of

    make_checkpoint(world.session, settings_of(world.session).signer)
    world.session.commit()
    # An evidence pack to download.
    from registry.exporting import export
    from registry.extensions import database, pack_files

    read = database(app).read_sessionmaker()
    world.pack = export(
        world.session,
        read,
        world.officer,
        Path(app.config["EXPORT_DIR"]),
        pack_files(app),
        references=["other-1"],
    ).name
    read.close()
    # A document to download.
    staged = document_store(app).stage(1000).copy_from(io.BytesIO(b"a stored document"))
    system = reads.get_system(world.session, "other-1")
    world.document = receive(
        world.session, world.officer, system, document_store(app), staged, Upload("doc.txt")
    ).document.sha256
    auditor = Actor.for_user(world.users["auditor"])
    world.job = ask_export(world.session, auditor, ["other-1"], None, utcnow(), None).id
    world.session.commit()
    failures = []
    for (method, rule), (build, expected) in [*sorted(MATRIX.items()), *MORE.items()]:
        for principal in PRINCIPALS:
            token = None if principal == "anonymous" else tokens[principal.removesuffix("_own")]
            client = ApiClient(app.test_client(), token)
            path, kwargs = build(world, principal)
            response = client.open(method, path, **kwargs)
            response.close()  # static files are streamed
            if response.status_code != expected[principal]:
                failures.append(
                    f"{method} {rule} as {principal}: {response.status_code}, "
                    f"expected {expected[principal]}: {response.get_data(as_text=True)[:200]}"
                )
    assert not failures, "\n".join(failures)
