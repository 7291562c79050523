"""The entry kinds: one marshmallow schema each, the allow-list of what may be recorded.

Adding a kind is a schema here (and, later, a template), never a new table. Every
schema rejects unknown fields, checks types, enums, lengths and dates, and normalises
the body to JSON values (dates as ISO 8601 text, instants in UTC). Version metadata
(``effective_from``, ``reason``) is not part of the body: it travels beside it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from registry.db import MAX_ID
from registry.frameworks.catalogue import catalogues
from registry.instants import UtcInstant
from registry.ledger.canonical import instant_text
from registry.text import text_problem

SHORT = 200
MEDIUM = 2_000
LONG = 10_000
MAX_ITEMS = 100

SHA256 = validate.Regexp(
    r"^[0-9a-f]{64}$", error="Must be a lowercase hex SHA-256 (64 characters)."
)
REFERENCE = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
    error="Use letters, digits, '.', '_' or '-', starting with a letter or digit.",
)

STAGES = ("proposed", "pilot", "production", "retired")
# The ten areas of the readiness scorecard (registry/readiness/criteria.py describes each;
# a test holds the two lists together). Named here so a waiver can name its area.
READINESS_AREAS = (
    "business_ownership",
    "technical_ownership",
    "data_readiness",
    "integration_readiness",
    "user_adoption",
    "risk_controls",
    "auditability",
    "monitoring",
    "failure_handling",
    "lifecycle_funding",
)
RISK_TIERS = ("prohibited", "high", "limited", "minimal", "unclassified")


def risk_tier(profile: Mapping[str, Any]) -> str:
    """A profile's EU AI Act risk tier: ``unclassified`` until one is recorded (the
    systems list's filter reads it the same way, in SQL: records.search)."""
    tier = profile.get("risk_tier")
    return tier if isinstance(tier, str) and tier in RISK_TIERS else "unclassified"


# How people read a field's name, wherever it is shown (forms, pages, evidence.pdf).
# A name not listed here reads as its words: "authority_scope" -> "Authority scope".
LABELS = {
    "annex_iii_area": "Annex III area",
    "art_6_3_rationale": "Art 6(3) rationale",
    "dpia_status": "DPIA status",
    "dpia_reference": "DPIA reference",
    "fria_reference": "FRIA reference",
    "eu_database_reference": "EU database reference",
    "external_reference": "External reference (URL)",
    "sha256": "SHA-256",
    "uri": "URI",
    "user_id": "User id",
    "procedure_entry_id": "Procedure followed (entry id)",
    "system_version_hash": "System version hash (SHA-256)",
    "snapshot_hash": "Snapshot hash (SHA-256)",
    "email": "E-mail",
}


def label(name: str) -> str:
    """The label of a body field, by its name (the same in every kind)."""
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def text(max_len: int = SHORT, **kw: Any) -> fields.String:
    kw.setdefault("allow_none", not kw.get("required", False))
    return fields.String(validate=validate.Length(max=max_len), **kw)


NOT_EMPTY = validate.Length(min=1, error="Must not be empty.")


def required_text(max_len: int = SHORT) -> fields.String:
    return fields.String(required=True, validate=[NOT_EMPTY, validate.Length(max=max_len)])


def choice(options: tuple[str, ...], **kw: Any) -> fields.String:
    kw.setdefault("allow_none", not kw.get("required", False))
    return fields.String(validate=validate.OneOf(options), **kw)


def text_list(max_len: int = SHORT, **kw: Any) -> fields.List:
    kw.setdefault("allow_none", not kw.get("required", False))
    kw.setdefault("validate", validate.Length(max=MAX_ITEMS))
    return fields.List(fields.String(validate=[NOT_EMPTY, validate.Length(max=max_len)]), **kw)


