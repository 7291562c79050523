"""The API's input and output schemas (separate: a body is never set onto a model).

Entry bodies are validated by the entry kind's own schema in ``records.kinds``; the
OpenAPI document names each kind's schema as a component, so a client sees exactly
which fields each kind takes.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from registry.accounts.service import MAX_TOKEN_DAYS, TOKEN_SCOPES
from registry.db import MAX_ID
from registry.instants import UtcInstant
from registry.records.inputs import MAX_REASON
from registry.records.kinds import KINDS, RISK_TIERS, STAGES, JsonBoolean
from registry.records.reads import PER_KIND
from registry.records.search import MAX_NEEDLE, MAX_PAGE
from registry.text import storable

KIND_NAMES = tuple(KINDS)


def kind_component(kind: str) -> str:
    """The name of a kind's schema in the OpenAPI document (``DataSource``, …)."""
    return KINDS[kind].schema.__name__.removesuffix("Schema")


def _any_kind(description: str) -> fields.Dict:
    return fields.Dict(
        required=True,
        metadata={
            "description": description,
            "oneOf": [{"$ref": f"#/components/schemas/{kind_component(k)}"} for k in KINDS],
        },
    )


class Strict(Schema):
    class Meta:
        unknown = RAISE


# ----------------------------------------------------------------------------- queries


class AsOfQuery(Strict):
    as_of = UtcInstant(
        metadata={
            "description": "Answer as the registry stood at this instant (ISO 8601 with a "
            "time zone): only what had been recorded by then."
        },
    )
    effective_at = UtcInstant(
        metadata={
            "description": "Answer with the versions in effect in the world at this "
            "instant (each version's effective_from). Combines with as_of."
        },
    )


class SystemStateQuery(AsOfQuery):
    per_kind = fields.Integer(
        load_default=PER_KIND,
        validate=validate.Range(1, MAX_PAGE),
        metadata={
            "description": f"Entries of each kind in the answer, 1 to {MAX_PAGE} (default "
            f"{PER_KIND}); the rest of a kind are paged by the entries list (`more`)."
        },
    )


class PageQuery(Strict):
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(1, MAX_PAGE),
        metadata={"description": f"Items per page, 1 to {MAX_PAGE}."},
    )


class SystemQuery(AsOfQuery, PageQuery):
    q = fields.String(
        validate=[validate.Length(max=MAX_NEEDLE), storable],
        metadata={"description": "Text in the name, reference, purpose or organisation."},
    )
    stage = fields.String(
        validate=validate.OneOf(STAGES),
        metadata={
            "description": "The stage: a system retired from the register (`retired: "
            "true`) is at stage `retired`, whatever its last profile said."
        },
    )
    risk_tier = fields.String(validate=validate.OneOf(RISK_TIERS))
    status = fields.String(
        validate=validate.OneOf(("live", "retired")),
        metadata={
            "description": "Only systems whose profile is live, or only retired ones "
            "(default: both, each with its `retired` flag)."
        },
    )
    owner = fields.String(
        validate=[validate.Length(max=MAX_NEEDLE), storable],
        metadata={
            "description": "An owner's e-mail address, or part of their name: the systems "
            "whose live owner entries record that person, whatever the entries' terms and "
            'even before they take effect (wider than the web\'s "My systems": owner '
            "entries in effect today, within their term)."
        },
    )
    after = fields.String(
        validate=[validate.Length(max=100), storable],
        metadata={"description": "Cursor: the reference after which this page starts."},
    )


class EntryListQuery(AsOfQuery, PageQuery):
    kind = fields.String(validate=validate.OneOf(KIND_NAMES))
    after = fields.Integer(
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "Cursor: the entry id after which this page starts."},
    )


class KindListQuery(AsOfQuery, PageQuery):
    after = fields.Integer(
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "Cursor: the entry id after which this page starts."},
    )


