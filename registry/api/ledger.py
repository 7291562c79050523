"""The ledger over the API: public keys, signed checkpoints, events, inclusion proofs and
the verification status, so that a client can check the registry without trusting it."""

from __future__ import annotations

import json
from typing import Any

from registry.accounts.permissions import require
from registry.api.auth import current_actor
from registry.api.blueprint import READ, Blueprint
from registry.api.schemas import (
    CheckpointPage,
    CheckpointQuery,
    ConsistencyOut,
    ConsistencyQuery,
    CosignedCheckpointOut,
    EventOut,
    KeysOut,
    LedgerAsOfQuery,
    ProofOut,
    ProofQuery,
    VerificationOut,
)
from registry.api.systems import PAGE_HEADERS, next_link
from registry.errors import NotFound
from registry.extensions import db_session
from registry.ledger import trail
from registry.ledger.consistency import prove_consistency
from registry.ledger.models import Checkpoint
from registry.ledger.status import (
    current_key,
    get_event,
    prove_inclusion,
    shared_verification,
    verifier_keys,
)
from registry.ledger.witnessing import cosignatures

bp = Blueprint(
    "api_ledger",
    __name__,
    tag="Ledger",
    url_prefix="/api/v1/ledger",
    description="The audit ledger: keys, signed checkpoints, events, proofs, verification.",
)


def _reader() -> Any:
    session = db_session()
    require(session, current_actor(), "read")
    return session


@bp.route("/keys", methods=["GET"], operation_id="listLedgerKeys")
@bp.response(200, KeysOut)
@bp.problems()  # public: only 503, the keys recorded in the ledger are read
@bp.doc(security=[])
def keys() -> Any:
    """Verifier keys

    The keys that sign checkpoints, in the C2SP note verifier format: the current one
    first, then earlier ones recorded in the ledger. No token needed.
    """
    session = db_session()
    return {"current": current_key(session), "keys": verifier_keys(session)}


def _checkpoint_out(row: Checkpoint) -> dict[str, Any]:
    return {
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "chain_head": row.chain_head,
        "key_id": row.key_id,
        "created_at": row.created_at,
        "note": row.note,
    }


@bp.route("/checkpoints", methods=["GET"], operation_id="listCheckpoints")
@bp.arguments(CheckpointQuery, location="query", as_kwargs=True)
@bp.response(200, CheckpointPage, headers=PAGE_HEADERS)
@bp.problems(*READ)
def checkpoints(limit: int, after: int | None = None, as_of: Any = None) -> Any:
    """Signed checkpoints

    Every signed tree head, by tree size (those made by `as_of` when given).
    """
    session = _reader()
    rows = trail.checkpoints(session, limit + 1, after=after, as_of=as_of)
    cursor = rows[limit - 1].tree_size if len(rows) > limit else None
    headers = next_link(
        "api_ledger.checkpoints",
        cursor,
        limit=limit,
        as_of=as_of.isoformat() if as_of else None,
    )
    return {"items": [_checkpoint_out(r) for r in rows[:limit]], "next_cursor": cursor}, headers


@bp.route("/checkpoints/latest", methods=["GET"], operation_id="getLatestCheckpoint")
@bp.arguments(LedgerAsOfQuery, location="query", as_kwargs=True)
@bp.response(200, CosignedCheckpointOut)
@bp.problems(*READ, 404)
def latest_checkpoint(as_of: Any = None) -> Any:
    """The latest signed checkpoint

    The newest signed tree head (at `as_of` when given), with the witnesses'
    cosignatures (c2sp.org/tlog-cosignature) appended to its note.
    """
    session = _reader()
    row = trail.latest_checkpoint(session, as_of)
    cosigned = cosignatures(session, row.tree_size)
    out = _checkpoint_out(row)
    out["note"] += "".join(c.signature for c in cosigned if c.signature)
    out["cosignatures"] = [
        {"witness": c.witness, "key_id": c.key_id, "timestamp": c.timestamp, "line": c.signature}
        for c in cosigned
    ]
    return out


@bp.route("/events/<int:seq>", methods=["GET"], operation_id="getEvent")
@bp.arguments(LedgerAsOfQuery, location="query", as_kwargs=True)
@bp.response(200, EventOut)
@bp.problems(*READ, 404)
def event(seq: int, as_of: Any = None) -> Any:
    """One audit event

    The event's canonical JSON exactly as hashed, and its hashes.
    """
    row = get_event(_reader(), seq)
    if as_of is not None and row.recorded_at > as_of:
        raise NotFound(f"No event {seq} in the ledger at that time.")
    return {
        "seq": row.seq,
        "recorded_at": row.recorded_at,
        "canonical": row.event.decode(),
        "event": json.loads(row.event),
        "prev_hash": row.prev_hash,
        "event_hash": row.event_hash,
        "leaf_hash": row.leaf_hash,
    }


@bp.route("/events/<int:seq>/proof", methods=["GET"], operation_id="getInclusionProof")
@bp.arguments(ProofQuery, location="query", as_kwargs=True)
@bp.response(200, ProofOut)
@bp.problems(*READ, 404, 409)
def proof(seq: int, tree_size: int | None = None, as_of: Any = None) -> Any:
    """Inclusion proof of an event

    The RFC 6962 audit path from the event's leaf to the root of a signed checkpoint:
    the one of `tree_size`, or the latest (at `as_of`). 409 while no signed checkpoint
    covers the event yet.
    """
    session = _reader()
    if tree_size is None and as_of is not None:
        tree_size = trail.latest_checkpoint(session, as_of).tree_size
    return prove_inclusion(session, seq, tree_size).as_dict()


@bp.route("/consistency", methods=["GET"], operation_id="getConsistencyProof")
@bp.arguments(ConsistencyQuery, location="query", as_kwargs=True)
@bp.response(200, ConsistencyOut)
@bp.problems(*READ)
def consistency(from_size: int, to_size: int) -> Any:
    """Consistency proof between two checkpoints

    The RFC 9162 (2.1.4) proof that the signed tree of `from` events is a prefix of the
    signed tree of `to` events: a reader holding the older checkpoint checks with it
    that the ledger only grew. Both sizes must be those of signed checkpoints, `from`
    not larger than `to` (422 otherwise, naming the parameter).
    """
    return prove_consistency(_reader(), from_size, to_size).as_dict()


@bp.route("/verification", methods=["GET"], operation_id="getLedgerVerification")
@bp.response(200, VerificationOut)
@bp.problems(*READ)
def verification() -> Any:
    """Verification status

    The whole ledger checked against the current key: every event's hash and link,
    the Merkle leaves, every version against its event, every signed checkpoint. The
    result is shared by callers while the ledger has not grown, for up to a minute.
    """
    report, verified_at = shared_verification(_reader())
    return {
        "ok": report.ok,
        "summary": report.summary(),
        "problem": report.problem,
        "problem_seq": report.problem_seq,
        "events": report.events,
        "versions": report.versions,
        "checkpoints": report.checkpoints,
        "uncovered": report.uncovered,
        "head": report.head,
        "verified_at": verified_at,
    }
