"""Editing in the web UI: register a system, add, edit and retire entries.

Forms are generated from the kinds' schemas (:mod:`registry.web.forms`); the services
validate, check permission and write; the view commits once after a success. A form
based on a version that is no longer the head is shown again with what changed since,
and the user's input kept: nothing is ever silently overwritten. An edit form keeps
the stored value of every field sent back as shown, and one saved without a change
records nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from registry.accounts.permissions import require
from registry.documents.uploads import Part
from registry.errors import Conflict, InvalidInput, PermissionDenied, StaleVersion
from registry.extensions import db_session
from registry.readiness.gate import PromotionRefused, check_promotion
from registry.records import reads, writes
from registry.records.attaching import with_attachments
from registry.records.diff import FieldChange, diff_versions
from registry.records.kinds import KINDS, normalise_body
from registry.records.models import AISystem, Entry
from registry.web import forms
from registry.web.documents import receive_parts, uploaded
from registry.web.systems import current_actor

bp = Blueprint("editing", __name__)


@dataclass
class Outcome:
    """What went wrong with a submission, to show on the form again."""

    status: int
    message: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    changes: list[FieldChange] | None = None


def _meta(form: MultiDict) -> tuple[str, dt.datetime | None, dict[str, list[str]]]:
    """The reason and the effective time of a submission, and their errors."""
    reason = form.get("reason", "")
    errors: dict[str, list[str]] = {}
    try:
        effective = forms.form_instant(
            form.get("effective_from-date", ""), form.get("effective_from-time", "")
        )
    except ValueError:
        effective = None
        errors["effective_from"] = ["Not a valid date and time (YYYY-MM-DD and HH:MM, UTC)."]
    return reason, effective, errors


def _invalid(
    spec: tuple[forms.FormField, ...], parsed: forms.Parsed, field_errors: dict[str, Any]
) -> Outcome:
    placed, general = forms.place_errors((*spec, *forms.META), field_errors, parsed.rows)
    return Outcome(422, "The form has errors: nothing was saved.", placed, general)


def _body_errors(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body's own errors, for a submission refused before the service ran."""
    try:
        normalise_body(kind, body)
    except ValidationError as exc:
        return exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return {}


def _render_form(
    *,
    template: str = "editing/form.html",
    status: int = 200,
    spec: tuple[forms.FormField, ...],
    values: MultiDict,
    outcome: Outcome | None = None,
    **context: Any,
) -> tuple[str, int]:
    errors = outcome.errors if outcome else {}
    summary: list[tuple[str, str, str]] = []
    fields = forms.bind(spec, values, errors, summary=summary)
    meta = forms.bind(forms.META, values, errors, summary=summary)
    return (
        render_template(
            template,
            fields=fields,
            meta=meta,
            outcome=outcome,
            summary=summary,
            **context,
        ),
        status,
    )


def _system_for_write(reference: str) -> AISystem:
    session = db_session()
    system = reads.get_system(session, reference)
    require(session, current_actor(), "write", system)
    return system


def _kind_or_404(kind: str | None) -> str:
    if kind not in KINDS or kind == "profile":
        abort(404)
    return kind


