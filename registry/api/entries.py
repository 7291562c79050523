"""One entry: read, update (whole or by merge patch), retire, its versions and the diff
of two versions."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from registry.accounts.permissions import require
from registry.api.auth import current_actor
from registry.api.blueprint import (
    BODY,
    ETAG_HEADER,
    IF_MATCH,
    MERGE_PATCH,
    READ,
    Blueprint,
    json_body,
)
from registry.api.conditional import base_version, etag
from registry.api.render import entry_out, version_out
from registry.api.schemas import (
    AsOfQuery,
    DiffOut,
    DiffQuery,
    EntryOut,
    EntryPatchQuery,
    EntryRetire,
    EntryUpdate,
    LedgerAsOfQuery,
    VersionList,
    VersionOut,
)
from registry.api.writes import commit_change, transaction
from registry.errors import InvalidInput, NotFound, PermissionDenied
from registry.extensions import db_session
from registry.readiness.gate import check_promotion
from registry.records import reads, writes
from registry.records.diff import diff_bodies
from registry.records.models import Entry

bp = Blueprint(
    "api_entries",
    __name__,
    tag="Entries",
    url_prefix="/api/v1/entries",
    description="Entries: read, update (whole or by merge patch) and retire with If-Match; "
    "versions and diffs.",
)


def _readable(entry_id: int) -> Entry:
    session = db_session()
    require(session, current_actor(), "read")
    return reads.get_entry(session, entry_id)


@bp.route("/<int:entry_id>", methods=["GET"], operation_id="getEntry")
@bp.arguments(AsOfQuery, location="query", as_kwargs=True)
@bp.response(200, EntryOut, headers=ETAG_HEADER)
@bp.problems(*READ, 404)
def entry(entry_id: int, as_of: Any = None, effective_at: Any = None) -> Any:
    """One entry

    The version in force now (the head, even when it is a retirement), or at `as_of` /
    `effective_at`. The `ETag` names the version shown: send it as `If-Match` to change it.
    """
    found = _readable(entry_id)
    version = reads.version_at(db_session(), found, as_of=as_of, effective_at=effective_at)
    return entry_out(found, version), {"ETag": etag(found.id, version.number)}


def _current(entry_id: int) -> Any:
    return lambda: reads.get_entry(db_session(), entry_id).head_number


def _written(entry_id: int, version: Any) -> Any:
    return entry_out(version.entry, version, written=True), {"ETag": etag(entry_id, version.number)}


@bp.route("/<int:entry_id>", methods=["PUT"], operation_id="updateEntry")
@transaction()
@bp.arguments(EntryUpdate)
@bp.response(200, EntryOut, headers=ETAG_HEADER)
@bp.doc(parameters=[IF_MATCH])
@bp.problems(*READ, *BODY, 404, 409, 412, 428)
def update(data: dict[str, Any], entry_id: int) -> Any:
    """Update an entry

    Records the body as the entry's next version. `If-Match` must carry the ETag of
    the version the change is based on: 428 without it, 412 when another change came
    first (the problem says the current version).
    """
    based_on = base_version(entry_id, _current(entry_id))
    try:
        version = writes.update_entry(
            db_session(),
            current_actor(),
            entry_id,
            data["body"],
            base_version=based_on,
            effective_from=data.get("effective_from"),
            reason=data.get("reason"),
            gate=check_promotion,
        )
    except (InvalidInput, PermissionDenied) as exc:  # field errors point into the body
        exc.body_prefix = ("body",)  # type: ignore[attr-defined]
        raise
    commit_change()
    return _written(entry_id, version)


MERGE_PATCH_BODY = {
    "required": True,
    "description": "A JSON Merge Patch (RFC 7396) of the entry's body: members given "
    "replace the body's, `null` removes a member, objects merge member by member, arrays "
    "and other values replace. The result must be a valid body of the entry's kind.",
    "content": {
        MERGE_PATCH: {
            "schema": {"type": "object"},
            "example": {"alert_routing": "ml-oncall", "log_retention_days": 190},
        }
    },
}


def _merge_patch() -> Any:
    """The request body as JSON: any JSON value is a merge patch (RFC 7396)."""
    return json_body(request.get_data(cache=True))


@bp.route("/<int:entry_id>", methods=["PATCH"], operation_id="patchEntry")
@transaction()
@bp.arguments(EntryPatchQuery, location="query", as_kwargs=True)
@bp.header(IF_MATCH)
@bp.response(200, EntryOut, headers=ETAG_HEADER)
@bp.doc(requestBody=MERGE_PATCH_BODY)
@bp.problems(*READ, *BODY, 404, 409, 412, 428)
def patch(entry_id: int, effective_from: Any = None, reason: Any = None) -> Any:
    """Change fields of an entry

    Applies the JSON Merge Patch in the body (`Content-Type:
    application/merge-patch+json`) to the version named by `If-Match` and records the
    result as the entry's next version, as an update would; `reason` and
    `effective_from` are query parameters. A patch that changes nothing records nothing
    and answers the current version. 428 without `If-Match`, 412 when it is not the
    current version.
    """
    merge_patch = _merge_patch()
    based_on = base_version(entry_id, _current(entry_id))
    version, written = writes.patch_entry(
        db_session(),
        current_actor(),
        entry_id,
        merge_patch,
        base_version=based_on,
        effective_from=effective_from,
        reason=reason,
        gate=check_promotion,
    )
    commit_change()
    if not written:
        return entry_out(version.entry, version), {"ETag": etag(entry_id, version.number)}
    return _written(entry_id, version)


@bp.route("/<int:entry_id>/retire", methods=["POST"], operation_id="retireEntry")
@transaction()
@bp.arguments(EntryRetire)
@bp.response(200, EntryOut, headers=ETAG_HEADER)
@bp.doc(parameters=[IF_MATCH])
@bp.problems(*READ, *BODY, 404, 409, 412, 428)
def retire(data: dict[str, Any], entry_id: int) -> Any:
    """Retire an entry

    Records a retirement (a tombstone version): the entry leaves the system's state
    from `effective_from` on, and its history stays. Needs `If-Match` like an update.
    """
    based_on = base_version(entry_id, _current(entry_id))
    version = writes.retire_entry(
        db_session(),
        current_actor(),
        entry_id,
        base_version=based_on,
        effective_from=data.get("effective_from"),
        reason=data.get("reason"),
    )
    commit_change()
    return _written(entry_id, version)


@bp.route("/<int:entry_id>/versions", methods=["GET"], operation_id="listEntryVersions")
@bp.arguments(LedgerAsOfQuery, location="query", as_kwargs=True)
@bp.response(200, VersionList)
@bp.problems(*READ, 404)
def versions(entry_id: int, as_of: Any = None) -> Any:
    """An entry's history

    Every version, oldest first (those recorded by `as_of` when given).
    """
    found = _readable(entry_id)
    items = reads.versions_until(db_session(), found, as_of)
    if not items:
        raise NotFound(f"Entry {entry_id} did not exist at that time.")
    return {
        "entry_id": found.id,
        "system": found.system.reference,
        "kind": found.kind,
        "items": [version_out(found, v) for v in items],
    }


def _version_known(entry: Entry, number: int, as_of: Any) -> Any:
    version = reads.get_version(db_session(), entry, number)
    if as_of is not None and version.recorded_at > as_of:
        raise NotFound(f"Entry {entry.id} had no version {number} at that time.")
    return version


@bp.route("/<int:entry_id>/versions/<int:number>", methods=["GET"], operation_id="getEntryVersion")
@bp.arguments(LedgerAsOfQuery, location="query", as_kwargs=True)
@bp.response(200, VersionOut, headers=ETAG_HEADER)
@bp.problems(*READ, 404)
def version(entry_id: int, number: int, as_of: Any = None) -> Any:
    """One version

    A version never changes; with `as_of`, only if it had been recorded by then.
    """
    found = _readable(entry_id)
    shown = _version_known(found, number, as_of)
    return version_out(found, shown), {"ETag": etag(found.id, shown.number)}


@bp.route("/<int:entry_id>/diff", methods=["GET"], operation_id="diffEntryVersions")
@bp.arguments(DiffQuery, location="query", as_kwargs=True)
@bp.response(200, DiffOut)
@bp.problems(*READ, 404)
def diff(entry_id: int, from_: int, to: int, as_of: Any = None) -> Any:
    """Diff two versions

    Field by field, with dotted paths (`person.email`, `metrics[0].threshold`).
    """
    found = _readable(entry_id)
    before = _version_known(found, from_, as_of)
    after = _version_known(found, to, as_of)
    changes = diff_bodies(json.loads(before.body), json.loads(after.body))
    return {
        "entry_id": found.id,
        "from": from_,
        "to": to,
        "changes": [
            {"path": c.path, "change": c.change, "before": c.before, "after": c.after}
            for c in changes
        ],
    }
