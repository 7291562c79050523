"""Witnesses as real HTTP servers: `registry witness serve` in child processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from registry.ledger.cosignature import Cosigner
from registry.witness.state import create_witness_key
from tests.serving import Served, free_port, served


def start_witness(
    stack: ExitStack, tmp_path: Path, name: str, log_vkeys: list[str]
) -> tuple[Served, Cosigner, Path]:
    folder = tmp_path / name.replace("/", "_")
    key = folder / "witness.key"
    signer = create_witness_key(key, name)
    port = free_port()
    command = [sys.executable, "-m", "registry.cli", "witness", "serve", "--key", str(key)]
    command += ["--state", str(folder / "state"), "--port", str(port)]
    for vkey in log_vkeys:
        command += ["--log", vkey]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    run = stack.enter_context(served(command, port, env, tmp_path, ready_path="/"))
    return run, signer.cosigner, folder / "state"


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[Callable[..., tuple[Served, Cosigner, Path]]]:
    with ExitStack() as stack:
        yield lambda name, vkeys: start_witness(stack, tmp_path, name, vkeys)