class DiffQuery(Strict):
    as_of = AsOfQuery._declared_fields["as_of"]
    from_ = fields.Integer(data_key="from", required=True, validate=validate.Range(1, MAX_ID - 1))
    to = fields.Integer(required=True, validate=validate.Range(1, MAX_ID - 1))


class CheckpointQuery(PageQuery):
    as_of = AsOfQuery._declared_fields["as_of"]
    after = fields.Integer(
        validate=validate.Range(0, 2**62),
        metadata={"description": "Cursor: the tree size after which this page starts."},
    )


class ProofQuery(Strict):
    tree_size = fields.Integer(
        validate=validate.Range(1, 2**62),
        metadata={"description": "The checkpoint to prove into (default: the latest)."},
    )
    as_of = AsOfQuery._declared_fields["as_of"]


class LedgerAsOfQuery(Strict):
    as_of = AsOfQuery._declared_fields["as_of"]


class ConsistencyQuery(Strict):
    from_size = fields.Integer(
        data_key="from",
        required=True,
        validate=validate.Range(1, 2**62),
        metadata={"description": "The tree size of the older signed checkpoint."},
    )
    to_size = fields.Integer(
        data_key="to",
        required=True,
        validate=validate.Range(1, 2**62),
        metadata={"description": "The tree size of the newer signed checkpoint."},
    )


# ----------------------------------------------------------------------------- bodies


def _version_meta() -> dict[str, fields.Field]:
    return {
        "effective_from": UtcInstant(
            metadata={
                "description": "When this became true in the world (default: now). "
                "ISO 8601 with a time zone."
            },
        ),
        "reason": fields.String(
            validate=[validate.Length(max=MAX_REASON), storable],
            metadata={"description": "Why the change was made: kept with the version."},
        ),
    }


SystemCreate = Strict.from_dict(
    {
        "profile": fields.Dict(
            required=True,
            metadata={
                "description": "The system's profile.",
                "allOf": [{"$ref": f"#/components/schemas/{kind_component('profile')}"}],
            },
        ),
        **_version_meta(),
    },
    name="SystemCreate",
)

EntryCreate = Strict.from_dict(
    {
        "kind": fields.String(
            required=True, validate=validate.OneOf([k for k in KIND_NAMES if k != "profile"])
        ),
        "body": _any_kind("The entry, as its kind's schema describes it."),
        **_version_meta(),
    },
    name="EntryCreate",
)

EntryUpdate = Strict.from_dict(
    {
        "body": _any_kind("The whole new body (a version replaces the body, not fields)."),
        **_version_meta(),
    },
    name="EntryUpdate",
)

EntryRetire = Strict.from_dict(_version_meta(), name="EntryRetire")

# A PATCH's body is the merge patch itself: the version's metadata comes in the query.
EntryPatchQuery = Strict.from_dict(_version_meta(), name="EntryPatchQuery")


class TokenCreate(Strict):
    name = fields.String(load_default="", validate=[validate.Length(max=100), storable])
    scopes = fields.List(
        fields.String(validate=validate.OneOf(TOKEN_SCOPES)),
        validate=validate.Length(min=1, max=len(TOKEN_SCOPES)),
        metadata={"description": "Default: the scopes of the token making the request."},
    )
    days = fields.Integer(
        strict=True,  # a whole number of days: 1.5 is refused, not cut to 1
        validate=validate.Range(1, MAX_TOKEN_DAYS),
        metadata={"description": "Days until the token expires (default 90)."},
    )


# ----------------------------------------------------------------------------- output


class Links(Schema):
    self = fields.String()
    versions = fields.String()
    system = fields.String()


class _VersionFields(Schema):
    """What every version shows: its ETag, body, hashes, times, author and reason."""

    etag = fields.String(required=True, metadata={"description": "The version's strong ETag."})
    body = fields.Dict(required=True)
    body_hash = fields.String(required=True)
    recorded_at = fields.DateTime(required=True)
    effective_from = fields.DateTime(required=True)
    author = fields.String(required=True)
    reason = fields.String(required=True)
    audit_seq = fields.Integer(required=True)


