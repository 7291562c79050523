"""docs/evidence-format.md states the constants the code uses: a verifier written from
the document alone must agree with the registry's."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.evidence import pack, verifier
from registry.ledger.chain import EVENT_FORMAT, GENESIS_HASH
from registry.ledger.keys import Signer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "evidence-format.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(title)
    end = DOC.find("\n#", start + len(title))
    return DOC[start : end if end > 0 else None]


def test_the_constants_are_the_codes():
    assert GENESIS_HASH == verifier.GENESIS == "0" * 64
    assert f"the **genesis hash** `{GENESIS_HASH}` (64 zeros)" in DOC
    assert f"| `v` | `{EVENT_FORMAT}`, the event format |" in DOC
    assert pack.PACK_FORMAT == verifier.PACK_FORMAT
    assert f"(format `{pack.PACK_FORMAT}`, version `{pack.FORMAT_VERSION}`)" in DOC
    assert pack.FORMAT_VERSION == verifier.FORMAT_VERSION
    assert f"\n{verifier.STATEMENT}\nmanifest.json sha256:<" in DOC
    context = verifier.STATEMENT_CONTEXT
    assert context == pack.STATEMENT_CONTEXT and context.endswith(b"\x00")
    assert f"the {len(context)}\nbytes `{context[:-1].decode()}` followed by one NUL byte" in DOC


def test_the_exit_statuses_are_the_verifiers():
    table = _section("### Exit status")
    stated = {int(n) for n in re.findall(r"^\| `(\d)` \|", table, re.M)}
    assert stated == set(verifier.EXIT_CODES)
    assert "| `0` | **VERIFIED**" in table and "**not verified**" in table
    assert (verifier.VERIFIED, verifier.FAILED, verifier.UNREADABLE, verifier.UNPINNED) == (
        0,
        1,
        2,
        3,
    )


def test_the_limits_are_the_verifiers_defaults():
    limits = verifier.Limits()
    text = _section("## What `verify_pack.py` does")
    assert f"({limits.members:,})" in text
    assert f"({limits.member_size >> 20:,} MiB)" in text
    assert f"({limits.total_size >> 20:,} MiB)" in text
    assert f"({limits.ratio})" in text and limits.ratio_floor == 1 << 20 == verifier.NOTE_MAX


def test_the_documented_fields_are_those_checked():
    for title, fields in (
        ("### `systems/<reference>/history.json`", verifier._VERSION | verifier._HISTORY_ENTRY),
        ("### `systems/<reference>/state.json`", verifier._STATE_ENTRY | verifier._STATE),
        ("### `index.json`", verifier._INDEX_ROW | verifier._INDEX),
    ):
        section = _section(title)
        assert {f for f in fields if f'"{f}"' not in section} == set(), title


def test_the_key_id_is_computed_as_documented():
    signer = Signer("registry.example/ai-governance", Ed25519PrivateKey.generate())
    public = signer.public_key.public_bytes_raw()
    documented = hashlib.sha256(signer.name.encode() + b"\x0a" + b"\x01" + public).digest()[:4]
    assert documented.hex() == signer.key_id
    assert signer.verifier_key.split("+")[1] == documented.hex()
