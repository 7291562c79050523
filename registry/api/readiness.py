"""Readiness: a system's scorecard, the check a deployment pipeline runs, and a
compliance officer's approval of a promotion."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, fields, validate

from registry.accounts.permissions import require as allowed
from registry.api.auth import current_actor
from registry.api.blueprint import BODY, IDEMPOTENCY_KEY, LOCATION_HEADER, READ, Blueprint
from registry.api.render import created_entry
from registry.api.schemas import EntryOut, Strict
from registry.api.writes import transaction
from registry.extensions import db_session
from registry.instants import UtcInstant
from registry.readiness import evaluate
from registry.readiness.approvals import approve_promotion
from registry.readiness.gate import PromotionRefused
from registry.records import reads
from registry.text import storable

bp = Blueprint(
    "api_readiness",
    __name__,
    tag="Readiness",
    url_prefix="/api/v1/systems",
    description="Production readiness: the ten-area scorecard, the promotion check, approvals.",
)


class ReadinessQuery(Strict):
    at = UtcInstant(
        metadata={
            "description": "Score the system as it stood at this instant (ISO 8601 with a "
            "time zone): what had been recorded by then, as in effect then. Default: now."
        },
    )
    require = fields.String(
        validate=validate.OneOf(("production",)),
        metadata={
            "description": "Answer 409 (code not_ready, with the unmet areas) unless the "
            "system is ready for this stage: what a deployment pipeline asks."
        },
    )


class ApprovalCreate(Strict):
    notes = fields.String(
        validate=[validate.Length(max=10_000), storable],
        metadata={"description": "What the approver wants on record with the approval."},
    )


def _evidence() -> fields.List:
    return fields.List(fields.Dict(), required=True)


class CriterionOut(Schema):
    key = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("met", "partial", "missing")))
    explanation = fields.String(required=True)
    evidence = _evidence()
    documents = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "The stored documents the criterion rests on (sha256, …)."},
    )


class AreaOut(Schema):
    key = fields.String(required=True)
    title = fields.String(required=True)
    question = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(("met", "partial", "missing", "waived"))
    )
    criteria = fields.List(fields.Nested(CriterionOut), required=True)
    waiver = fields.Dict(allow_none=True, required=True)
    frameworks = fields.Dict(required=True)


class AnswerOut(Schema):
    key = fields.String(required=True)
    question = fields.String(required=True)
    answer = fields.String(required=True, metadata={"description": "Or `not answered`."})
    evidence = _evidence()


class ScorecardOut(Schema):
    system = fields.String(required=True)
    at = fields.String(required=True)
    stage = fields.String(allow_none=True, required=True)
    ready = fields.Boolean(required=True)
    unmet = fields.List(fields.String(), required=True)
    areas = fields.List(fields.Nested(AreaOut), required=True)
    questions = fields.List(fields.Nested(AnswerOut), required=True)
    reviews_due = fields.List(fields.Dict(), required=True)
    approval = fields.Dict(required=True)


@bp.route("/<reference>/readiness", methods=["GET"], operation_id="getReadiness")
@bp.arguments(ReadinessQuery, location="query", as_kwargs=True)
@bp.response(200, ScorecardOut)
@bp.problems(*READ, 404, 409)
def readiness(reference: str, at: dt.datetime | None = None, require: str | None = None) -> Any:
    """A system's readiness scorecard

    The ten areas, each criterion met / partial / missing with the entry versions it
    looked at, waivers in force, the five questions before scaling, reviews falling due
    and the promotion approval (current, stale or none). With `require=production`,
    409 (`not_ready`) lists the unmet areas, so a pipeline can block a rollout. At an
    instant when the system was not in the register (before it was registered): 404,
    as its state read then answers.
    """
    session = db_session()
    allowed(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    if at is not None:
        reads.require_in_register(session, system, as_of=at, effective_at=at)
    scorecard = evaluate(session, system, at or dt.datetime.now(dt.UTC))
    if require == "production" and not scorecard.ready:
        raise PromotionRefused(scorecard)
    return scorecard.to_dict()


@bp.route("/<reference>/approvals", methods=["POST"], operation_id="approvePromotion")
@transaction(idempotent=True)
@bp.arguments(ApprovalCreate)
@bp.response(201, EntryOut, headers=LOCATION_HEADER)
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@bp.problems(*READ, *BODY, 404, 409)
def approve(data: dict[str, Any], reference: str) -> Any:
    """Approve the promotion to production

    A compliance officer's approval, bound to the hash of every entry version the
    scorecard relies on now; any later change to one of them makes it stale until
    approved again (the same approval entry's next version). 409 when not ready.
    """
    session = db_session()
    actor = current_actor()
    system = reads.get_system(session, reference)
    allowed(session, actor, "approve", system)
    version = approve_promotion(session, actor, system, notes=data.get("notes"))
    return created_entry(session, version)
