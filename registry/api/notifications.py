"""Notifications over the API: the caller's preferences and tasks, subscribing to a
system, and webhook subscriptions with their delivery log (administrators and
compliance officers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from marshmallow import fields, validate

from registry.api.auth import current_actor
from registry.api.blueprint import BODY, IDEMPOTENCY_KEY, READ, Blueprint
from registry.api.schemas import PageQuery, Strict
from registry.api.systems import PAGE_HEADERS, next_link
from registry.api.writes import transaction
from registry.errors import PermissionDenied
from registry.extensions import db_session
from registry.notifications import service
from registry.notifications.due import KINDS
from registry.notifications.models import MODES, WebhookSubscription
from registry.notifications.outbox import EVENTS
from registry.records import reads
from registry.text import storable

bp = Blueprint(
    "api_notifications",
    __name__,
    url_prefix="/api/v1",
    tag="Notifications",
    description="Reminders and notifications: preferences, tasks, subscriptions, webhooks.",
)


class PreferencesIn(Strict):
    preferences = fields.Dict(
        keys=fields.String(validate=validate.OneOf(tuple(KINDS))),
        values=fields.String(validate=validate.OneOf(MODES)),
        required=True,
        metadata={"description": "Per kind of due item: email (at once), digest (daily) or none."},
    )


class PreferencesOut(Strict):
    preferences = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    kinds = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class TaskOut(Strict):
    kind = fields.String(required=True)
    key = fields.String(required=True)
    system = fields.String(required=True)
    system_name = fields.String(required=True)
    entry_id = fields.Integer(allow_none=True, required=True)
    title = fields.String(required=True)
    due_at = fields.String(required=True)
    detail = fields.String(required=True)


class TaskQuery(PageQuery):
    after = fields.Integer(
        validate=validate.Range(0, 2**31 - 1),
        load_default=0,
        metadata={
            "description": "Cursor: how many items come before this page (a position, "
            "not an item: items shift across pages when the list changes)."
        },
    )


class TaskList(Strict):
    items = fields.List(fields.Nested(TaskOut), required=True)
    next_cursor = fields.Integer(allow_none=True, required=True)
    total = fields.Integer(required=True)


class SubscriptionOut(Strict):
    system = fields.String(required=True)
    subscribed = fields.Boolean(required=True)


class WebhookIn(Strict):
    url = fields.String(required=True, validate=[validate.Length(1, 2000), storable])
    events = fields.List(
        fields.String(validate=validate.OneOf(tuple(EVENTS))),
        required=True,
        validate=validate.Length(1, len(EVENTS)),
    )
    system = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.Length(1, 100),
        metadata={"description": "A system's reference; none: the whole registry."},
    )
    description = fields.String(load_default="", validate=[validate.Length(max=200), storable])


class WebhookOut(Strict):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    system = fields.String(allow_none=True, required=True)
    description = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)


class WebhookCreated(WebhookOut):
    secret = fields.String(
        required=True, metadata={"description": "The signing secret (whsec_…), shown once."}
    )


class WebhookList(Strict):
    items = fields.List(fields.Nested(WebhookOut), required=True)


class AttemptOut(Strict):
    at = fields.String(required=True)
    ok = fields.Boolean(required=True)
    status_code = fields.Integer(allow_none=True, required=True)
    error = fields.String(allow_none=True, required=True)


class DeliveryOut(Strict):
    id = fields.Integer(required=True)
    webhook_id = fields.Integer(required=True)
    event_type = fields.String(required=True)
    state = fields.String(required=True)
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.String(allow_none=True, required=True)
    sent_at = fields.String(allow_none=True, required=True)
    last_error = fields.String(allow_none=True, required=True)
    log = fields.List(fields.Nested(AttemptOut), required=True)


class DeliveryList(Strict):
    items = fields.List(fields.Nested(DeliveryOut), required=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _prefs(preferences: dict[str, str]) -> dict[str, Any]:
    return {"preferences": preferences, "kinds": dict(KINDS)}


@bp.route("/me/notifications", methods=["GET"], operation_id="getNotificationPreferences")
@bp.response(200, PreferencesOut)
@bp.problems(401)
def get_preferences() -> Any:
    """My notification preferences

    For each kind of due item, how the caller is told: `email` at once, `digest` (one
    e-mail a day) or `none`. Any valid token.
    """
    return _prefs(service.get_preferences(db_session(), current_actor()))


@bp.route("/me/notifications", methods=["PUT"], operation_id="setNotificationPreferences")
@transaction()
@bp.arguments(PreferencesIn)
@bp.response(200, PreferencesOut)
@bp.problems(*READ, *BODY)
def put_preferences(data: dict[str, Any]) -> Any:
    """Set my notification preferences

    The kinds named take the mode given; the others keep theirs. Needs the write scope.
    """
    actor = current_actor()
    if not actor.has_scope("write"):
        raise PermissionDenied("Changing preferences needs a token with the write scope.")
    return _prefs(service.set_preferences(db_session(), actor, data["preferences"]))


@bp.route("/me/tasks", methods=["GET"], operation_id="listMyTasks")
@bp.arguments(TaskQuery, location="query", as_kwargs=True)
@bp.response(200, TaskList, headers=PAGE_HEADERS)
@bp.problems(*READ)
def my_tasks(limit: int, after: int) -> Any:
    """My tasks

    What is due for the caller (as a named owner, compliance officer or subscriber),
    soonest first. Pages by cursor: pass `next_cursor` as `after`, a position in the
    list (how many items come before the page): when the list changes between two
    pages, items shift across them. `total` counts the items on all pages.
    """
    ahead = dt.timedelta(days=current_app.config["NOTIFY_DAYS_AHEAD"])
    tasks = service.my_tasks(
        db_session(), current_actor(), _now(), ahead=ahead, offset=after, limit=limit
    )
    cursor = after + limit if after + limit < tasks.total else None
    headers = next_link("api_notifications.my_tasks", cursor, limit=limit)
    return {
        "items": [i.to_dict() for i in tasks.items],
        "next_cursor": cursor,
        "total": tasks.total,
    }, headers


def _subscribe(reference: str, on: bool) -> dict[str, Any]:
    actor = current_actor()
    if not actor.has_scope("write"):
        raise PermissionDenied("Subscribing needs a token with the write scope.")
    session = db_session()
    system = reads.get_system(session, reference)
    return {"system": reference, "subscribed": service.subscribe(session, actor, system, on=on)}


@bp.route("/systems/<reference>/subscription", methods=["PUT"], operation_id="subscribeToSystem")
@transaction()
@bp.response(200, SubscriptionOut)
@bp.problems(*READ, 404)
def subscribe(reference: str) -> Any:
    """Subscribe to a system

    A subscriber is told of the system's due items as its owners are. Any reader with
    the write scope.
    """
    return _subscribe(reference, True)


@bp.route(
    "/systems/<reference>/subscription", methods=["DELETE"], operation_id="unsubscribeFromSystem"
)
@transaction()
@bp.response(200, SubscriptionOut)
@bp.problems(*READ, 404)
def unsubscribe(reference: str) -> Any:
    """Unsubscribe from a system

    The system's due items are no longer sent to you as a subscriber (as an owner the
    records name, you are still told).
    """
    return _subscribe(reference, False)


def webhook_out(hook: WebhookSubscription, reference: str | None) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": sorted(hook.event_set),
        "system": reference,
        "description": hook.description,
        "created_by": hook.created_by,
        "created_at": hook.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }


@bp.route("/webhooks", methods=["GET"], operation_id="listWebhooks")
@bp.response(200, WebhookList)
@bp.problems(*READ)
def list_webhooks() -> Any:
    """Webhook subscriptions

    Administrators and compliance officers (read scope). Secrets are never listed.
    """
    hooks = service.webhook_list(db_session(), current_actor())
    return {"items": [webhook_out(h, reference) for h, reference in hooks]}


def _webhook_secret(answer: dict[str, Any]) -> str:
    """The signing secret of the subscription ``answer`` shows (404 once removed)."""
    return service.get_webhook(db_session(), current_actor(), answer["id"], manage=True).secret


@bp.route("/webhooks", methods=["POST"], operation_id="createWebhook")
@transaction(idempotent=True, secret=_webhook_secret)
@bp.arguments(WebhookIn)
@bp.response(201, WebhookCreated)
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@bp.problems(*READ, *BODY, 404)
def create_webhook(data: dict[str, Any]) -> Any:
    """Subscribe a webhook

    To one system's events or (no `system`) the whole registry's: `record.changed`,
    `incident`, `due_item`, `readiness.changed`. Payloads are signed by the Standard
    Webhooks scheme with the secret in this answer. A URL resolving to a loopback,
    link-local or private address is refused (422) unless the administrator allowed
    it. Administrators and compliance officers (write scope). A retry with the same
    `Idempotency-Key` shows the subscription's secret again (404 once it was removed).
    """
    session = db_session()
    system = reads.get_system(session, data["system"]) if data["system"] else None
    hook = service.create_webhook(
        session,
        current_actor(),
        url=data["url"],
        events=data["events"],
        system=system,
        description=data["description"],
        allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
    )
    return {**webhook_out(hook, data["system"]), "secret": hook.secret}, 201


@bp.route("/webhooks/<id:webhook_id>", methods=["DELETE"], operation_id="deleteWebhook")
@transaction()
@bp.response(200, WebhookOut)
@bp.problems(*READ, 404)
def delete_webhook(webhook_id: int) -> Any:
    """Remove a webhook subscription

    With its queued messages and their delivery log; answers what was removed.
    """
    hook, reference = service.delete_webhook(db_session(), current_actor(), webhook_id)
    return webhook_out(hook, reference)


@bp.route(
    "/webhooks/<id:webhook_id>/deliveries", methods=["GET"], operation_id="listWebhookDeliveries"
)
@bp.response(200, DeliveryList)
@bp.problems(*READ, 404)
def deliveries(webhook_id: int) -> Any:
    """A webhook's delivery log

    Its latest messages, newest first, each with every attempt.
    """
    found = service.deliveries(db_session(), current_actor(), webhook_id)
    return {"items": [d.to_dict() for d in found]}


@bp.route(
    "/webhooks/deliveries/<id:delivery_id>/replay",
    methods=["POST"],
    operation_id="replayWebhookDelivery",
)
@transaction()
@bp.response(200, DeliveryOut)
@bp.problems(*READ, 404)
def replay(delivery_id: int) -> Any:
    """Replay a delivery

    Sends the message again at the next `registry notify deliver`, attempts counted
    afresh (the log keeps the earlier ones).
    """
    return service.replay(db_session(), current_actor(), delivery_id, _now()).to_dict()