class IsoDate(fields.Date):
    """A calendar date, loaded as its ISO 8601 text (the body is JSON)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


def date(**kw: Any) -> IsoDate:
    kw.setdefault("allow_none", not kw.get("required", False))
    return IsoDate(**kw)


class Instant(UtcInstant):
    """An ISO 8601 instant with a time zone, loaded as ISO 8601 text in UTC. Text of
    one form compares in time order, so validators may compare the loaded values."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("allow_none", not kw.get("required", False))
        super().__init__(**kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        instant = super()._deserialize(value, attr, data, **kwargs)
        return instant_text(instant)


class JsonBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only: marshmallow's Boolean also takes 1, 0 and
    text such as "yes", which a JSON body never means as a truth value."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Money(fields.Decimal):
    """An amount, exact: given as a JSON number or decimal text, kept as text."""


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _not_before(data: dict[str, Any], later: str, earlier: str) -> None:
    a, b = data.get(earlier), data.get(later)
    if a is not None and b is not None and b < a:
        raise ValidationError(f"Must not be before {earlier}.", later)


class Person(StrictSchema):
    name = required_text()
    email = fields.Email(required=True, validate=validate.Length(max=254))
    user_id = fields.Integer(allow_none=True, strict=True, validate=validate.Range(1, MAX_ID))


class Attachment(StrictSchema):
    name = required_text()
    sha256 = fields.String(required=True, validate=SHA256)
    uri = text(MEDIUM)
    media_type = text(100)
    size = fields.Integer(allow_none=True, strict=True, validate=validate.Range(0, 2**53 - 1))


def stored_attachments(clean: Mapping[str, Any]) -> set[str]:
    """The SHA-256s of a body's attachments that name a stored document: those without
    a URI (an attachment with a URI is an external reference, held elsewhere)."""
    return {a["sha256"] for a in clean.get("attachments") or [] if not a.get("uri")}


def unheld_attachments(
    clean: Mapping[str, Any], before: Mapping[str, Any], held: Any
) -> dict[str, Any]:
    """Field errors for each attachment naming a stored document the system does not
    hold (``held``: the SHA-256s it holds), unless the entry's head already lists it
    (it stands as recorded)."""
    kept = {a.get("sha256") for a in before.get("attachments") or []}
    wrong = {
        i: {
            "sha256": [
                "No document with this SHA-256 is stored for this system: upload it "
                "first, or give the URI of an external reference."
            ]
        }
        for i, a in enumerate(clean.get("attachments") or [])
        if not a.get("uri") and a["sha256"] not in held and a["sha256"] not in kept
    }
    return {"attachments": wrong} if wrong else {}


def _unstorable_text(value: Any) -> Any:
    """The messages, shaped as marshmallow's (by field, by index), for every text in
    ``value`` that no database can store (registry.text), or None when there is none."""
    if isinstance(value, str):
        problem = text_problem(value)
        return [problem] if problem else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    found = {}
    for key, item in items:
        messages = _unstorable_text(item)
        if messages is not None:
            found[key] = messages
    return found or None


class KindSchema(StrictSchema):
    """Fields every kind carries."""

    attachments = fields.List(
        fields.Nested(Attachment), allow_none=True, validate=validate.Length(max=MAX_ITEMS)
    )

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _storable_text(self, _: Any, original: Any, **__: Any) -> None:
        # One rule for every text of every kind: plain text, enumerations, e-mail
        # addresses, list items and nested objects alike.
        messages = _unstorable_text(original)
        if messages is not None:
            raise ValidationError(messages if isinstance(messages, dict) else {"_schema": messages})


class ProfileSchema(KindSchema):
    name = required_text()
    reference = fields.String(
        required=True, validate=[NOT_EMPTY, validate.Length(max=100), REFERENCE]
    )
    purpose = text(LONG)
    known_misuse = text(LONG)
    stage = choice(STAGES, required=True)
    risk_tier = choice(RISK_TIERS)
    annex_iii_area = text()
    art_6_3_rationale = text(LONG)
    role = choice(("provider", "deployer", "both"))
    deployment_context = text(LONG)
    affected_persons = text(MEDIUM)
    organisation = text()
    provider = text()
    model = text()
    business_value = text(LONG)
    lawful_basis = text(LONG)
    dpia_status = choice(("done", "not_done", "unknown"))
    dpia_reference = text(MEDIUM)
    fria_reference = text(MEDIUM)
    eu_database_reference = text()
    external_reference = fields.Url(allow_none=True, validate=validate.Length(max=MEDIUM))
    register_added_on = date()
    register_updated_on = date()
    # A profile that mirrors a public register kept by another organisation (e.g. the
    # Dutch algorithm register): its stage is as published there, so the promotion gate
    # does not apply to it. Only a compliance officer may set or change this.
    mirrors_register = text()

    @validates_schema
    def _art_6_3(self, data: dict[str, Any], **_: Any) -> None:
        # Art 6(3): an Annex III system claimed not high-risk must say why.
        if (
            data.get("annex_iii_area")
            and data.get("risk_tier") not in (None, "high", "prohibited", "unclassified")
            and not data.get("art_6_3_rationale")
        ):
            raise ValidationError(
                "An Annex III system classified below high-risk needs the Art 6(3) rationale.",
                "art_6_3_rationale",
            )


class OwnerSchema(KindSchema):
    role = choice(("business", "technical", "oversight", "dpo"), required=True)
    person = fields.Nested(Person, required=True)
    authority_scope = text(MEDIUM)
    start = date()
    end = date()
    delegate = fields.Nested(Person, allow_none=True)
    escalation_contact = fields.Nested(Person, allow_none=True)

    @validates_schema
    def _term(self, data: dict[str, Any], **_: Any) -> None:
        _not_before(data, "end", "start")


class DataSourceSchema(KindSchema):
    name = required_text()
    steward = fields.Nested(Person, allow_none=True)
    uses = fields.List(
        fields.String(
            validate=validate.OneOf(("training", "validation", "test", "input", "reference"))
        ),
        required=True,
        validate=[NOT_EMPTY, validate.Length(max=5)],
    )
    origin = text(MEDIUM)
    original_purpose = text(MEDIUM)
    personal_data_categories = text_list()
    special_categories = text_list()
    lawful_basis = text(MEDIUM)
    preparation = text(LONG)
    quality_notes = text(LONG)
    representativeness_notes = text(LONG)
    known_bias = text(LONG)
    gaps = text(LONG)
    provenance = text(MEDIUM)
    snapshot_hash = fields.String(allow_none=True, validate=SHA256)
    supplier = text()
    licence = text()
    retention = text(MEDIUM)
    recipients = text_list()
    transfers = text(MEDIUM)


class AccessGrantSchema(KindSchema):
    principal = required_text()
    principal_type = choice(("person", "group", "service"), required=True)
    resource = choice(("system", "data_source", "logs", "configuration"), required=True)
    resource_ref = text()
    permission = required_text(100)
    purpose = text(MEDIUM)
    approver = text()
    granted_at = Instant()
    expires_at = Instant()
    next_recertification = date()
    revoked_at = Instant()
    can_override = JsonBoolean(allow_none=True)
    can_stop = JsonBoolean(allow_none=True)

    @validates_schema
    def _times(self, data: dict[str, Any], **_: Any) -> None:
        _not_before(data, "expires_at", "granted_at")
        _not_before(data, "revoked_at", "granted_at")


class ReviewProcedureSchema(KindSchema):
    type = choice(
        ("human_oversight", "periodic", "validation", "dpia_refresh", "access_recertification"),
        required=True,
    )
    trigger = text(MEDIUM)
    frequency_days = fields.Integer(allow_none=True, strict=True, validate=validate.Range(1, 3650))
    reviewer_role = text()
    criteria = text(LONG)
    evidence_required = text(LONG)
    stop_mechanism = text(MEDIUM)


class ReviewSchema(KindSchema):
    # The review procedure followed: another entry of the same system, by its id.
    procedure_entry_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"refers_to": "review_procedure"},
    )
    system_version_hash = fields.String(allow_none=True, validate=SHA256)
    performed_on = date(required=True)
    reviewers = text_list(required=True, validate=[NOT_EMPTY, validate.Length(max=MAX_ITEMS)])
    findings = text(LONG)
    decision = choice(("approve", "conditional", "reject", "suspend"), required=True)
    actions = text_list(MEDIUM)
    next_due = date()

    @validates_schema
    def _due(self, data: dict[str, Any], **_: Any) -> None:
        _not_before(data, "next_due", "performed_on")


