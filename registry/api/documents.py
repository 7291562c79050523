"""Evidence documents over the API: upload one to a system (``multipart/form-data``,
streamed to the blob store while hashed), list a system's, download one by SHA-256."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, request

from registry.accounts.permissions import require
from registry.api.auth import current_actor
from registry.api.blueprint import READ, Blueprint, UnsupportedMediaType
from registry.api.render import api_path
from registry.api.schemas import DocumentList, DocumentOut, LedgerAsOfQuery, WithheldIn
from registry.api.writes import transaction
from registry.documents.models import DOCUMENT_TYPES, Document
from registry.documents.service import (
    Upload,
    by_hash,
    documents_of,
    may_upload,
    receive,
    set_withheld,
)
from registry.documents.uploads import inert_download, streamed
from registry.errors import InvalidInput
from registry.extensions import Sha256Converter, db_session, document_store
from registry.records import reads
from registry.records.attaching import attach

bp = Blueprint(
    "api_documents",
    __name__,
    tag="Documents",
    url_prefix="/api/v1",
    description="Evidence documents: uploaded to a system, kept by SHA-256, downloaded.",
    json_bodies=False,
)
FIELDS = ("title", "document_type", "valid_until", "entry_id", "withheld")
TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")
SHA256_PARAMETER = {
    "in": "path",
    "name": "sha256",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{Sha256Converter.regex}$"},
}
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": False,
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "title": {"type": "string", "maxLength": 500},
                    "document_type": {"type": "string", "enum": list(DOCUMENT_TYPES)},
                    "valid_until": {"type": "string", "format": "date"},
                    "entry_id": {"type": "integer", "minimum": 1},
                    "withheld": {"type": "boolean"},
                },
            }
        }
    },
}
DIGEST_HEADER = {
    "in": "header",
    "name": "Content-Digest",
    "required": False,
    "schema": {"type": "string"},
    "description": "RFC 9530, e.g. sha-256=:<base64>: of the file's bytes: checked, a "
    "mismatch is refused (422) and nothing is kept.",
}


def document_out(document: Document, reference: str, **extra: Any) -> dict[str, Any]:
    return {
        "sha256": document.sha256,
        "size": document.size,
        "media_type": document.media_type,
        "name": document.name,
        "title": document.title,
        "document_type": document.document_type,
        "received_at": document.received_at.isoformat(),
        "valid_until": document.valid_until.isoformat() if document.valid_until else None,
        "withheld": document.withheld,
        "system": reference,
        "uploaded_by": document.uploaded_by,
        "receive_seq": document.receive_seq,
        "collected": document.collected_at is not None,
        "url": api_path("documents", document.sha256),
        **extra,
    }


def _flag(value: str | None, errors: dict[str, list[str]]) -> bool:
    if value is None or value.strip().lower() in FALSE:
        return False
    if value.strip().lower() in TRUE:
        return True
    errors["withheld"] = ["Must be true or false."]
    return False


def _entry_id(value: str | None, errors: dict[str, list[str]]) -> int | None:
    if value is None or value == "":
        return None
    if value.isascii() and value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    errors["entry_id"] = ["Must be an entry id."]
    return None


@bp.route("/systems/<reference>/documents", methods=["POST"], operation_id="uploadDocument")
@transaction()
@bp.response(201, DocumentOut, headers={"Location": {"schema": {"type": "string"}}})
@bp.alt_response(
    200,
    schema=DocumentOut,
    description="These bytes were already received for the system: the document as first received.",
    headers={"Location": {"schema": {"type": "string"}}},
)
@bp.doc(requestBody=UPLOAD_BODY)
@bp.header(DIGEST_HEADER)
@bp.problems(*READ, 404, 409, 412, 413, 415, 422)
def upload(reference: str) -> Any:
    """Upload a document

    Receives one file (`file`) for the system, streamed to the store while hashed, and
    records its receipt in the ledger (`document.receive`). With `entry_id`, the entry
    gets a new version listing the document among its attachments. The same bytes
    uploaded again answer 200 with the document as first received. At most
    `REGISTRY_DOCUMENT_MAX_BYTES` (413 beyond). Technical owners upload to their own
    systems only.
    """
    session = db_session()
    actor = current_actor()
    system = reads.get_system(session, reference)
    may_upload(session, actor, system)
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the document as multipart/form-data, not {request.mimetype or 'untyped data'}."
        )
    store = document_store()
    with streamed(request.environ, store, current_app.config["DOCUMENT_MAX_BYTES"]) as body:
        errors: dict[str, list[str]] = {
            name: ["Unknown field."] for name in body.form if name not in FIELDS
        }
        errors.update({p.field: ["Unknown field."] for p in body.files if p.field != "file"})
        files = body.named("file")
        if len(files) != 1:
            errors["file"] = ["Send exactly one file."]
        withheld = _flag(body.form.get("withheld"), errors)
        entry_id = _entry_id(body.form.get("entry_id"), errors)
        if errors:
            raise InvalidInput("The document was not received: see the errors.", errors)
        part = files[0]
        upload = Upload(
            name=part.filename,
            media_type=part.content_type,
            title=body.form.get("title"),
            document_type=body.form.get("document_type"),
            valid_until=body.form.get("valid_until"),
            withheld=withheld,
            content_digest=request.headers.get("Content-Digest"),
        )
        received = receive(session, actor, system, store, part.staged, upload)
    attached = None
    if entry_id is not None:
        version = attach(session, actor, system, entry_id, [received.document])
        attached = version.number if version is not None else None
    out = document_out(received.document, system.reference, attached_to=attached)
    return out, 201 if received.new else 200, {"Location": out["url"]}


def _json_body(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a body that is not JSON (415) before it is parsed (this blueprint's
    uploads are multipart: it does not refuse them all)."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if not request.is_json:
            raise UnsupportedMediaType(
                f"Send the body as application/json, not {request.mimetype or 'untyped data'}."
            )
        return view(*args, **kwargs)

    return checked


@bp.route(
    "/systems/<reference>/documents/<sha256:sha256>/withheld",
    methods=["PUT"],
    operation_id="setDocumentWithheld",
)
@transaction()
@_json_body
@bp.arguments(WithheldIn)
@bp.response(200, DocumentOut)
@bp.doc(parameters=[SHA256_PARAMETER])
@bp.problems(*READ, 404, 415, 422)
def withhold(data: dict[str, Any], reference: str, sha256: str) -> Any:
    """Withhold a document, or release it

    Marks the system's document confidential (`true`: packs exported from now on carry
    its hash and metadata only, and the verifier reports it WITHHELD) or not (`false`).
    A compliance officer's decision, recorded in the ledger (`document.withhold`);
    setting the mark it already has records nothing. Packs as of an earlier instant
    keep the mark of that instant.
    """
    session = db_session()
    system = reads.get_system(session, reference)
    document = set_withheld(session, current_actor(), system, sha256, data["withheld"])
    return document_out(document, system.reference)


@bp.route("/systems/<reference>/documents", methods=["GET"], operation_id="listDocuments")
@bp.arguments(LedgerAsOfQuery, location="query", as_kwargs=True)
@bp.response(200, DocumentList)
@bp.problems(*READ, 404)
def index(reference: str, as_of: Any = None) -> Any:
    """A system's documents

    Every document received for the system, newest first (those whose bytes were
    collected, never having been attached, say so). With `as_of`: those received by
    then, withheld and collected as they were then, as the ledger's events say.
    """
    session = db_session()
    require(session, current_actor(), "read")
    system = reads.get_system(session, reference)
    documents = documents_of(session, system.id, as_of)
    return {"items": [document_out(d, system.reference) for d in documents]}


@bp.route("/documents/<sha256:sha256>", methods=["GET"], operation_id="downloadDocument")
@bp.response(200, description="The document's bytes, as an attachment.", content_type="*/*")
@bp.doc(parameters=[SHA256_PARAMETER])
@bp.problems(*READ, 404)
def download(sha256: str) -> Any:
    """Download a document

    The bytes as received, always as an attachment (`Content-Disposition`), with
    `nosniff` and a sandboxing Content-Security-Policy: an uploaded HTML or SVG never
    runs in the registry's origin.
    """
    session = db_session()
    require(session, current_actor(), "read")
    return inert_download(by_hash(session, sha256), document_store())
