"""Evidence documents on the web: uploading several to a system (its page's Documents
section), files attached from any entry form, and downloading one.

A form posted as ``multipart/form-data`` has its files streamed into the blob store
while hashed, before anything else reads the body (:func:`stream_uploads`, ahead of the
CSRF check, which then reads the form's fields as usual): memory stays flat whatever
the size, and each file may be as large as ``REGISTRY_DOCUMENT_MAX_BYTES``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from registry.accounts.actor import Actor
from registry.accounts.permissions import require
from registry.documents.models import Document
from registry.documents.service import Upload, by_hash, may_upload, receive, set_withheld
from registry.documents.uploads import Body, Part, inert_download, read_body
from registry.errors import InvalidInput
from registry.extensions import db_session, document_store
from registry.records import reads
from registry.records.models import AISystem
from registry.surfaces import is_api_request
from registry.web.systems import current_actor

bp = Blueprint("documents", __name__)
MAX_FILES = 20  # files in one form


def stream_uploads() -> None:
    """``before_request``, first of all: a web form posted as ``multipart/form-data``
    has its files staged in the blob store and its fields made the request's form."""
    if request.method != "POST" or is_api_request():
        return
    if request.mimetype != "multipart/form-data":
        return
    if not current_user.is_authenticated:
        return  # nothing is staged for anyone not signed in (Flask's own limits apply)
    store = document_store()
    body = read_body(request.environ, store, current_app.config["DOCUMENT_MAX_BYTES"], MAX_FILES)
    g.uploads = body
    request.form = body.form  # type: ignore[misc]
    request.files = MultiDict()  # type: ignore[misc]


def discard_uploads(_exc: BaseException | None) -> None:
    """``teardown_request``: staged files nothing kept are removed."""
    body = g.pop("uploads", None)
    if body is not None:
        body.discard()


def uploaded(field: str) -> list[Part]:
    body: Body | None = g.get("uploads")
    return body.named(field) if body is not None else []


def receive_parts(
    session: Session, actor: Actor, system: AISystem, parts: list[Part], **meta: Any
) -> list[Document]:
    """Receive each uploaded file as a document of ``system`` (in the request's
    transaction: the view commits)."""
    store = document_store()
    return [
        receive(
            session,
            actor,
            system,
            store,
            part.staged,
            Upload(name=part.filename, media_type=part.content_type, **meta),
        ).document
        for part in parts
    ]


@bp.route("/systems/<reference>/documents", methods=["POST"])
@login_required
def upload(reference: str) -> Any:
    session = db_session()
    actor = current_actor()
    system = reads.get_system(session, reference)
    may_upload(session, actor, system)
    back = url_for("systems.show", reference=reference) + "#documents"
    parts = uploaded("files")
    if not parts:
        flash("Choose at least one file to upload.", "error")
        return redirect(back)
    form = request.form
    try:
        documents = receive_parts(
            session,
            actor,
            system,
            parts,
            title=form.get("title"),
            document_type=form.get("document_type") or "other",
            valid_until=form.get("valid_until") or None,
            withheld=form.get("withheld") == "on",
        )
    except InvalidInput as exc:
        session.rollback()
        said = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.field_errors.items())
        flash(f"Nothing was uploaded: {exc.message} ({said})", "error")
        return redirect(back)
    session.commit()
    names = ", ".join(d.name for d in documents)
    flash(f"Received {len(documents)} document{'s' if len(documents) != 1 else ''}: {names}.")
    return redirect(back)


@bp.route("/systems/<reference>/documents/<sha256:sha256>/withheld", methods=["POST"])
@login_required
def withhold(reference: str, sha256: str) -> Any:
    """A compliance officer withholds a document from packs, or releases it."""
    session = db_session()
    system = reads.get_system(session, reference)
    withheld = request.form.get("withheld") == "on"
    document = set_withheld(session, current_actor(), system, sha256, withheld)
    session.commit()
    if withheld:
        flash(f"{document.name} is withheld: packs carry its hash and metadata only.")
    else:
        flash(f"{document.name} is no longer withheld: packs carry its file.")
    return redirect(url_for("systems.show", reference=reference) + "#documents")


@bp.route("/documents/<sha256:sha256>")
@login_required
def download(sha256: str) -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    return inert_download(by_hash(session, sha256), document_store())
