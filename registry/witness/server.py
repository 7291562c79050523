"""The witness's HTTP interface (c2sp.org/tlog-witness): ``POST /add-checkpoint`` and the
monitors' ``GET /<origin hash>/checkpoint``, a small Flask app served by gunicorn.

``add-checkpoint`` answers as the spec says: 200 with the cosignature line; 400 for a
body that is not ``old <size>``, proof lines, an empty line and a checkpoint note (or an
old size above the checkpoint's); 404 for an origin the witness does not follow; 403
when no signature of the log's known key verifies; 409 (``text/x.tlog.size``, the size
it last cosigned) when ``old`` is not that size; 422 when the proof does not show the
checkpoint extends the one it cosigned (a fork, a rewrite, a changed root at the same
size). Check and update are one step under the state's lock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

from registry.ledger.cosignature import WitnessSigner
from registry.ledger.merkle import EMPTY_ROOT, verify_consistency
from registry.ledger.note import (
    NoteError,
    NoteVerificationError,
    NoteVerifier,
    open_checkpoint,
    parse_body,
    parse_note,
)
from registry.witness.state import WitnessState

MAX_BODY = 64 * 1024  # 63 proof lines and a checkpoint with 100 signatures fit easily
MAX_PROOF_LINES = 63
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"

    def response(self) -> Response:
        return Response(self.body, status=self.status, content_type=self.content_type)


class BadRequest(Exception):
    pass


def _parse_request(raw: bytes) -> tuple[int, list[bytes], str]:
    """``old`` size, proof hashes and the checkpoint note of an add-checkpoint body."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise BadRequest("no empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if not match:
        raise BadRequest("the first line is not 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise BadRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for number, line in enumerate(lines[1:], 1):
        try:
            hash_ = base64.b64decode(line.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error, ValueError):
            raise BadRequest(f"proof line {number} is not base64") from None
        if len(hash_) != 32 or base64.b64encode(hash_).decode() != line:
            raise BadRequest(f"proof line {number} is not a base64 SHA-256 hash")
        proof.append(hash_)
    return int(match.group(1)), proof, note


class Witness:
    """The add-checkpoint rules over a key, the logs followed and the state."""

    def __init__(
        self, signer: WitnessSigner, logs: dict[str, list[NoteVerifier]], state: WitnessState
    ) -> None:
        self.signer = signer
        self.logs = logs
        self.state = state

    def add_checkpoint(self, raw: bytes) -> Answer:
        try:
            old, proof, note = _parse_request(raw)
            body, _ = parse_note(note)
            checkpoint = parse_body(body)
        except (BadRequest, NoteError) as exc:
            return Answer(400, f"malformed request: {exc}\n")
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            return Answer(404, f"unknown log {checkpoint.origin!r}\n")
        try:
            open_checkpoint(note, keys, origin=checkpoint.origin)
        except NoteVerificationError as exc:
            if exc.reason == "malformed":
                return Answer(400, f"{exc}\n")
            return Answer(403, f"not signed by the log's key: {exc}\n")
        if old > checkpoint.size:
            return Answer(400, f"old size {old} is above the checkpoint size {checkpoint.size}\n")
        with self.state.locked():
            latest = self.state.latest(checkpoint.origin, keys)
            known = latest.checkpoint.size if latest else 0
            if old != known:
                return Answer(409, f"{known}\n", "text/x.tlog.size")
            if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
                return Answer(422, "a checkpoint of size 0 must have the empty tree's root\n")
            if latest is None:
                if proof:
                    return Answer(422, "old size 0 takes no consistency proof\n")
            elif not verify_consistency(
                latest.checkpoint.size,
                checkpoint.size,
                latest.checkpoint.root,
                checkpoint.root,
                proof,
            ):
                what = "a different root" if old == checkpoint.size else "an inconsistent tree"
                return Answer(
                    422,
                    f"refused: {what} for {checkpoint.origin} at size {checkpoint.size};"
                    f" cosigned size {known} (consistency proof does not verify)\n",
                )
            line = self.signer.cosign(body, int(time.time()))
            self.state.record(checkpoint.origin, note + line)
        return Answer(200, line)

    def checkpoint_of(self, origin_hash: str) -> Answer:
        for origin, keys in self.logs.items():
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                latest = self.state.latest(origin, keys)
                if latest is not None:
                    return Answer(200, latest.note)
        return Answer(404, "no checkpoint cosigned for that log\n")


def create_witness_app(witness: Witness) -> Flask:
    app = Flask("registry.witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Any:
        raw = request.get_data(cache=False)
        return witness.add_checkpoint(raw).response()

    @app.get("/<origin_hash>/checkpoint")
    def checkpoint(origin_hash: str) -> Any:
        return witness.checkpoint_of(origin_hash).response()

    @app.get("/")
    def about() -> Any:
        lines = [f"witness {witness.signer.cosigner.vkey}", *(f"log {o}" for o in witness.logs)]
        return Answer(200, "\n".join(lines) + "\n").response()

    return app


class WitnessServer(BaseApplication):  # type: ignore[misc]
    """The witness under gunicorn: one worker (the lock also holds across processes)."""

    def __init__(self, witness: Witness, settings: dict[str, Any]) -> None:
        self.witness = witness
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.settings.items():
            self.cfg.set(name, value)
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Flask:
        return create_witness_app(self.witness)


def serve_witness(witness: Witness, host: str, port: int) -> None:
    bind = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    WitnessServer(
        witness,
        {
            "bind": bind,
            "workers": 1,
            "timeout": 30,
            "accesslog": "-",
            "errorlog": "-",
            "proc_name": "registry-witness",
        },
    ).run()
