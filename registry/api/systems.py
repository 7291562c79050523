"""Systems: the register, one system's state, its entries, change logs and incidents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import url_for

from registry.accounts.permissions import require
from registry.api.auth import current_actor, reads_with_token
from registry.api.blueprint import (
    BODY,
    ETAG_HEADER,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    LOCATION_HEADER,
    READ,
    Blueprint,
)
from registry.api.conditional import base_version, etag
from registry.api.render import created_entry, entry_dict, entry_out, system_summary
from registry.api.schemas import (
    EntryCreate,
    EntryListQuery,
    EntryOut,
    EntryPage,
    KindListQuery,
    SystemCreate,
    SystemPage,
    SystemQuery,
    SystemReinstate,
    SystemStateOut,
    SystemStateQuery,
    kind_component,
)
from registry.api.writes import transaction
from registry.errors import Conflict, InvalidInput
from registry.extensions import db_session
from registry.readiness.gate import check_promotion
from registry.records import reads, writes
from registry.records.kinds import KINDS
from registry.records.models import AISystem
from registry.records.search import count_systems, entries_in_force, search_systems

bp = Blueprint(
    "api_systems",
    __name__,
    tag="Systems",
    url_prefix="/api/v1/systems",
    description="AI systems: the register, each system's state, and adding entries.",
)


def next_link(endpoint: str, cursor: object, **args: Any) -> dict[str, str]:
    if cursor is None:
        return {}
    url = url_for(endpoint, **{k: v for k, v in args.items() if v is not None}, after=cursor)
    return {"Link": f'<{url}>; rel="next"'}


def body_errors_at(exc: InvalidInput, *prefix: str) -> InvalidInput:
    """Say that the fields of a service's InvalidInput lie under ``prefix`` in the request."""
    exc.body_prefix = prefix  # type: ignore[attr-defined]
    return exc


PAGE_HEADERS = {
    "Link": {"description": 'The next page: <url>; rel="next".', "schema": {"type": "string"}}
}


@bp.route("", methods=["GET"], operation_id="listSystems")
@bp.arguments(SystemQuery, location="query", as_kwargs=True)
@bp.response(200, SystemPage, headers=PAGE_HEADERS)
@bp.problems(*READ)
def systems(limit: int, **filters: Any) -> Any:
    """List systems

    Systems in the register (now, or at `as_of` / `effective_at`), in order of
    reference: those whose profile is in force and those whose profile is retired
    (`retired: true`, shown with their profile as last in force); `status=live` or
    `status=retired` lists only the ones or the others. Pages by cursor: pass
    `next_cursor` as `after`. `total` counts the systems matching the query on all
    pages (`retired`: how many of them are retired), the number the web pages show.
    """
    session = db_session()
    require(session, current_actor(), "read")
    rows = search_systems(session, limit=limit + 1, **filters)
    cursor = rows[limit - 1].system.reference if len(rows) > limit else None
    headers = next_link("api_systems.systems", cursor, limit=limit, **_query(filters))
    count = count_systems(session, **{k: v for k, v in filters.items() if k != "after"})
    return {
        "items": [system_summary(r) for r in rows[:limit]],
        "next_cursor": cursor,
        "total": count.systems,
        "retired": count.retired,
    }, headers


def _query(filters: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in filters.items()
        if k != "after"
    }


@bp.route("", methods=["POST"], operation_id="createSystem")
@transaction(idempotent=True)
@bp.arguments(SystemCreate)
@bp.response(201, SystemStateOut, headers=LOCATION_HEADER)
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@bp.problems(*READ, *BODY, 409)
def create_system(data: dict[str, Any]) -> Any:
    """Register a system

    Creates the system with its profile as version 1 of its profile entry.
    """
    session = db_session()
    try:
        system, version = writes.create_system(
            session,
            current_actor(),
            data["profile"],
            effective_from=data.get("effective_from"),
            reason=data.get("reason"),
        )
    except InvalidInput as exc:
        raise body_errors_at(exc, "profile") from None
    except Conflict as exc:
        exc.body_prefix = ("profile",)  # type: ignore[attr-defined]
        raise
    entry = version.entry
    state = {
        "reference": system.reference,
        "created_at": system.created_at,
        "as_of": None,
        "effective_at": None,
        "retired": False,
        "profile": entry_out(entry, version, written=True),
        "entries": [],
        "more": [],
    }
    return (
        state,
        201,
        {
            "Location": url_for("api_systems.system", reference=system.reference),
            "ETag": etag(entry.id, version.number),
        },
    )


