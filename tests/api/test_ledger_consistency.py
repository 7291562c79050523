"""Consistency proofs between signed checkpoints, over the API and the command line:
each proof verifies against the two signed roots (RFC 9162 2.1.4)."""

from __future__ import annotations

import json

import pytest

from registry.ledger.append import append_event
from registry.ledger.checkpoints import make_checkpoint, settings_of
from registry.ledger.merkle import verify_consistency
from registry.ledger.models import Checkpoint
from registry.ledger.note import open_checkpoint, parse_verifier_key


@pytest.fixture
def sizes(app, session, tokens):
    """Signed checkpoints at three sizes beyond those the tokens' events made."""
    signer = settings_of(session).signer
    for n in range(300):
        append_event(session, {"action": "test", "n": n})
        if n in (4, 150, 299):
            make_checkpoint(session, signer)
    session.commit()
    return sorted(
        session.scalars(Checkpoint.__table__.select().with_only_columns(Checkpoint.tree_size))
    )


def _signed_root(session, size: int) -> bytes:
    signer = settings_of(session).signer
    note = session.query(Checkpoint).filter_by(tree_size=size).one().note
    checkpoint, _ = open_checkpoint(note, [parse_verifier_key(signer.verifier_key)])
    return checkpoint.root


def test_every_pair_of_checkpoints_is_proven_consistent(api_as, session, sizes):
    auditor = api_as("auditor")
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            response = auditor.get(f"/api/v1/ledger/consistency?from={old}&to={new}")
            assert response.status_code == 200, response.get_data(as_text=True)
            body = response.get_json()
            assert (body["from"], body["to"]) == (old, new)
            old_root, new_root = _signed_root(session, old), _signed_root(session, new)
            assert (body["from_root"], body["to_root"]) == (old_root.hex(), new_root.hex())
            proof = [bytes.fromhex(h) for h in body["proof"]]
            assert verify_consistency(old, new, old_root, new_root, proof)
            if old != new:
                assert proof and not verify_consistency(old, new, new_root, new_root, proof)


def test_bad_sizes_are_422_naming_the_parameter(api_as, sizes):
    auditor = api_as("auditor")
    small, large = sizes[0], sizes[-1]
    cases = {
        f"from={large}&to={small}": {"from"},
        f"from={small}&to={large + 1}": {"to"},
        f"from={small + 1}&to={large}": {"from"},
        f"from=0&to={large}": {"from"},
        f"from={small}": {"to"},
        f"from=x&to={large}": {"from"},
        f"from={small}&to={large}&extra=1": {"extra"},
    }
    for query, fields in cases.items():
        response = auditor.get(f"/api/v1/ledger/consistency?{query}")
        assert response.status_code == 422, (query, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
        named = {e["parameter"] for e in response.get_json()["errors"]}
        assert named == fields, (query, response.get_json())


def test_the_command_prints_the_same_json(app, api_as, sizes):
    small, large = sizes[0], sizes[-1]
    over_api = api_as("auditor").get(f"/api/v1/ledger/consistency?from={small}&to={large}")
    with app.app_context():
        result = app.test_cli_runner().invoke(
            args=["ledger", "consistency", str(small), str(large)]
        )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == over_api.get_json()
    with app.app_context():
        result = app.test_cli_runner().invoke(
            args=["ledger", "consistency", str(large), str(small)]
        )
    assert result.exit_code == 1
    assert f"(from: Must not be larger than to ({small}).)" in result.output
    assert "{'" not in result.output
    assert "Traceback" not in result.output
