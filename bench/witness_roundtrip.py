"""Witness round trip per checkpoint: POST /add-checkpoint to a witness served by
`registry witness serve` (another process, over loopback), with a consistency proof
from the last cosigned size; the baseline is a plain GET to the same server in the same
run (what HTTP alone costs). The witness checks the log's signature and the proof,
cosigns and writes its state file (fsync) before answering. Then, per engine, the
registry's side: `submit_latest` (the consistency proof read from the database, the
request, the cosignature checked and stored, the commit) after each checkpoint of a
ledger growing by STEP events.

    .venv/bin/python bench/witness_roundtrip.py [checkpoints]
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from bench._common import ENGINES, fill_ledger, fresh_database, median  # noqa: E402
from registry.db import Database  # noqa: E402
from registry.ledger.checkpoints import make_checkpoint  # noqa: E402
from registry.ledger.keys import Signer  # noqa: E402
from registry.ledger.merkle import (  # noqa: E402
    MerkleAccumulator,
    consistency_proof,
    leaf_hash,
)
from registry.ledger.note import Checkpoint, sign_checkpoint, verifier_key  # noqa: E402
from registry.ledger.witnessing import parse_witnesses, submit_latest  # noqa: E402
from registry.witness.state import create_witness_key  # noqa: E402
from tests.serving import free_port  # noqa: E402

ORIGIN = "bench.example/log"
STEP = 1000  # events between checkpoints


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    key = Ed25519PrivateKey.generate()
    signer = Signer(ORIGIN, key)
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(STEP * (rounds + 1))]
    with tempfile.TemporaryDirectory() as folder:
        witness = create_witness_key(Path(folder) / "w.key", "bench.example/w")
        Path(folder, "w.vkey").write_text(witness.cosigner.vkey)
        port = free_port()
        command = [sys.executable, "-m", "registry.cli", "witness", "serve"]
        command += ["--key", f"{folder}/w.key", "--state", f"{folder}/state"]
        command += ["--port", str(port), "--log", verifier_key(ORIGIN, key.public_key())]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(150):
                try:
                    urllib.request.urlopen(url + "/", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.2)
            bodies = []
            accumulator = MerkleAccumulator()
            old = 0
            for r in range(1, rounds + 1):
                size = STEP * r
                accumulator.extend(leaves[old:size])
                note = sign_checkpoint(Checkpoint(ORIGIN, size, accumulator.root()), ORIGIN, key)
                proof = consistency_proof(leaves[:size], old) if old else []
                lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
                bodies.append(("\n".join(lines) + "\n\n" + note).encode())
                old = size
            posts, gets = [], []
            for body in bodies:
                start = time.perf_counter()
                request = urllib.request.Request(url + "/add-checkpoint", data=body, method="POST")
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert response.status == 200
                    response.read()
                posts.append(time.perf_counter() - start)
                start = time.perf_counter()
                urllib.request.urlopen(url + "/", timeout=10).read()
                gets.append(time.perf_counter() - start)
            registry_side = {}
            for engine in ENGINES:
                registry_side[engine] = _registry_side(engine, signer, url, folder, rounds)
        finally:
            server.terminate()
            server.wait(30)
    post_ms, get_ms = median(posts) * 1000, median(gets) * 1000
    print(f"{rounds} checkpoints, {STEP} events apart, proofs of up to {len(proof)} hashes")
    print(f"add-checkpoint round trip: median {post_ms:.2f} ms")
    print(f"plain GET round trip (baseline, same server): median {get_ms:.2f} ms")
    print(f"ratio add-checkpoint / GET: {post_ms / get_ms:.2f}")
    for engine, samples in registry_side.items():
        ms = median(samples) * 1000
        print(f"{engine}: registry submit + store + commit per checkpoint: median {ms:.2f} ms")


def _registry_side(engine: str, signer: Signer, url: str, folder: str, rounds: int) -> list[float]:
    """The registry's round trip on a fresh database; the witness forgets the bench log
    first (its state file goes), so it starts again at size 0."""
    for held in Path(folder, "state").glob("*.checkpoint"):
        held.unlink()
    vkey = Path(folder, "w.vkey").read_text().strip()
    specs = parse_witnesses(f"{url}={vkey}")
    samples = []
    with fresh_database(engine) as db_url:
        db = Database(db_url)
        try:
            for r in range(1, rounds + 1):
                fill_ledger(db, STEP * r)
                with db.sessionmaker() as session:
                    make_checkpoint(session, signer)
                    session.commit()
                    start = time.perf_counter()
                    outcomes = submit_latest(session, specs)
                    session.commit()
                    samples.append(time.perf_counter() - start)
                    assert outcomes[0].result == "cosigned", outcomes[0].line()
        finally:
            db.dispose()
    print(file=sys.stderr)
    return samples


if __name__ == "__main__":
    main()
