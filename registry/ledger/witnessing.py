"""Submitting the registry's checkpoints to witnesses (c2sp.org/tlog-witness), and what
they answered: cosignatures, served with the checkpoint and carried in packs, or
refusals, alarms (a witness saw a fork, a rewritten or a rolled-back ledger).

Witnesses are configured with REGISTRY_WITNESSES: space-separated ``URL=VKEY`` pairs
(the witness's submission prefix and its cosignature/v1 verifier key). Each is sent the
newest checkpoint with a consistency proof from the size it last cosigned (the newest
cosignature stored from it; on 409 the size it names). HTTP runs with a short timeout and
outside any write transaction of the ledger: a witness that is down is reported, not
fatal. The caller commits what this stores.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.ledger.checkpoints import last_checkpoint
from registry.ledger.cosignature import Cosigner, parse_cosigner_key, verify_cosignatures
from registry.ledger.models import Checkpoint, WitnessCosignature
from registry.ledger.note import NoteError
from registry.ledger.proofs import consistency_proof

DEFAULT_TIMEOUT = 5.0
MAX_ANSWER = 64 * 1024


class WitnessConfigError(ValueError):
    """REGISTRY_WITNESSES is not a list of URL=VKEY pairs."""


@dataclass(frozen=True)
class WitnessSpec:
    url: str  # the submission prefix: POST <url>/add-checkpoint
    cosigner: Cosigner

    @property
    def name(self) -> str:
        return self.cosigner.name


def parse_witnesses(text: str | None) -> list[WitnessSpec]:
    specs = []
    for pair in (text or "").split():
        url, sep, vkey = pair.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise WitnessConfigError(f"witness {pair!r} is not URL=VKEY")
        try:
            specs.append(WitnessSpec(url.rstrip("/"), parse_cosigner_key(vkey)))
        except NoteError as exc:
            raise WitnessConfigError(f"witness {url}: {exc}") from None
    return specs


@dataclass(frozen=True)
class Outcome:
    """What became of one submission: ``cosigned``, ``refused`` (stored as an alarm) or
    ``failed`` (not reachable, or an answer that is not one; reported only)."""

    witness: str
    url: str
    result: str
    message: str

    def line(self) -> str:
        return f"Witness {self.witness} ({self.url}): {self.result}: {self.message}"


def last_cosigned_size(session: Session, spec: WitnessSpec) -> int:
    size = session.scalar(
        sa.select(sa.func.max(WitnessCosignature.tree_size)).where(
            WitnessCosignature.witness == spec.name,
            WitnessCosignature.key_id == spec.cosigner.key_id.hex(),
            WitnessCosignature.refused.is_(False),
        )
    )
    return size or 0


def _post(url: str, body: str, timeout: float) -> tuple[int, str, str]:
    request = urllib.request.Request(
        f"{url}/add-checkpoint", data=body.encode(), method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get_content_type(), _read(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), _read(error)


def _read(response: object) -> str:
    return response.read(MAX_ANSWER).decode("utf-8", "replace")  # type: ignore[attr-defined]


def _request_body(session: Session, old: int, checkpoint: Checkpoint) -> str:
    proof = consistency_proof(session, old, checkpoint.tree_size) if old else []
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return "\n".join(lines) + "\n\n" + checkpoint.note


def submit(
    session: Session,
    spec: WitnessSpec,
    checkpoint: Checkpoint,
    *,
    note: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    read: Session | None = None,
) -> Outcome:
    """Submit ``checkpoint`` to one witness and store its cosignature or refusal in
    ``session``. ``read``: the session to read through (the size last cosigned, the
    consistency proof), so that ``session`` begins no transaction before the witness
    has answered (on SQLite a writing transaction holds the write lock from its first
    statement). ``note``: the signed note to send instead of the row's (a forged one,
    in tests).

    A witness that has cosigned a larger tree than ``checkpoint`` is sent the newest
    checkpoint of the database when that one is at least as large (another process
    signed and submitted it meanwhile: witnesses cosign only forward); when the
    database holds no checkpoint that large, the ledger was rolled back or truncated:
    a refusal, stored as an alarm."""
    reading = read if read is not None else session
    old = last_cosigned_size(reading, spec)
    sent = checkpoint.note if note is None else note
    for _attempt in range(3):
        if old > checkpoint.tree_size:
            newest = last_checkpoint(reading) if note is None else None
            if newest is not None and newest.tree_size >= old:
                checkpoint, sent = newest, newest.note
                continue
            message = (
                f"rollback: it cosigned a tree of {old} events, the ledger's latest signed"
                f" checkpoint has {checkpoint.tree_size}"
            )
            return _refused(session, spec, checkpoint, message)
        body = _request_body(reading, old, checkpoint)
        if note is not None:
            body = body[: len(body) - len(checkpoint.note)] + sent
        try:
            status, content_type, answer = _post(spec.url, body, timeout)
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            return Outcome(spec.name, spec.url, "failed", f"not reachable ({reason})")
        if status == 409 and content_type == "text/x.tlog.size":
            text = answer.strip()
            if not text.isdigit() or int(text) == old:
                break
            old = int(text)
            continue
        if status == 200:
            return _cosigned(session, spec, checkpoint, sent, answer)
        if status in (403, 422):
            return _refused(session, spec, checkpoint, f"{status}: {answer.strip()[:500]}")
        return Outcome(spec.name, spec.url, "failed", f"answered {status}: {answer.strip()[:200]}")
    return Outcome(spec.name, spec.url, "failed", "it keeps answering 409 Conflict")


def _cosigned(
    session: Session, spec: WitnessSpec, checkpoint: Checkpoint, note: str, answer: str
) -> Outcome:
    try:
        found = verify_cosignatures(note + answer, [spec.cosigner])
    except NoteError as exc:
        return Outcome(spec.name, spec.url, "failed", f"a cosignature that is not one: {exc}")
    if not found:
        return Outcome(spec.name, spec.url, "failed", "no cosignature from its key")
    cosignature = found[0]
    session.add(
        WitnessCosignature(
            tree_size=checkpoint.tree_size,
            checkpoint_id=checkpoint.id,
            witness=spec.name,
            url=spec.url,
            key_id=spec.cosigner.key_id.hex(),
            timestamp=cosignature.timestamp,
            signature=cosignature.line,
            refused=False,
            received_at=utcnow(),
        )
    )
    session.flush()
    return Outcome(spec.name, spec.url, "cosigned", f"tree of {checkpoint.tree_size} events")


def _refused(session: Session, spec: WitnessSpec, checkpoint: Checkpoint, message: str) -> Outcome:
    session.add(
        WitnessCosignature(
            tree_size=checkpoint.tree_size,
            checkpoint_id=checkpoint.id,
            witness=spec.name,
            url=spec.url,
            key_id=spec.cosigner.key_id.hex(),
            refused=True,
            answer=message,
            received_at=utcnow(),
        )
    )
    session.flush()
    return Outcome(spec.name, spec.url, "refused", message)


def cosignatures(session: Session, tree_size: int) -> list[WitnessCosignature]:
    """The stored cosignatures of the checkpoint of ``tree_size``, one per witness key."""
    rows = session.scalars(
        sa.select(WitnessCosignature)
        .where(
            WitnessCosignature.tree_size == tree_size,
            WitnessCosignature.refused.is_(False),
        )
        .order_by(WitnessCosignature.id)
    )
    kept: dict[tuple[str, str], WitnessCosignature] = {}
    for row in rows:
        kept.setdefault((row.witness, row.key_id), row)
    return list(kept.values())


def cosignature_lines(session: Session, tree_size: int) -> str:
    """The cosignature lines of the checkpoint of ``tree_size``, to append to its note."""
    return "".join(row.signature for row in cosignatures(session, tree_size) if row.signature)


def refusals(session: Session) -> list[WitnessCosignature]:
    """Every refusal recorded, oldest first: each an alarm."""
    return list(
        session.scalars(
            sa.select(WitnessCosignature)
            .where(WitnessCosignature.refused.is_(True))
            .order_by(WitnessCosignature.id)
        )
    )


def refusal_line(row: WitnessCosignature) -> str:
    return (
        f"ALARM: witness {row.witness} ({row.url}) refused the checkpoint of {row.tree_size}"
        f" events at {row.received_at:%Y-%m-%d %H:%M:%S} UTC: {row.answer}"
    )


def witness_overview(session: Session, specs: list[WitnessSpec]) -> list[dict[str, object]]:
    """Per configured witness: the size it last cosigned and when."""
    overview = []
    for spec in specs:
        row = session.scalar(
            sa.select(WitnessCosignature)
            .where(
                WitnessCosignature.witness == spec.name,
                WitnessCosignature.refused.is_(False),
            )
            .order_by(WitnessCosignature.tree_size.desc(), WitnessCosignature.id.desc())
            .limit(1)
        )
        overview.append(
            {
                "name": spec.name,
                "url": spec.url,
                "vkey": spec.cosigner.vkey,
                "tree_size": row.tree_size if row else None,
                "received_at": row.received_at if row else None,
            }
        )
    return overview
