"""The framework catalogues over REST: each catalogue's identity and licence, its items,
and what in the registry evidences an item (readiness criteria and entry kinds)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, fields, validate

from registry.accounts.permissions import require
from registry.api.auth import current_actor
from registry.api.blueprint import READ, Blueprint
from registry.api.schemas import Strict
from registry.applicability import coverage, oscal
from registry.extensions import db_session
from registry.frameworks.catalogue import ISO_42001, Item, catalogue, catalogues, crosswalk
from registry.instants import UtcInstant
from registry.records import reads

bp = Blueprint(
    "api_frameworks",
    __name__,
    tag="Frameworks",
    url_prefix="/api/v1",
    description="Framework catalogues (EU AI Act, ISO/IEC 42001 Annex A, NIST AI RMF) as "
    "data, the readiness criteria and entry kinds that evidence their items, each system's "
    "coverage and Statements of Applicability.",
)


class FrameworkOut(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    version = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "Where the text is."})
    licence = fields.String(required=True, metadata={"description": "Terms and attribution."})
    item_classes = fields.List(fields.String(), required=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "How many items of each class."},
    )


class FrameworkList(Schema):
    items = fields.List(fields.Nested(FrameworkOut), required=True)


class ItemOut(Schema):
    catalogue = fields.String(required=True)
    id = fields.String(required=True)
    ref = fields.String(required=True, metadata={"description": "As the source cites it."})
    item_class = fields.String(required=True, data_key="class")
    title = fields.String(required=True)
    summary = fields.String(required=True)
    parent = fields.String(required=True, allow_none=True)
    group = fields.String(required=True, allow_none=True)
    roles = fields.List(fields.String(), required=True)
    tiers = fields.List(fields.String(), required=True)
    criteria = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The readiness criteria whose findings evidence the item."},
    )
    kinds = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The entry kinds whose entries evidence the item."},
    )


class FrameworkDetail(FrameworkOut):
    items = fields.List(fields.Nested(ItemOut), required=True)


class ItemDetail(ItemOut):
    children = fields.List(fields.Nested(ItemOut), required=True)


def item_out(item: Item) -> dict[str, Any]:
    walk = crosswalk()
    return {**item.to_dict(), "criteria": walk.criteria_of(item), "kinds": walk.kinds_of(item)}


def _reader() -> None:
    require(db_session(), current_actor(), "read")


@bp.route("/frameworks", methods=["GET"], operation_id="listFrameworks")
@bp.response(200, FrameworkList)
@bp.problems(*READ)
def index() -> Any:
    """List frameworks

    The catalogues the registry ships, each with its version, source and licence.
    """
    _reader()
    return {"items": [c.summary() for c in catalogues().values()]}


@bp.route("/frameworks/<framework>", methods=["GET"], operation_id="getFramework")
@bp.response(200, FrameworkDetail)
@bp.problems(*READ, 404)
def framework(framework: str) -> Any:
    """One framework

    The catalogue and every item in it, each with what evidences it.
    """
    _reader()
    found = catalogue(framework)
    return {**found.summary(), "items": [item_out(i) for i in found.items]}


@bp.route("/frameworks/<framework>/items/<item>", methods=["GET"], operation_id="getFrameworkItem")
@bp.response(200, ItemDetail)
@bp.problems(*READ, 404)
def framework_item(framework: str, item: str) -> Any:
    """One item of a framework

    An obligation, control or subcategory: its summary, the items under it, and the
    readiness criteria and entry kinds that evidence it.
    """
    _reader()
    found = catalogue(framework)
    chosen = found.item(item)
    return {**item_out(chosen), "children": [item_out(i) for i in found.children(chosen.id)]}


def _as_of() -> UtcInstant:
    return UtcInstant(
        metadata={
            "description": "Assess as the registry stood at this instant (ISO 8601 with a "
            "time zone): what had been recorded by then, as in effect then. Default: now."
        },
    )


class OrganisationQuery(Strict):
    as_of = _as_of()


class CoverageQuery(Strict):
    as_of = _as_of()
    framework = fields.String(
        validate=validate.OneOf(tuple(catalogues())),
        metadata={"description": "Only this framework (default: every one)."},
    )


class StatementQuery(Strict):
    as_of = _as_of()
    framework = fields.String(
        load_default=ISO_42001,
        validate=validate.OneOf(tuple(catalogues())),
        metadata={"description": "The framework (default: ISO/IEC 42001)."},
    )


class CoverageItemOut(Schema):
    framework = fields.String(required=True)
    item = fields.String(required=True)
    ref = fields.String(required=True)
    title = fields.String(required=True)
    proposed = fields.Dict(required=True, metadata={"description": "applicable, reason"})
    decision = fields.Dict(
        required=True, allow_none=True, metadata={"description": "The officer's decision."}
    )
    applicable = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(coverage.STATUSES))
    criteria = fields.List(fields.Dict(), required=True)
    evidence = fields.List(fields.Dict(), required=True)


class FrameworkCoverageOut(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    version = fields.String(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    items = fields.List(fields.Nested(CoverageItemOut), required=True)


class CoverageOut(Schema):
    system = fields.String(required=True)
    at = fields.String(required=True)
    frameworks = fields.List(fields.Nested(FrameworkCoverageOut), required=True)


class StatementOut(Schema):
    system = fields.String(required=True)
    at = fields.String(required=True)
    framework = fields.String(required=True)
    title = fields.String(required=True)
    version = fields.String(required=True)
    items = fields.List(fields.Dict(), required=True)


class OrganisationStatementOut(Schema):
    at = fields.String(required=True)
    framework = fields.String(required=True)
    systems = fields.List(fields.String(), required=True)
    items = fields.List(fields.Dict(), required=True)


def _now(as_of: dt.datetime | None) -> dt.datetime:
    return as_of or dt.datetime.now(dt.UTC)


@bp.route("/systems/<reference>/coverage", methods=["GET"], operation_id="getCoverage")
@bp.arguments(CoverageQuery, location="query", as_kwargs=True)
@bp.response(200, CoverageOut)
@bp.problems(*READ, 404)
def system_coverage(
    reference: str, as_of: dt.datetime | None = None, framework: str | None = None
) -> Any:
    """A system's coverage of the frameworks

    Every item of every framework (or of `framework`): whether it applies (the
    registry's proposal from role, risk tier, Annex III area and stage, or the
    compliance officer's `applicability` decision), and `met`, `partial`, `missing` or
    `not_applicable` from the readiness criteria and entries that evidence it, as the
    registry stood at `as_of`.
    """
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    chosen = (framework,) if framework else ()
    return coverage.assess(session, system, _now(as_of), chosen).to_dict(framework)


@bp.route(
    "/systems/<reference>/statement-of-applicability",
    methods=["GET"],
    operation_id="getStatementOfApplicability",
)
@bp.arguments(StatementQuery, location="query", as_kwargs=True)
@bp.response(200, StatementOut)
@bp.problems(*READ, 404)
def system_statement(reference: str, framework: str, as_of: dt.datetime | None = None) -> Any:
    """A system's Statement of Applicability

    Every item of the framework, whether it applies, the justification (the decision's,
    or the proposal's reason when none is recorded) and the entry versions that
    implement it.
    """
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    found = coverage.assess(session, system, _now(as_of), (framework,))
    return coverage.statement(found, framework)


@bp.route(
    "/statement-of-applicability",
    methods=["GET"],
    operation_id="getOrganisationStatementOfApplicability",
)
@bp.arguments(CoverageQuery, location="query", as_kwargs=True)
@bp.response(200, OrganisationStatementOut)
@bp.problems(*READ)
def organisation_statement(as_of: dt.datetime | None = None, framework: str | None = None) -> Any:
    """The organisation's ISO/IEC 42001 Statement of Applicability

    Every Annex A control over the systems in the register at `as_of`: applicable when
    it applies to any of them, met when met for every system it applies to, with each
    system's decision, justification and implementing entry versions.
    """
    session = db_session()
    require(session, current_actor(), "read")
    return coverage.organisation_statement(session, _now(as_of))


class OscalAssessmentResultsOut(Schema):
    assessment_results = fields.Dict(
        required=True,
        data_key="assessment-results",
        metadata={"description": "OSCAL 1.1 assessment results (NIST's JSON model)."},
    )


class OscalCatalogOut(Schema):
    catalog = fields.Dict(
        required=True, metadata={"description": "An OSCAL 1.1 catalog (NIST's JSON model)."}
    )


@bp.route(
    "/systems/<reference>/oscal/assessment-results",
    methods=["GET"],
    operation_id="getOscalAssessmentResults",
)
@bp.arguments(OrganisationQuery, location="query", as_kwargs=True)
@bp.response(200, OscalAssessmentResultsOut)
@bp.problems(*READ, 404)
def oscal_assessment_results(reference: str, as_of: dt.datetime | None = None) -> Any:
    """A system's coverage as OSCAL assessment results

    One result per framework, a finding per item (satisfied or not, why, the
    implementation status), observations citing the entry versions that evidence it,
    and back-matter resources linking each version and the ledger event that recorded
    it, as the registry stood at `as_of`.
    """
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    return oscal.system_assessment_results(session, system, _now(as_of))


@bp.route("/frameworks/<framework>/oscal", methods=["GET"], operation_id="getOscalCatalog")
@bp.response(200, OscalCatalogOut)
@bp.problems(*READ, 404)
def oscal_catalog(framework: str) -> Any:
    """A framework as an OSCAL catalog"""
    _reader()
    catalogue(framework)  # 404 for no such framework
    return oscal.oscal_catalog(framework)