class IncidentProcedureSchema(KindSchema):
    severity_classes = text_list()
    intake_channel = text(MEDIUM)
    triage = text(LONG)
    escalation_path = text_list(MEDIUM)
    fallback = text(MEDIUM)
    kill_switch = text(MEDIUM)
    communication_duties = text(LONG)
    regulator_contacts = text_list()
    deadlines = text(MEDIUM)


# EU AI Act Art 73: days to report a serious incident after becoming aware of it, by
# its class (Art 73(3), (4), (2)); the classes an incident's ``serious_category`` takes.
ART_73_DAYS = {"widespread_or_critical_infrastructure": 2, "death": 10, "other": 15}


def art_73_deadline(body: Mapping[str, Any]) -> dt.datetime | None:
    """The Art 73 reporting deadline of an incident body (its days after becoming aware,
    or after detection when no awareness is recorded); None unless serious."""
    if not body.get("serious"):
        return None
    aware = body.get("became_aware_at") or body.get("detected_at")
    if not aware:
        return None
    days = ART_73_DAYS[body.get("serious_category") or "other"]
    return dt.datetime.fromisoformat(aware) + dt.timedelta(days=days)


class IncidentSchema(KindSchema):
    # The incident procedure followed (an incident_procedure entry of the same system).
    procedure_entry_id = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"refers_to": "incident_procedure"},
    )
    title = required_text()
    detected_at = Instant(required=True)
    became_aware_at = Instant()
    severity = required_text(50)
    serious = JsonBoolean(allow_none=True)
    # Art 73(3)/(4)/(2): the class decides the reporting deadline (ART_73_DAYS).
    serious_category = choice(tuple(ART_73_DAYS))
    description = text(LONG)
    affected_persons = text(MEDIUM)
    containment = text(LONG)
    status = choice(("open", "contained", "resolved", "closed"), required=True)
    root_cause = text(LONG)
    corrective_actions = text_list(MEDIUM)
    reported_at = Instant()

    @validates_schema
    def _times(self, data: dict[str, Any], **_: Any) -> None:
        _not_before(data, "became_aware_at", "detected_at")
        if data.get("serious_category") and not data.get("serious"):
            raise ValidationError(
                "Only a serious incident has a serious category.", "serious_category"
            )


