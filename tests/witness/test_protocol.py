"""The witness over HTTP, as c2sp.org/tlog-witness says it answers (no database)."""

from __future__ import annotations

import base64
import hashlib
import stat
import urllib.error
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.ledger.cosignature import verify_cosignatures
from registry.ledger.merkle import consistency_proof, leaf_hash, root_from_leaf_hashes
from registry.ledger.note import Checkpoint, sign_checkpoint, verifier_key

ORIGIN = "registry.test/protocol"
LOG_KEY = Ed25519PrivateKey.generate()
LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(40)]


def note_of(size: int, leaves=LEAVES, key=LOG_KEY, origin=ORIGIN) -> str:
    return sign_checkpoint(
        Checkpoint(origin, size, root_from_leaf_hashes(leaves[:size])), origin, key
    )


def body(old: int, size: int, note: str | None = None, proof=None) -> bytes:
    if proof is None:
        proof = consistency_proof(LEAVES[:size], old) if 0 < old < size else []
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + (note or note_of(size))).encode()


def post(url: str, data: bytes) -> tuple[int, str, str]:
    request = urllib.request.Request(f"{url}/add-checkpoint", data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), error.read().decode()


def test_add_checkpoint_answers_as_the_spec_says(witnesses):
    log_vkey = verifier_key(ORIGIN, LOG_KEY.public_key())
    run, cosigner, state = witnesses("witness.test/w1", [log_vkey])

    status, _, answer = post(run.url, body(0, 5))
    assert status == 200
    cosignatures = verify_cosignatures(note_of(5) + answer, [cosigner])
    assert [c.name for c in cosignatures] == ["witness.test/w1"] and cosignatures[0].timestamp > 0
    state_file = state / f"{hashlib.sha256(ORIGIN.encode()).hexdigest()}.checkpoint"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert state_file.read_text() == note_of(5) + answer

    # A stale old size: 409 with the size it cosigned, as text/x.tlog.size.
    assert post(run.url, body(0, 9)) == (409, "text/x.tlog.size", "5\n")
    assert post(run.url, body(3, 9)) == (409, "text/x.tlog.size", "5\n")
    # Grown, with a consistency proof: cosigned.
    assert post(run.url, body(5, 9))[0] == 200
    # A fork: the same size, another root, signed by the log's own key.
    forked = [*LEAVES[:8], leaf_hash(b"rewritten")]
    status, _, answer = post(run.url, body(9, 9, note_of(9, forked)))
    assert status == 422 and "different root" in answer
    # A rewrite: a longer tree whose proof does not reach the cosigned one.
    rewritten = [leaf_hash(b"other"), *LEAVES[1:]]
    proof = consistency_proof(rewritten[:20], 9)
    assert post(run.url, body(9, 20, note_of(20, rewritten), proof))[0] == 422
    # A rollback: smaller than the old size given (400), or than what it cosigned (409).
    assert post(run.url, body(9, 7))[0] == 400
    assert post(run.url, body(7, 7)) == (409, "text/x.tlog.size", "9\n")
    # A proof with old size 0 must be empty.
    assert post(run.url, body(0, 9, proof=[LEAVES[0]]))[0] == 409
    # Unknown log, another key under the log's name, malformed bodies.
    assert post(run.url, body(0, 3, note_of(3, origin="other.test/log")))[0] == 404
    assert post(run.url, body(0, 3, note_of(3, key=Ed25519PrivateKey.generate())))[0] == 403
    for bad in (
        b"",
        b"old 05\n\n" + note_of(5).encode(),
        b"old 5\nnot base64!\n\n" + note_of(5).encode(),
        b"old 5\n" + note_of(5).encode(),
        b"\xff\xfe",
        b"old 0\n\nnot a note\n",
    ):
        assert post(run.url, bad)[0] == 400, bad
    # Nothing refused moved it: the state is still the tree of 9.
    assert post(run.url, body(9, 12))[0] == 200
    # Monitors read the latest cosigned checkpoint.
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    with urllib.request.urlopen(f"{run.url}/{origin_hash}/checkpoint", timeout=10) as response:
        held = response.read().decode()
    assert held.startswith(note_of(12)) and verify_cosignatures(held, [cosigner])


def test_concurrent_submissions_advance_once(witnesses):
    from concurrent.futures import ThreadPoolExecutor

    run, _, _ = witnesses("witness.test/w2", [verifier_key(ORIGIN, LOG_KEY.public_key())])
    assert post(run.url, body(0, 4))[0] == 200
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda size: post(run.url, body(4, size))[0], range(5, 21, 2)))
    assert statuses.count(200) == 1 and statuses.count(409) == 7