class EntryOut(_VersionFields):
    id = fields.Integer(required=True)
    system = fields.String(required=True, metadata={"description": "The system's reference."})
    kind = fields.String(required=True, validate=validate.OneOf(KIND_NAMES))
    version = fields.Integer(required=True, metadata={"description": "The version shown."})
    head_version = fields.Integer(required=True, metadata={"description": "The latest version."})
    retired = fields.Boolean(
        required=True, metadata={"description": "Whether the version shown is a retirement."}
    )
    links = fields.Nested(Links, required=True)


class VersionOut(_VersionFields):
    number = fields.Integer(required=True)
    tombstone = fields.Boolean(required=True)


class VersionList(Schema):
    entry_id = fields.Integer(required=True)
    system = fields.String(required=True)
    kind = fields.String(required=True)
    items = fields.List(fields.Nested(VersionOut), required=True)


class FieldChangeOut(Schema):
    path = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(("added", "removed", "changed")))
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class DiffOut(Schema):
    entry_id = fields.Integer(required=True)
    from_ = fields.Integer(data_key="from", required=True)
    to = fields.Integer(required=True)
    changes = fields.List(fields.Nested(FieldChangeOut), required=True)


class SystemSummary(Schema):
    reference = fields.String(required=True)
    name = fields.String(required=True)
    stage = fields.String(required=True)
    risk_tier = fields.String(allow_none=True)
    organisation = fields.String(allow_none=True)
    retired = fields.Boolean(
        required=True,
        metadata={"description": "Whether the profile is retired (then shown as last in force)."},
    )
    profile_entry_id = fields.Integer(required=True)
    profile_version = fields.Integer(required=True)
    recorded_at = fields.DateTime(required=True)
    effective_from = fields.DateTime(required=True)
    links = fields.Nested(Links, required=True)


class SystemPage(Schema):
    items = fields.List(fields.Nested(SystemSummary), required=True)
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as after= for the next page."},
    )
    total = fields.Integer(
        required=True,
        metadata={"description": "How many systems match the query, on all pages."},
    )
    retired = fields.Integer(
        required=True,
        metadata={
            "description": "How many of them are retired: out of use (profile stage "
            "`retired`) or retired from the register (`retired: true`)."
        },
    )


class SystemReinstate(Strict):
    reason = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2_000), storable],
        metadata={"description": "Why the system is back in the register."},
    )
    effective_from = UtcInstant(
        metadata={"description": "When it is back (default: now; not before its retirement)."},
    )


class EntryPage(Schema):
    items = fields.List(fields.Nested(EntryOut), required=True)
    next_cursor = fields.Integer(allow_none=True, required=True)


class KindMore(Schema):
    kind = fields.String(required=True)
    total = fields.Integer(required=True, metadata={"description": "Live entries of the kind."})
    next = fields.String(
        required=True,
        metadata={
            "description": "The next page of the kind's entries: the entries list, after the "
            "last one shown (keyset, by id; its Link header names the page after)."
        },
    )


class SystemStateOut(Schema):
    reference = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    as_of = fields.DateTime(allow_none=True, required=True)
    effective_at = fields.DateTime(allow_none=True, required=True)
    retired = fields.Boolean(
        required=True, metadata={"description": "Whether the system's profile is retired."}
    )
    profile = fields.Nested(
        EntryOut,
        required=True,
        metadata={"description": "The profile in force: its retirement, when retired."},
    )
    last_profile = fields.Nested(
        EntryOut,
        allow_none=True,
        metadata={"description": "When retired: the profile's last version before that."},
    )
    entries = fields.List(
        fields.Nested(EntryOut),
        required=True,
        metadata={
            "description": "The other live entries, by kind then id: the first `per_kind` "
            "of each kind."
        },
    )
    more = fields.List(
        fields.Nested(KindMore),
        required=True,
        metadata={"description": "Each kind with more live entries than `per_kind`."},
    )


class TokenOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(
        required=True, metadata={"description": "The secret's first characters."}
    )
    scopes = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True, required=True)
    last_used_on = fields.Date(
        allow_none=True,
        required=True,
        metadata={
            "description": "The last day (UTC) the token was used, or null if never: "
            "a token's use is recorded once a day."
        },
    )


class TokenCreated(TokenOut):
    secret = fields.String(
        required=True, metadata={"description": "Shown once: the registry keeps only its hash."}
    )


class TokenList(Schema):
    items = fields.List(fields.Nested(TokenOut), required=True)


class MeOut(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    token = fields.Nested(TokenOut, required=True)


class KeysOut(Schema):
    current = fields.String(
        allow_none=True, required=True, metadata={"description": "The key signing now."}
    )
    keys = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Every verifier key, current first (C2SP note format)."},
    )


class CheckpointOut(Schema):
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True)
    chain_head = fields.String(required=True)
    key_id = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    note = fields.String(required=True, metadata={"description": "The signed note (C2SP)."})


class CosignatureOut(Schema):
    witness = fields.String(required=True, metadata={"description": "The witness key's name."})
    key_id = fields.String(required=True)
    timestamp = fields.Integer(required=True, metadata={"description": "POSIX seconds."})
    line = fields.String(
        required=True, metadata={"description": "The note signature line (cosignature/v1)."}
    )


class CosignedCheckpointOut(CheckpointOut):
    cosignatures = fields.List(
        fields.Nested(CosignatureOut),
        required=True,
        metadata={
            "description": "Witnesses' cosignatures; `note` carries their lines after the"
            " registry's own signature line."
        },
    )


class CheckpointPage(Schema):
    items = fields.List(fields.Nested(CheckpointOut), required=True)
    next_cursor = fields.Integer(allow_none=True, required=True)


class EventOut(Schema):
    seq = fields.Integer(required=True)
    recorded_at = fields.DateTime(required=True)
    canonical = fields.String(
        required=True,
        metadata={"description": "The event's canonical JSON (RFC 8785), as hashed."},
    )
    event = fields.Dict(required=True)
    prev_hash = fields.String(required=True)
    event_hash = fields.String(required=True)
    leaf_hash = fields.String(required=True)


class ProofOut(Schema):
    seq = fields.Integer(required=True)
    leaf_index = fields.Integer(required=True)
    leaf_hash = fields.String(required=True)
    tree_size = fields.Integer(required=True)
    root_hash = fields.String(required=True)
    proof = fields.List(fields.String(), required=True)
    checkpoint = fields.String(required=True)


class ConsistencyOut(Schema):
    from_size = fields.Integer(data_key="from", attribute="from", required=True)
    to_size = fields.Integer(data_key="to", attribute="to", required=True)
    from_root = fields.String(required=True, metadata={"description": "Hex, as signed."})
    to_root = fields.String(required=True, metadata={"description": "Hex, as signed."})
    proof = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The RFC 9162 consistency path, hex hashes."},
    )


class VerificationOut(Schema):
    ok = fields.Boolean(required=True)
    summary = fields.String(required=True)
    problem = fields.String(allow_none=True, required=True)
    problem_seq = fields.Integer(allow_none=True, required=True)
    events = fields.Integer(required=True)
    versions = fields.Integer(required=True)
    checkpoints = fields.Integer(required=True)
    uncovered = fields.Integer(
        required=True, metadata={"description": "Events not yet covered by a signature."}
    )
    head = fields.String(required=True)
    verified_at = fields.DateTime(required=True)


# ----------------------------------------------------------------------------- exports