def _base_version(form: MultiDict) -> int:
    raw = form.get("base_version", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(
            "The form does not say which version it was based on.",
            {"base_version": ["Not a version number."]},
        )
    return int(raw)


def _stale(entry: Entry, based_on: int, exc: StaleVersion) -> Outcome:
    session = db_session()
    current = reads.get_version(session, entry, exc.current)
    changes = diff_versions(session, entry, based_on, exc.current)
    when = current.recorded_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    what = "retired" if current.tombstone else "changed"
    return Outcome(
        409,
        f"This {KINDS[entry.kind].title.lower()} {what} since you opened it: version "
        f"{exc.current} by {current.author} at {when}. Your changes are below, not saved. "
        "Review what changed, then submit again to apply them to the current version.",
        changes=changes,
    )


# ----------------------------------------------------------------------------- register


@bp.route("/systems/new", methods=["GET", "POST"])
@login_required
def new_system() -> Any:
    session = db_session()
    actor = current_actor()
    require(session, actor, "create_system")
    spec = forms.spec_for("profile")
    context = {
        "title": "Register a system",
        "kind": KINDS["profile"],
        "action": url_for("editing.new_system"),
        "cancel": url_for("systems.index"),
        "submit": "Register system",
    }
    if request.method == "GET":
        return _render_form(spec=spec, values=MultiDict(), **context)
    form = request.form
    parsed = forms.body_from_form(spec, form)
    reason, effective, meta_errors = _meta(form)
    if meta_errors:
        outcome = _invalid(spec, parsed, {**_body_errors("profile", parsed.body), **meta_errors})
        return _render_form(status=422, spec=spec, values=form, outcome=outcome, **context)
    try:
        system, _ = writes.create_system(
            session, actor, parsed.body, effective_from=effective, reason=reason
        )
    except InvalidInput as exc:
        session.rollback()
        outcome = _invalid(spec, parsed, exc.field_errors)
        return _render_form(status=422, spec=spec, values=form, outcome=outcome, **context)
    except Conflict as exc:
        session.rollback()
        outcome = _invalid(spec, parsed, exc.details.get("errors") or {})
        outcome.status, outcome.message = 409, exc.message
        return _render_form(status=409, spec=spec, values=form, outcome=outcome, **context)
    reference = system.reference
    session.commit()
    flash(f"Registered system {reference}.", "info")
    return redirect(url_for("systems.show", reference=reference))


# ----------------------------------------------------------------------------- add


def attached() -> list[Part]:
    """The files chosen in an entry form's Documents field."""
    return uploaded("attach_files")


@bp.route("/systems/<reference>/entries/new", methods=["GET", "POST"])
@login_required
def new_entry(reference: str) -> Any:
    session = db_session()
    actor = current_actor()
    system = _system_for_write(reference)
    kind = _kind_or_404(request.args.get("kind"))
    spec = forms.spec_for(kind)
    title = KINDS[kind].title
    context = {
        "title": f"Add {title.lower()}",
        "kind": KINDS[kind],
        "system": system,
        "action": url_for("editing.new_entry", reference=reference, kind=kind),
        "cancel": url_for("systems.show", reference=reference),
        "submit": f"Add {title.lower()}",
    }
    if request.method == "GET":
        return _render_form(spec=spec, values=MultiDict(), **context)
    form = request.form
    parsed = forms.body_from_form(spec, form)
    reason, effective, meta_errors = _meta(form)
    if meta_errors:
        outcome = _invalid(spec, parsed, {**_body_errors(kind, parsed.body), **meta_errors})
        return _render_form(status=422, spec=spec, values=form, outcome=outcome, **context)
    try:
        body = with_attachments(parsed.body, receive_parts(session, actor, system, attached()))
        version = writes.create_entry(
            session, actor, system, kind, body, effective_from=effective, reason=reason
        )
    except InvalidInput as exc:
        session.rollback()
        outcome = _invalid(spec, parsed, exc.field_errors)
        return _render_form(status=422, spec=spec, values=form, outcome=outcome, **context)
    label = reads.EntryState(version.entry_id, kind, version).label
    session.commit()
    flash(f"Added {title.lower()} “{label}”.", "info")
    return redirect(url_for("systems.show", reference=reference))


# ----------------------------------------------------------------------------- edit


def _entry_for_write(reference: str, entry_id: int) -> tuple[AISystem, Entry]:
    system = _system_for_write(reference)
    entry = reads.get_entry(db_session(), entry_id, system)
    if entry.retired:
        raise Conflict(f"Entry {entry_id} is retired; a retired entry cannot change.")
    return system, entry


def _label(entry: Entry) -> str:
    head = reads.get_version(db_session(), entry, entry.head_number)
    return reads.EntryState(entry.id, entry.kind, head).label


@bp.route("/systems/<reference>/entries/<int:entry_id>/edit", methods=["GET", "POST"])
@login_required
def edit_entry(reference: str, entry_id: int) -> Any:
    session = db_session()
    actor = current_actor()
    system, entry = _entry_for_write(reference, entry_id)
    kind = entry.kind
    spec = forms.spec_for(kind, reference_readonly=kind == "profile")
    label = _label(entry)
    context: dict[str, Any] = {
        "title": f"Edit {KINDS[kind].title.lower()} “{label}”",
        "kind": KINDS[kind],
        "system": system,
        "entry": entry,
        "action": url_for("editing.edit_entry", reference=reference, entry_id=entry_id),
        "cancel": url_for("systems.show", reference=reference),
        "submit": "Save changes",
    }
    if request.method == "GET":
        head = reads.get_version(session, entry, entry.head_number)
        values = forms.values_from_body(spec, json.loads(head.body))
        return _render_form(spec=spec, values=values, base_version=entry.head_number, **context)
    form = request.form
    based_on = _base_version(form)
    parsed = forms.body_from_form(spec, form, _shown_body(entry, based_on))
    if kind == "profile":  # the reference is read-only: it names the system
        parsed.body["reference"] = system.reference
    values = form.copy()
    if kind == "profile":
        values["reference"] = system.reference
    reason, effective, meta_errors = _meta(form)
    if meta_errors:
        outcome = _invalid(spec, parsed, {**_body_errors(kind, parsed.body), **meta_errors})
        return _render_form(
            status=422, spec=spec, values=values, outcome=outcome, base_version=based_on, **context
        )
    try:
        body = with_attachments(parsed.body, receive_parts(session, actor, system, attached()))
        _, written = writes.update_entry_if_changed(
            session,
            actor,
            entry,
            body,
            base_version=based_on,
            effective_from=effective,
            reason=reason,
            gate=check_promotion,
        )
    except InvalidInput as exc:
        session.rollback()
        outcome = _invalid(spec, parsed, exc.field_errors)
        return _render_form(
            status=422, spec=spec, values=values, outcome=outcome, base_version=based_on, **context
        )
    except PermissionDenied as exc:  # fields only a compliance officer may change
        session.rollback()
        outcome = _invalid(spec, parsed, exc.details.get("errors") or {})
        outcome.status = 403
        outcome.message = f"{exc.message} Your changes are below, not saved."
        return _render_form(
            status=403, spec=spec, values=values, outcome=outcome, base_version=based_on, **context
        )
    except PromotionRefused as exc:  # the readiness gate: say which areas are not met
        session.rollback()
        outcome = Outcome(409, f"{exc.message} Your changes are below, not saved.", {}, exc.unmet)
        return _render_form(
            status=409, spec=spec, values=values, outcome=outcome, base_version=based_on, **context
        )
    except Conflict as exc:  # retired meanwhile
        session.rollback()
        outcome = Outcome(409, f"{exc.message} Your changes are below, not saved.")
        return _render_form(
            status=409, spec=spec, values=values, outcome=outcome, base_version=based_on, **context
        )
    except StaleVersion as exc:
        return _stale_form(reference, entry_id, based_on, exc, spec, values, context)
    session.commit()
    if written:
        flash(f"Saved {KINDS[kind].title.lower()} “{label}”.", "info")
    else:
        what = f"{KINDS[kind].title.lower()} “{label}”"
        flash(f"Nothing changed: no new version of {what} was recorded.", "info")
    return redirect(url_for("systems.show", reference=reference))


def _shown_body(entry: Entry, based_on: int) -> dict[str, Any] | None:
    """The body the edit form showed: its base version's (None when there is no such
    live version: the write refuses the form as stale)."""
    if not 1 <= based_on <= entry.head_number:
        return None
    version = reads.get_version(db_session(), entry, based_on)
    body = None if version.tombstone else json.loads(version.body)
    return body if isinstance(body, dict) else None


def _stale_form(
    reference: str,
    entry_id: int,
    based_on: int,
    exc: StaleVersion,
    spec: tuple[forms.FormField, ...],
    values: MultiDict,
    context: dict[str, Any],
) -> Any:
    """The form again after someone else saved first: what changed since the user's
    version, their input kept, and the current version as the new base (409)."""
    db_session().rollback()
    system = _system_for_write(reference)
    entry = reads.get_entry(db_session(), entry_id, system)
    return _render_form(
        status=409,
        spec=spec,
        values=values,
        outcome=_stale(entry, based_on, exc),
        base_version=exc.current,
        based_on=based_on,
        **{**context, "system": system, "entry": entry},
    )


# ----------------------------------------------------------------------------- retire


@bp.route("/systems/<reference>/entries/<int:entry_id>/retire", methods=["GET", "POST"])
@login_required
def retire_entry(reference: str, entry_id: int) -> Any:
    session = db_session()
    actor = current_actor()
    system, entry = _entry_for_write(reference, entry_id)
    if KINDS[entry.kind].officer_retires:  # retiring a system: a compliance officer's
        require(session, actor, "govern", system)
    label = _label(entry)
    context: dict[str, Any] = {
        "template": "editing/retire.html",
        "title": f"Retire {KINDS[entry.kind].title.lower()} “{label}”",
        "kind": KINDS[entry.kind],
        "system": system,
        "entry": entry,
        "action": url_for("editing.retire_entry", reference=reference, entry_id=entry_id),
        "cancel": url_for("systems.show", reference=reference),
        "submit": "Retire",
    }
    if request.method == "GET":
        return _render_form(spec=(), values=MultiDict(), base_version=entry.head_number, **context)
    page = _post_change(
        session,
        context,
        lambda based_on, reason, effective: writes.retire_entry(
            session, actor, entry, base_version=based_on, effective_from=effective, reason=reason
        ),
        lambda exc, based_on, form: _stale_form(
            reference, entry_id, based_on, exc, (), form, context
        ),
    )
    if page is not None:
        return page
    session.commit()
    flash(f"Retired {KINDS[entry.kind].title.lower()} “{label}”.", "info")
    return redirect(url_for("systems.show", reference=reference))


def _post_change(
    session: Any,
    context: dict[str, Any],
    write: Callable[[int, str, Any], Any],
    stale: Callable[[StaleVersion, int, Any], Any],
) -> Any | None:
    """The POST of a form that carries only the base version, a reason and an effective
    time (retiring, reinstating): ``write`` is called with them. Returns the page that
    answers a refusal (nothing saved), or None once written (the caller commits)."""
    form = request.form
    based_on = _base_version(form)
    reason, effective, meta_errors = _meta(form)
    if meta_errors:
        outcome = Outcome(422, "The form has errors: nothing was saved.", meta_errors)
        return _render_form(
            status=422, spec=(), values=form, outcome=outcome, base_version=based_on, **context
        )
    try:
        write(based_on, reason, effective)
    except InvalidInput as exc:
        session.rollback()
        outcome = _invalid((), forms.Parsed({}), exc.field_errors)
        return _render_form(
            status=422, spec=(), values=form, outcome=outcome, base_version=based_on, **context
        )
    except StaleVersion as exc:
        return stale(exc, based_on, form)
    return None


# ----------------------------------------------------------------------------- reinstate


def _not_ready_again(exc: PromotionRefused) -> Outcome:
    """The readiness gate's refusal of a reinstatement into production, said to the
    compliance officer reinstating (who records waivers themselves): which areas are
    not met, and why (the page links to where to act)."""
    areas = ", ".join(a.title for a in exc.scorecard.unmet())
    return Outcome(
        409,
        f"{exc.scorecard.system} was in production when it was retired, so it comes back "
        f"in production, and it is not ready for production in: {areas}. Nothing was saved.",
        general=exc.unmet,
    )


@bp.route("/systems/<reference>/reinstate", methods=["GET", "POST"])
@login_required
def reinstate_system(reference: str) -> Any:
    session = db_session()
    actor = current_actor()
    system = reads.get_system(session, reference)
    require(session, actor, "govern", system)
    entry = reads.profile_entry(session, system)
    context: dict[str, Any] = {
        "template": "editing/reinstate.html",
        "title": f"Reinstate system {system.reference}",
        "kind": KINDS["profile"],
        "system": system,
        "entry": entry,
        "action": url_for("editing.reinstate_system", reference=reference),
        "cancel": url_for("systems.show", reference=reference),
        "submit": "Reinstate",
    }
    if not entry.retired:
        raise Conflict(f"System {system.reference!r} is not retired.")
    if request.method == "GET":
        return _render_form(spec=(), values=MultiDict(), base_version=entry.head_number, **context)

    def stale(exc: StaleVersion, based_on: int, form: Any) -> Any:
        session.rollback()
        outcome = Outcome(409, exc.message)
        return _render_form(
            status=409, spec=(), values=form, outcome=outcome, base_version=exc.current, **context
        )

    try:
        page = _post_change(
            session,
            context,
            lambda based_on, reason, effective: writes.reinstate_system(
                session,
                actor,
                system,
                base_version=based_on,
                effective_from=effective,
                reason=reason,
                gate=check_promotion,
            ),
            stale,
        )
    except PromotionRefused as exc:  # back in production: the readiness gate refused it
        session.rollback()
        return _render_form(
            status=409,
            spec=(),
            values=request.form,
            outcome=_not_ready_again(exc),
            base_version=_base_version(request.form),
            not_ready=True,
            **context,
        )
    if page is not None:
        return page
    session.commit()
    flash(f"Reinstated system {reference}.", "info")
    return redirect(url_for("systems.show", reference=reference))
