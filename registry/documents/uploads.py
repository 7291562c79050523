"""Reading a ``multipart/form-data`` request body with its files streamed into the blob
store's temporary files while hashed: memory stays flat whatever the size.

The surfaces (API and web) read an upload's body with :func:`streamed` instead of
Flask's ``request.form`` (which buffers to its own temporary files under the app's
general body limit): each file part goes straight into a :class:`Staged` file, and
the body may be as large as the document limit (plus the form's small fields).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Response, send_file
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.wsgi import get_content_length, get_input_stream

from registry.documents.models import Document
from registry.documents.store import BlobStore, Staged, TooLarge
from registry.errors import NotFound

FORM_ALLOWANCE = 256 * 1024  # the body's bytes besides the files: fields, part headers
MAX_FIELD = 1024 * 1024  # a field, and what the parser buffers at once (64 KiB reads)
MAX_PARTS = 200
# The body is read from the server a megabyte at a time and handed to the parser in its
# own 64 KiB reads: a server's input stream (gunicorn's) copies what is left over of
# each read, and the parser's search for the boundary slows with larger reads.
READ_AHEAD = 1024 * 1024


class _Raw(io.RawIOBase):
    """A WSGI input stream as a raw stream, for io.BufferedReader."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass
class Part:
    """One file of the body: its form field, what the client called it, and its bytes."""

    field: str
    filename: str
    content_type: str | None
    staged: Staged


@dataclass
class Body:
    form: MultiDict[str, str]
    files: list[Part] = field(default_factory=list)
    staged: list[Staged] = field(default_factory=list)  # every file written, kept or not

    def named(self, name: str) -> list[Part]:
        return [p for p in self.files if p.field == name]

    def discard(self) -> None:
        """Remove every staged file not kept (a kept one is gone already)."""
        for made in self.staged:
            made.discard()


def read_body(environ: dict[str, Any], store: BlobStore, limit: int, files: int = 1) -> Body:
    """The request's form and files, each file at most ``limit`` bytes and at most
    ``files`` of them (TooLarge beyond: also when the whole body announces more).
    The caller discards the body's staged files once done (:meth:`Body.discard`)."""
    staged: list[Staged] = []

    def factory(
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> Staged:
        made = store.stage(limit)
        staged.append(made)
        return made

    parser = FormDataParser(
        stream_factory=factory,  # type: ignore[arg-type]
        max_form_memory_size=MAX_FIELD,
        max_content_length=limit * files + FORM_ALLOWANCE,
        max_form_parts=MAX_PARTS,
    )
    try:
        try:
            stream = get_input_stream(environ, max_content_length=parser.max_content_length)
            mimetype, options = parse_options_header(environ.get("CONTENT_TYPE"))
            _, form, parts = parser.parse(
                io.BufferedReader(_Raw(stream), READ_AHEAD),
                mimetype,
                get_content_length(environ),
                options,
            )
        except RequestEntityTooLarge:
            raise TooLarge(limit) from None
        body = Body(form, staged=staged)
        for name, storage in parts.items(multi=True):
            made = storage.stream
            assert isinstance(made, Staged)
            made.close()
            if not storage.filename and made.size == 0:
                continue  # a form's file field left empty
            body.files.append(Part(name, storage.filename or "", storage.content_type, made))
    except BaseException:
        for made in staged:
            made.discard()
        raise
    return body


@contextmanager
def streamed(
    environ: dict[str, Any], store: BlobStore, limit: int, files: int = 1
) -> Iterator[Body]:
    """:func:`read_body` for the block's length: every staged file not kept by the time
    it ends is removed."""
    body = read_body(environ, store, limit, files)
    try:
        yield body
    finally:
        body.discard()


# Served bytes never run in the registry's origin: downloaded, not displayed (an
# uploaded HTML or SVG is a file to save), not sniffed into another type, and sandboxed
# with nothing allowed should a browser render it all the same.
INERT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
}


def inert_download(document: Document, store: BlobStore) -> Response:
    """The bytes of ``document`` as ``store`` keeps them, as a download that never runs
    in the registry's origin (:data:`INERT_HEADERS`): the API's and the web's."""
    try:
        stream = store.open(document.sha256)
    except FileNotFoundError:
        raise NotFound(f"The bytes of document {document.sha256} are not kept here.") from None
    response = send_file(
        stream,
        mimetype=document.media_type,
        as_attachment=True,
        download_name=document.name,
        etag=document.sha256,
        conditional=False,
    )
    response.headers.update(INERT_HEADERS)
    if document.size is not None:
        response.content_length = document.size
    return response