class ExportCreate(Strict):
    system = fields.String(
        validate=[validate.Length(min=1, max=100), storable],
        metadata={"description": "The system's reference; leave out for the whole registry."},
    )
    as_of = UtcInstant(
        metadata={
            "description": "The instant the pack shows the registry at (ISO 8601 with a "
            "time zone; default now). Not in the future."
        },
    )


class ExportQuery(Strict):
    system = fields.String(
        validate=[validate.Length(max=100), storable],
        metadata={"description": "Only the exports of this system."},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))


class ExportOut(Schema):
    seq = fields.Integer(
        required=True, metadata={"description": "The ledger event recording the export."}
    )
    at = fields.String(required=True, metadata={"description": "When it was exported."})
    actor = fields.String(required=True)
    scope = fields.String(required=True, validate=validate.OneOf(("system", "registry")))
    system = fields.String(allow_none=True, required=True)
    as_of = fields.String(required=True)
    manifest_sha256 = fields.String(required=True)
    file = fields.String(required=True)
    available = fields.Boolean(
        required=True, metadata={"description": "Whether the pack is still kept for download."}
    )
    url = fields.String(required=True, metadata={"description": "Where to download the pack."})
    witnesses = fields.List(
        fields.String(),
        metadata={
            "description": "On the export's answer only: what each witness that had not "
            "cosigned the pack's checkpoint answered when it was submitted before the pack "
            "was built (cosigned; refused, an alarm; or not reachable, which does not fail "
            "the export)."
        },
    )


class ExportList(Schema):
    items = fields.List(fields.Nested(ExportOut), required=True)


class JobProgress(Schema):
    stage = fields.String(required=True, metadata={"description": "What the job is doing."})
    done = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "0 while not known yet."})


class JobProblem(Schema):
    """An RFC 9457 problem: why a job failed."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)


class JobOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"example": "export"})
    state = fields.String(
        required=True, validate=validate.OneOf(("queued", "running", "finished", "failed"))
    )
    progress = fields.Nested(JobProgress, required=True)
    attempts = fields.Integer(
        required=True, metadata={"description": "Runs started (one whose worker died runs again)."}
    )
    actor = fields.String(required=True, metadata={"description": "Who asked for it."})
    system = fields.String(allow_none=True, required=True)
    as_of = fields.String(
        allow_none=True, required=True, metadata={"description": "As asked (null: now)."}
    )
    created_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True, required=True)
    url = fields.String(required=True, metadata={"description": "This job."})
    export = fields.Nested(
        ExportOut,
        metadata={"description": "When finished: the export, with the pack's link (`url`)."},
    )
    problem = fields.Nested(JobProblem, metadata={"description": "When failed: why."})


class DocumentOut(Schema):
    sha256 = fields.String(required=True, metadata={"description": "SHA-256 of the bytes (hex)."})
    size = fields.Integer(required=True)
    media_type = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "A safe display name."})
    title = fields.String(required=True)
    document_type = fields.String(required=True)
    received_at = fields.String(
        required=True, metadata={"description": "When its document.receive event was recorded."}
    )
    valid_until = fields.String(
        required=True, allow_none=True, metadata={"description": "Last day in force (or none)."}
    )
    withheld = fields.Boolean(
        required=True, metadata={"description": "Confidential: packs carry its hash only."}
    )
    system = fields.String(required=True)
    uploaded_by = fields.String(required=True)
    receive_seq = fields.Integer(required=True)
    collected = fields.Boolean(
        required=True, metadata={"description": "Its bytes were collected (never attached)."}
    )
    url = fields.String(required=True)
    attached_to = fields.Integer(
        allow_none=True,
        metadata={"description": "On upload with entry_id: the entry's new version number."},
    )


class WithheldIn(Strict):
    withheld = JsonBoolean(
        required=True,
        metadata={"description": "Confidential: packs carry its hash and metadata only."},
    )


class DocumentList(Schema):
    items = fields.List(fields.Nested(DocumentOut), required=True)
