"""Notifications on the web: "My tasks", one's notification preferences, following a
system, webhook subscriptions with their delivery log (administrators and compliance
officers), and the preferences page of owners who are not users (no sign-in: the
signed token in their e-mails' link names the address)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from werkzeug.wrappers import Response

from registry.accounts.permissions import can, require
from registry.errors import InvalidInput
from registry.extensions import csrf, db_session
from registry.notifications import service
from registry.notifications.due import KINDS
from registry.notifications.models import MODES
from registry.notifications.outbox import EVENTS
from registry.readiness.overview import describe
from registry.records import reads
from registry.web.home import page_asked
from registry.web.paging import Paging
from registry.web.systems import current_actor

bp = Blueprint("notifications", __name__)
MODE_LABELS = {"email": "E-mail at once", "digest": "Daily digest", "none": "Nothing"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _said(exc: InvalidInput) -> str:
    """A refused choice of preferences, as the page says it."""
    return (
        exc.message
        + " "
        + "; ".join(f"{KINDS.get(k, k)}: {' '.join(v)}" for k, v in exc.field_errors.items())
    )


@bp.route("/tasks")
@login_required
def tasks() -> str:
    """What is due for the signed-in user, soonest first."""
    session = db_session()
    now = _now()
    ahead = dt.timedelta(days=current_app.config["NOTIFY_DAYS_AHEAD"])
    per_page = service.PER_PAGE
    page = page_asked()
    found = service.my_tasks(
        session, current_actor(), now, ahead=ahead, offset=(page - 1) * per_page, limit=per_page
    )
    pages = max(1, -(-found.total // per_page))
    if page > pages:  # past the last page: the last
        page = pages
        found = service.my_tasks(
            session, current_actor(), now, ahead=ahead, offset=(page - 1) * per_page
        )
    return render_template(
        "notifications/tasks.html",
        items=found.items,
        total=found.total,
        paging=Paging(page, pages),
        now=now,
        describe=describe,
        ahead=ahead.days,
    )


@bp.route("/me/notifications", methods=["GET", "POST"])
@login_required
def preferences() -> Any:
    session = db_session()
    actor = current_actor()
    error = None
    if request.method == "POST":
        chosen = {kind: request.form[kind] for kind in KINDS if kind in request.form}
        try:
            service.set_preferences(session, actor, chosen)
        except InvalidInput as exc:
            session.rollback()
            error = _said(exc)
        else:
            session.commit()
            flash("Notification preferences saved.", "success")
            return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html",
        preferences=service.get_preferences(session, actor),
        kinds=KINDS,
        modes=MODES,
        mode_labels=MODE_LABELS,
        error=error,
        can_read=can(session, actor, "read"),  # "My tasks" opens for readers only
    ), (422 if error else 200)


@bp.route("/notifications/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the authority (and mail clients POST it: RFC 8058)
def unsubscribe(token: str) -> Any:
    """An owner who is not a user: the reminders e-mailed to the address the token names,
    chosen per kind as a user does (at once, daily digest, nothing). GET only shows (mail
    scanners follow links); POST sets: the page's choices, ``stop`` nothing of any kind,
    and a one-click ``List-Unsubscribe=One-Click`` nothing of any kind (204). A token not
    signed here or expired: 403, with what to do."""
    address = service.link_address(
        current_app.config["SECRET_KEY"],
        token,
        max_age=dt.timedelta(days=current_app.config["NOTIFY_LINK_DAYS"]),
    )
    session = db_session()
    error = None
    if request.method == "POST":
        try:
            if "List-Unsubscribe" in request.form or "stop" in request.form:
                service.stop_address(session, address, _now())
            else:
                chosen = {kind: request.form[kind] for kind in KINDS if kind in request.form}
                service.set_address_preferences(session, address, chosen, _now())
        except InvalidInput as exc:
            session.rollback()
            error = _said(exc)
        else:
            session.commit()
            if "List-Unsubscribe" in request.form:
                return "", 204
            flash(
                "This address gets no reminders."
                if "stop" in request.form
                else "Reminder preferences saved.",
                "success",
            )
            return redirect(url_for("notifications.unsubscribe", token=token))
    return render_template(
        "notifications/unsubscribe.html",
        address=address,
        preferences=service.get_address_preferences(session, address),
        kinds=KINDS,
        modes=MODES,
        mode_labels=MODE_LABELS,
        error=error,
    ), (422 if error else 200)


@bp.route("/systems/<reference>/subscription", methods=["POST"])
@login_required
def subscription(reference: str) -> Response:
    """Follow a system's due items (``follow=1``) or stop following them."""
    session = db_session()
    system = reads.get_system(session, reference)
    on = request.form.get("follow") == "1"
    service.subscribe(session, current_actor(), system, on=on)
    session.commit()
    flash(
        f"You now follow {reference}: its due items come to you as to its owners."
        if on
        else f"You no longer follow {reference}.",
        "success",
    )
    return redirect(url_for("systems.show", reference=reference))