@bp.route("/<reference>", methods=["GET"], operation_id="getSystem")
@reads_with_token
@bp.arguments(SystemStateQuery, location="query", as_kwargs=True)
@bp.response(200, SystemStateOut)
@bp.problems(*READ, 404)
def system(reference: str, per_kind: int, as_of: Any = None, effective_at: Any = None) -> Any:
    """One system's state

    The profile and the live entries, now or as the registry stood at `as_of` (and as
    in effect at `effective_at`): the first `per_kind` entries of each kind, and in
    `more`, for each kind with more, their number and the link to the next page (the
    entries list, keyset by id), so the answer stays small for a system with thousands
    of entries. A system whose profile is retired answers too, with `retired: true`,
    the retirement as its profile and the profile's last version before it as
    `last_profile`.
    """
    session = db_session()
    now = as_of is None and effective_at is None
    rows = reads.current_rows(session, reference) if now else []  # with the token's lookup
    require(session, current_actor(), "read")
    when = {"as_of": as_of, "effective_at": effective_at}
    if rows and (state := _current_state(rows, per_kind)) is not None:
        return state
    state = reads.state_of(session, reference, as_of=as_of, effective_at=effective_at)
    found = state.system
    profile = next((e for e in state.entries if e.kind == "profile"), None)
    last_profile = None
    if profile is not None:
        shown = entry_out(profile.entry, profile.version)
    else:
        retired = reads.retired_profile(session, found, as_of=as_of, effective_at=effective_at)
        if retired is None:
            raise reads.not_in_register(reference)
        entry, tombstone, last_profile_version = retired
        shown, last_profile = entry_out(entry, tombstone), entry_out(entry, last_profile_version)
    page = reads.first_of_each_kind(
        (e for e in state.entries if e.kind != "profile"),
        lambda e: e.kind,
        lambda e: e.entry_id,
        per_kind,
    )
    return {
        "reference": found.reference,
        "created_at": found.created_at,
        "as_of": as_of,
        "effective_at": effective_at,
        "retired": profile is None,
        "profile": shown,
        "last_profile": last_profile,
        "entries": [entry_out(e.entry, e.version) for e in page.shown],
        "more": _more(found.reference, page, per_kind, when),
    }


def _more(
    reference: str, page: reads.KindPage[Any], per_kind: int, when: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        {
            "kind": kind,
            "total": total,
            "next": url_for(
                "api_systems.entries",
                reference=reference,
                kind=kind,
                after=after,
                limit=per_kind,
                **_query(when),
            ),
        }
        for kind, (total, after) in sorted(page.more.items())
    ]


def _current_state(rows: list[Any], per_kind: int) -> dict[str, Any] | None:
    """The state from the current rows; None when the profile is not among them (it is
    retired: the other path says so)."""
    first = rows[0]
    profile = next((r for r in rows if r.kind == "profile"), None)
    if profile is None:
        return None
    page = reads.first_of_each_kind(
        (r for r in rows if r.kind != "profile"), lambda r: r.kind, lambda r: r.entry_id, per_kind
    )
    return {
        "reference": first.reference,
        "created_at": first.system_created_at,
        "as_of": None,
        "effective_at": None,
        "retired": False,
        "profile": _row_out(profile),
        "last_profile": None,
        "entries": [_row_out(r) for r in page.shown],
        "more": _more(first.reference, page, per_kind, {}),
    }


def _row_out(row: Any) -> dict[str, Any]:
    return entry_dict(row.entry_id, row.reference, row.kind, row.head_number, row)


@bp.route("/<reference>/reinstate", methods=["POST"], operation_id="reinstateSystem")
@transaction()
@bp.arguments(SystemReinstate)
@bp.response(200, EntryOut, headers=ETAG_HEADER)
@bp.doc(parameters=[IF_MATCH])
@bp.problems(*READ, *BODY, 404, 409, 412, 428)
def reinstate(data: dict[str, Any], reference: str) -> Any:
    """Reinstate a retired system

    A compliance officer brings back a system whose profile is retired: the profile's
    next version (after its retirement) is its last version before it, recorded as
    `entry.reinstate`. `If-Match` carries the ETag of the retirement (the profile's
    current version); 409 when the profile is not retired, and 409 `not_ready` (with
    the unmet areas) when its last stage was production and it is not ready for it: it
    comes back in production, through the readiness gate as a promotion does.
    """
    session = db_session()
    found = reads.get_system(session, reference)
    require(session, current_actor(), "govern", found)  # before the request's conditions
    profile = reads.profile_entry(session, found)
    based_on = base_version(profile.id, lambda: profile.head_number)
    version = writes.reinstate_system(
        session,
        current_actor(),
        found,
        base_version=based_on,
        effective_from=data.get("effective_from"),
        reason=data["reason"],
        gate=check_promotion,
    )
    return entry_out(version.entry, version, written=True), {
        "ETag": etag(profile.id, version.number)
    }


@bp.route("/<reference>/entries", methods=["GET"], operation_id="listEntries")
@bp.arguments(EntryListQuery, location="query", as_kwargs=True)
@bp.response(200, EntryPage, headers=PAGE_HEADERS)
@bp.problems(*READ, 404)
def entries(reference: str, **query: Any) -> Any:
    """A system's entries

    The live entries of every kind (or of `kind`), by id, now or at `as_of`.
    """
    return _entry_page(reference, "api_systems.entries", **query)