class ChangeLogSchema(KindSchema):
    change_type = choice(
        ("model", "data", "prompt", "config", "code", "purpose", "owner"), required=True
    )
    summary = required_text(MEDIUM)
    from_version = text(100)
    to_version = text(100)
    rationale = text(LONG)
    test_evidence = text(LONG)
    approver = text()
    deployed_at = Instant()
    rollback_plan = text(LONG)
    substantial_modification = JsonBoolean(allow_none=True)
    substantial_modification_rationale = text(LONG)


class Metric(StrictSchema):
    name = required_text()
    category = choice(
        ("accuracy", "drift", "fairness", "latency", "adoption", "other"), required=True
    )
    threshold = fields.Float(allow_none=True, allow_nan=False)
    # Whether crossing the threshold from above ("min") or below ("max") raises the alert.
    direction = choice(("min", "max"))
    unit = text(50)


class MonitoringPlanSchema(KindSchema):
    metrics = fields.List(
        fields.Nested(Metric), required=True, validate=validate.Length(max=MAX_ITEMS)
    )
    data_sources = text_list()
    log_sources = text_list()
    log_retention_days = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(0, 36500)
    )
    frequency = text(100)
    alert_routing = text(MEDIUM)
    escalation_to_incident = text(MEDIUM)
    decommission_triggers = text_list(MEDIUM)
    review_frequency_days = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(1, 3650)
    )