def _webhooks_page(created: Any = None, error: str | None = None, status: int = 200) -> Any:
    session = db_session()
    actor = current_actor()
    hooks = service.webhook_list(session, actor)
    response = current_app.make_response(
        (
            render_template(
                "notifications/webhooks.html",
                hooks=hooks,
                events=EVENTS,
                created=created,
                error=error,
                can_manage=can(session, actor, "manage_webhooks"),
                form=request.form if error else {},
                chosen=request.form.getlist("events") if error else [],
            ),
            status,
        )
    )
    if created is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret is shown once
    return response


@bp.route("/webhooks", methods=["GET", "POST"])
@login_required
def webhooks() -> Any:
    session = db_session()
    actor = current_actor()
    if request.method == "GET":
        return _webhooks_page()
    require(session, actor, "manage_webhooks")
    reference = request.form.get("system", "").strip()
    try:
        system = reads.get_system(session, reference) if reference else None
        hook = service.create_webhook(
            session,
            actor,
            url=request.form.get("url", "").strip(),
            events=request.form.getlist("events"),
            system=system,
            description=request.form.get("description", "").strip(),
            allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"],
        )
    except InvalidInput as exc:
        session.rollback()
        said = "; ".join(" ".join(v) for v in exc.field_errors.values())
        return _webhooks_page(error=f"{exc.message} {said}", status=422)
    created = {"id": hook.id, "url": hook.url, "secret": hook.secret}
    session.commit()
    return _webhooks_page(created=created)


@bp.route("/webhooks/<id:webhook_id>/delete", methods=["POST"])
@login_required
def delete_webhook(webhook_id: int) -> Response:
    session = db_session()
    hook, _ = service.delete_webhook(session, current_actor(), webhook_id)
    url = hook.url
    session.commit()
    flash(f"Webhook {url} removed.", "success")
    return redirect(url_for("notifications.webhooks"))


@bp.route("/webhooks/<id:webhook_id>")
@login_required
def deliveries(webhook_id: int) -> str:
    session = db_session()
    actor = current_actor()
    hook = service.get_webhook(session, actor, webhook_id)
    return render_template(
        "notifications/deliveries.html",
        hook=hook,
        deliveries=service.deliveries(session, actor, webhook_id),
        can_manage=can(session, actor, "manage_webhooks"),
    )


@bp.route("/webhooks/deliveries/<id:delivery_id>/replay", methods=["POST"])
@login_required
def replay(delivery_id: int) -> Response:
    session = db_session()
    delivery = service.replay(session, current_actor(), delivery_id, _now())
    webhook_id = delivery.message.webhook_id
    session.commit()
    flash(f"Delivery {delivery_id} queued again.", "success")
    return redirect(url_for("notifications.deliveries", webhook_id=webhook_id))