def _entry_page(
    reference: str,
    endpoint: str,
    *,
    limit: int,
    kinds: list[str] | None = None,
    kind: str | None = None,
    after: int | None = None,
    as_of: Any = None,
    effective_at: Any = None,
) -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    found = reads.get_system(session, reference)
    rows = entries_in_force(
        session,
        found,
        kinds=[kind] if kind else kinds,
        as_of=as_of,
        effective_at=effective_at,
        after=after,
        limit=limit + 1,
    )
    cursor = rows[limit - 1][0].id if len(rows) > limit else None
    headers = next_link(
        endpoint,
        cursor,
        reference=reference,
        limit=limit,
        kind=kind,
        **_query({"as_of": as_of, "effective_at": effective_at}),
    )
    return {"items": [entry_out(e, v) for e, v in rows[:limit]], "next_cursor": cursor}, headers


@bp.route("/<reference>/entries", methods=["POST"], operation_id="createEntry")
@transaction(idempotent=True)
@bp.arguments(EntryCreate)
@bp.response(201, EntryOut, headers=LOCATION_HEADER)
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@bp.problems(*READ, *BODY, 404, 409)
def add_entry(data: dict[str, Any], reference: str) -> Any:
    """Add an entry

    Adds an entry of any kind but `profile` (a system has one profile: update it).
    """
    session = db_session()
    found = reads.get_system(session, reference)
    return _created(
        session,
        found,
        data["kind"],
        data["body"],
        effective_from=data.get("effective_from"),
        reason=data.get("reason"),
        prefix=("body",),
    )


def _created(
    session: Any,
    found: AISystem,
    kind: str,
    body: Any,
    *,
    effective_from: Any,
    reason: str | None,
    prefix: tuple[str, ...],
) -> Any:
    try:
        version = writes.create_entry(
            session,
            current_actor(),
            found,
            kind,
            body,
            effective_from=effective_from,
            reason=reason,
        )
    except InvalidInput as exc:
        raise body_errors_at(exc, *prefix) from None
    return created_entry(session, version)


def _article(title: str) -> str:
    return f"{'an' if title[:1].lower() in 'aeiou' else 'a'} {title.lower()}"


def _kind_routes(
    kind: str, path: str, title: str, when: str, describe: str, *, operations: tuple[str, str]
) -> None:
    """GET and POST of one kind as a first-class collection of a system. The POST body
    is the entry itself; the version is effective from the body's ``when`` field.
    ``operations`` are the operationIds of the listing and of the creation."""
    component = kind_component(kind)
    schema = KINDS[kind].schema

    def listing(reference: str, **query: Any) -> Any:
        return _entry_page(reference, f"api_systems.{kind}_list", kinds=[kind], **query)

    listing.__doc__ = f"A system's {title}\n\n{describe} Live entries by id, now or at `as_of`."
    listing.__name__ = f"{kind}_list"

    def create(data: dict[str, Any], reference: str) -> Any:
        session = db_session()
        found = reads.get_system(session, reference)
        return _created(
            session,
            found,
            kind,
            data,
            effective_from=None
            if data.get(when) is None
            else dt.datetime.fromisoformat(data[when]),
            reason=f"{KINDS[kind].title} posted over the API",
            prefix=(),
        )

    create.__doc__ = (
        f"Post {_article(KINDS[kind].title)}\n\nThe body is the {KINDS[kind].title.lower()} "
        f"itself (schema {component}); the version takes effect at its `{when}` when given."
    )
    create.__name__ = f"{kind}_create"

    bp.route(
        f"/<reference>/{path}", methods=["GET"], endpoint=f"{kind}_list", operation_id=operations[0]
    )(
        bp.arguments(KindListQuery, location="query", as_kwargs=True)(
            bp.response(200, EntryPage, headers=PAGE_HEADERS)(bp.problems(*READ, 404)(listing))
        )
    )
    bp.route(
        f"/<reference>/{path}",
        methods=["POST"],
        endpoint=f"{kind}_create",
        operation_id=operations[1],
    )(
        transaction(idempotent=True)(
            bp.arguments(schema)(
                bp.response(201, EntryOut, headers=LOCATION_HEADER)(
                    bp.doc(parameters=[IDEMPOTENCY_KEY])(
                        bp.problems(*READ, *BODY, 404, 409)(create)
                    )
                )
            )
        )
    )


_kind_routes(
    "change_log",
    "change-logs",
    "change logs",
    "deployed_at",
    "What changed in the system (model, data, prompt, configuration, …), when and why.",
    operations=("listChangeLogs", "createChangeLog"),
)
_kind_routes(
    "incident",
    "incidents",
    "incidents",
    "detected_at",
    "Incidents: what happened, how serious, containment and reporting (EU AI Act Art 73).",
    operations=("listIncidents", "createIncident"),
)