class IntegrationSchema(KindSchema):
    name = required_text()
    connects_to = required_text(MEDIUM)
    method = text(MEDIUM)
    data_exchanged = text(MEDIUM)
    fallback = text(MEDIUM)
    owner = text()
    status = choice(("planned", "tested", "live", "retired"))


class AdoptionPlanSchema(KindSchema):
    user_groups = text_list(required=True, validate=[NOT_EMPTY, validate.Length(max=MAX_ITEMS)])
    training = text(LONG)
    guidance = text(LONG)
    support_pathway = text(MEDIUM)
    escalation_pathway = text(MEDIUM)
    success_metric = text(MEDIUM)
    success_threshold = text()
    launch_date = date()


class FundingSchema(KindSchema):
    funder = required_text()
    budget = Money(
        allow_none=True, as_string=True, places=2, validate=validate.Range(min=0, max=10**15)
    )
    currency = fields.String(
        allow_none=True,
        validate=validate.Regexp(
            r"^[A-Z]{3}$", error="Use a three-letter ISO 4217 code, e.g. EUR."
        ),
    )
    covers = fields.List(
        fields.String(validate=validate.OneOf(("run", "improve", "monitor", "decommission"))),
        allow_none=True,
        validate=validate.Length(max=4),
    )
    period = text(100)
    start = date()
    end = date()

    @validates_schema
    def _term(self, data: dict[str, Any], **_: Any) -> None:
        _not_before(data, "end", "start")

    @post_load
    def _budget_as_text(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # The exact amount as text: a JSON number could round it.
        if data.get("budget") is not None:
            data["budget"] = format(data["budget"], "f")
        return data


LEVELS = ("low", "medium", "high", "critical")


class RiskSchema(KindSchema):
    title = required_text()
    description = text(LONG)
    likelihood = choice(("rare", "unlikely", "possible", "likely", "almost_certain"), required=True)
    impact = choice(("negligible", "minor", "moderate", "major", "severe"), required=True)
    control = text(LONG)
    residual_risk = choice(LEVELS)
    owner = text()
    accepted_by = text()
    accepted_on = date()


class WaiverSchema(KindSchema):
    """A readiness area knowingly accepted as not met, until it expires."""

    area = choice(READINESS_AREAS, required=True)
    justification = required_text(LONG)
    approver = fields.Nested(Person, required=True)
    approved_on = date(required=True)
    expires_at = Instant(required=True)
    conditions = text(LONG)


class ApplicabilitySchema(KindSchema):
    """A compliance officer's decision whether one item of a framework catalogue applies
    to the system, and why: the line of a Statement of Applicability."""

    framework = choice(tuple(catalogues()), required=True)
    item = required_text()
    applicable = JsonBoolean(required=True)
    justification = required_text(LONG)
    decided_by = fields.Nested(Person, required=True)
    decided_on = date(required=True)

    @validates_schema
    def _item_exists(self, data: dict[str, Any], **_: Any) -> None:
        framework, item = data.get("framework"), data.get("item")
        if framework in catalogues() and item and item not in catalogues()[framework].by_id:
            raise ValidationError(f"{framework} has no item {item!r}.", "item")


class EvidenceRef(StrictSchema):
    """One entry version an approval relied on, by its hash."""

    entry_id = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_ID))
    kind = text(32)
    version = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_ID))
    hash = fields.String(required=True, validate=SHA256)


class ApprovalSchema(KindSchema):
    """A compliance officer's approval of a promotion, bound to the entry versions the
    scorecard looked at: a later change to any of them makes the approval stale."""

    to_stage = choice(("production",), required=True)
    approver = fields.Nested(Person, required=True)
    approved_at = Instant(required=True)
    evidence = fields.List(
        fields.Nested(EvidenceRef), required=True, validate=validate.Length(max=2_000)
    )
    notes = text(LONG)


