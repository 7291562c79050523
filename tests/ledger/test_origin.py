"""Each installation names its ledger once: `registry keys init` chooses the origin
(--origin, else REGISTRY_ORIGIN, else a unique default), stores it with the key, and
everything signs under the key's origin from then on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry.extensions import db_session
from registry.ledger.checkpoints import last_checkpoint
from registry.ledger.keys import load_key
from tests.conftest import make_app
from tests.witness.test_registry import _write


def _init(database_url, instance, *args, **config):
    app = make_app(database_url, instance, **config)
    try:
        result = app.test_cli_runner().invoke(args=["keys", "init", *args])
    finally:
        app.extensions["registry.db"].dispose()
    return result


def test_a_new_installation_gets_a_unique_origin(database_url, tmp_path):
    result = _init(database_url, tmp_path / "one")
    assert result.exit_code == 0, result.output
    first = load_key(tmp_path / "one" / "ledger-signing.key").name
    assert re.fullmatch(r"registry\.example/ai-governance/[0-9a-f]{8}", first), first
    assert f"origin {first}" in result.output
    other = _init(database_url, tmp_path / "two")  # another installation's key
    assert other.exit_code == 0, other.output
    assert load_key(tmp_path / "two" / "ledger-signing.key").name != first


def test_the_origin_is_chosen_at_init_and_the_keys_from_then_on(database_url, tmp_path):
    instance = tmp_path / "instance"
    configured = {"ORIGIN": "configured.example/registry"}
    result = _init(database_url, instance, "--origin", "ours.example/ai", **configured)
    assert result.exit_code == 0, result.output
    assert load_key(instance / "ledger-signing.key").name == "ours.example/ai"  # --origin wins
    # Asked again with another origin: the key's stands, and saying otherwise fails.
    result = _init(database_url, instance, "--if-missing", "--origin", "else.example/x")
    assert result.exit_code == 1 and "names the origin 'ours.example/ai'" in result.output
    result = _init(database_url, instance, "--if-missing", **configured)
    assert result.exit_code == 0, result.output
    # The setting only seeds init: checkpoints are signed under the key's origin.
    app = make_app(database_url, instance, ORIGIN="configured.example/registry")
    try:
        _write(app, 2)
        assert app.test_cli_runner().invoke(args=["ledger", "checkpoint"]).exit_code == 0
        with app.app_context():
            assert last_checkpoint(db_session()).note.startswith("ours.example/ai\n")
    finally:
        app.extensions["registry.db"].dispose()

    other = tmp_path / "other"
    result = _init(database_url, other, **configured)
    assert result.exit_code == 0, result.output
    assert load_key(other / "ledger-signing.key").name == "configured.example/registry"


@pytest.mark.parametrize(
    ("origin", "says"),
    [
        ("https://registry.example.org/ai", "drop the 'https://'"),
        ("registry example", "no spaces"),
        ("registry.example/a+b", "'+'"),
        ("registry.example/\u00e9", "printable ASCII"),
        ("r" * 201, "longer than 200"),
        ("/ai-governance", "not a host name"),
        ("", "empty"),
    ],
)
def test_a_bad_origin_is_refused_with_one_line(database_url, tmp_path, origin, says):
    instance = tmp_path / "instance"
    result = _init(database_url, instance, "--origin", origin)
    if origin == "":  # an empty --origin falls back to the default: nothing to refuse
        assert result.exit_code == 0
        return
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --origin: ") and says in lines[0]
    assert not Path(instance / "ledger-signing.key").exists()
    # The same rule for REGISTRY_ORIGIN.
    result = _init(database_url, instance, ORIGIN=origin)
    assert result.exit_code == 2 and "Error: REGISTRY_ORIGIN: " in result.output