# A system's classification: what it is under the AI Act (risk tier, Annex III area, the
# Art 6(3) rationale for classing an Annex III system below high-risk, provider or
# deployer role) and where it stands (stage, the mark of mirroring another register).
# Each decides which obligations apply, so only a compliance officer changes them.
CLASSIFICATION = (
    "risk_tier",
    "annex_iii_area",
    "art_6_3_rationale",
    "role",
    "stage",
    "mirrors_register",
)


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    schema: type[KindSchema]
    label_field: str
    one_per_system: bool = False
    # Kinds only a compliance officer may write: waivers and approvals.
    officer_only: bool = False
    # Fields only a compliance officer may change (the system's classification), and
    # whether only a compliance officer may retire (and reinstate) an entry of the kind.
    officer_fields: tuple[str, ...] = ()
    officer_retires: bool = False
    # A field listing entry versions (entry_id, version, hash) that must be versions of
    # entries of the same system with that hash.
    cites_versions: str | None = None

    @property
    def refers_to(self) -> tuple[tuple[str, str], ...]:
        """The fields naming another entry, which must be a live entry of the given kind
        in the same system: declared on the schema's field (``metadata={"refers_to":
        kind}``), which the pages and the PDF read too."""
        return _references(self.schema)


@functools.cache
def _references(schema: type[KindSchema]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, f.metadata["refers_to"])
        for name, f in schema().fields.items()
        if "refers_to" in f.metadata
    )


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "profile",
            "Profile",
            ProfileSchema,
            "name",
            one_per_system=True,
            officer_fields=CLASSIFICATION,
            officer_retires=True,
        ),
        Kind("owner", "Owner", OwnerSchema, "role"),
        Kind("data_source", "Data source", DataSourceSchema, "name"),
        Kind("access_grant", "Access grant", AccessGrantSchema, "principal"),
        Kind("review_procedure", "Review procedure", ReviewProcedureSchema, "type"),
        Kind("review", "Review", ReviewSchema, "performed_on"),
        Kind("incident_procedure", "Incident procedure", IncidentProcedureSchema, "intake_channel"),
        Kind("incident", "Incident", IncidentSchema, "title"),
        Kind("change_log", "Change log", ChangeLogSchema, "summary"),
        Kind("monitoring_plan", "Monitoring plan", MonitoringPlanSchema, "frequency"),
        Kind("integration", "Integration", IntegrationSchema, "name"),
        Kind("adoption_plan", "Adoption plan", AdoptionPlanSchema, "success_metric"),
        Kind("funding", "Funding", FundingSchema, "funder"),
        Kind("risk", "Risk", RiskSchema, "title"),
        Kind("waiver", "Waiver", WaiverSchema, "area", officer_only=True),
        Kind(
            "applicability",
            "Applicability decision",
            ApplicabilitySchema,
            "item",
            officer_only=True,
            officer_retires=True,
        ),
        Kind(
            "approval",
            "Promotion approval",
            ApprovalSchema,
            "approved_at",
            officer_only=True,
            cites_versions="evidence",
        ),
    )
}


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


@functools.cache
def _schema(kind: str) -> KindSchema:
    """One schema instance per kind: building a schema costs more than using it."""
    return KINDS[kind].schema()


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValidationError(
            f"Unknown kind {name!r}; expected one of: {', '.join(KINDS)}.", "kind"
        ) from None


def normalise_body(kind: str, data: Any) -> dict[str, Any]:
    """Validate ``data`` as a body of ``kind``; return it as plain JSON values (every
    field loads to JSON text, numbers, booleans, lists or objects).

    Raises :class:`marshmallow.ValidationError` with per-field messages.
    """
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", "_schema")
    schema = _schema(get_kind(kind).name)
    loaded = schema.load(data)
    return _drop_none(loaded)
