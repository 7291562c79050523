"""Every runnable example in README.md and docs/*.md works against a live registry.

The test prepares what ``make run`` prepares (a migrated SQLite database in an instance
folder, the signing key, the demo data, a first checkpoint), serves the app on a free
local port, and runs each document's examples in order with bash, in one shell per
document, from a folder that looks like the checkout's root (its files linked, the
virtualenv at ``.venv``) but has its own ``instance/`` and ``audit_exports/``.

How the documents mark their code blocks:

- ```` ```sh ```` is runnable and is run. ``127.0.0.1:5000`` (where ``make run``
  serves) becomes the test server's address.
- ```` ```text ```` and ```` ```console ```` are synopses and are not run; so are
  blocks in other languages (``json``, ``sql``).
- A block without a language, or marked ``bash``/``shell``/``zsh``, fails the test:
  say whether it runs.
- A command expected to fail is written ``COMMAND || echo "MESSAGE"``; the test checks
  that MESSAGE was printed, that is, that the command did fail.

The NL algorithm register is loaded only when a runnable block names one of its
systems (``nl-…``); otherwise ``registry demo --no-register`` keeps the test fast.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving import free_port, served

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = "sh"
UNMARKED = {"", "bash", "shell", "zsh", "sh-session", "shell-session"}
MAKE_RUN_ADDRESS = "127.0.0.1:5000"
EXPECTED_FAILURE = re.compile(r'\|\|\s*echo\s+"([^"]*)"')
FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    info: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def code_blocks(document: Path) -> list[Block]:
    """The fenced code blocks of a Markdown document, in order."""
    blocks: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if not opening:
            continue
        fence, start = opening["fence"], index
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if (
                closing
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            index += 1
        language = opening["info"].strip().split(" ")[0].lower()
        blocks.append(Block(document, start, language, "\n".join(lines[start:index]) + "\n"))
        index += 1
    return blocks


def runnable_blocks(document: Path) -> list[Block]:
    return [block for block in code_blocks(document) if block.info == RUNNABLE]


def test_the_harness_reads_fences(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text(
        "Intro\n````sh\necho one\n```\n````\n\n~~~text\nsynopsis\n~~~\n```\nbare\n```\n"
        "  ```json\n  {}\n  ```\n",
        encoding="utf-8",
    )
    assert [(b.line, b.info, b.text) for b in code_blocks(sample)] == [
        (2, "sh", "echo one\n```\n"),
        (7, "text", "synopsis\n"),
        (10, "", "bare\n"),
        (13, "json", "  {}\n"),
    ]


def test_every_code_block_says_whether_it_runs() -> None:
    unmarked = [
        f"{block.where} (```{block.info})"
        for document in DOCUMENTS
        for block in code_blocks(document)
        if block.info in UNMARKED
    ]
    assert not unmarked, (
        "Mark these blocks ```sh (run by this test) or ```text / ```console (a synopsis, "
        f"not run): {', '.join(unmarked)}"
    )
    assert any(runnable_blocks(document) for document in DOCUMENTS)


@dataclass(frozen=True)
class LiveRegistry:
    address: str  # host:port
    workdir: Path  # stands for the checkout's root
    env: dict[str, str]


def _run_recipe() -> list[str]:
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "The Makefile has no run target"
    return [line.strip() for line in recipe[1].splitlines()]


def make_run_preparation() -> list[list[str]]:
    """The ``registry`` commands the Makefile's ``run`` target runs before it serves."""
    commands = [
        line.split()[1:]
        for line in _run_recipe()
        if line.startswith("$(BIN)/registry ") and "&" not in line
    ]
    assert commands and commands[-1][0] == "serve", commands
    return commands[:-1]


def make_run_beside() -> list[list[str]]:
    """The ``registry`` commands the ``run`` target starts in the background beside the
    server (the job worker)."""
    return [
        line.split("&")[0].split()[1:]
        for line in _run_recipe()
        if line.startswith("$(BIN)/registry ") and "&" in line
    ]


def _run(command: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRegistry]:
    """What ``make run`` prepares and serves, in a temporary checkout-like folder."""
    if shutil.which("curl") is None:
        pytest.fail(
            "curl is not installed: the examples in README.md and docs/ use it. "
            "Install it (Debian: apt-get install curl; `make test` does it with "
            ".ci/ensure-curl)."
        )
    bin_dir = Path(sys.executable).parent
    registry = bin_dir / "registry"
    if not registry.exists():
        pytest.fail(f"No `registry` command beside {sys.executable}: run the tests from the venv.")
    workdir = tmp_path_factory.mktemp("checkout")
    for item in ROOT.iterdir():
        if item.name not in {"instance", "audit_exports", ".venv"} and not item.name.startswith(
            "."
        ):
            (workdir / item.name).symlink_to(item)
    (workdir / ".venv").symlink_to(bin_dir.parent)
    instance = workdir / "instance"
    instance.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("REGISTRY") and name != "TOKEN"
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        REGISTRY_INSTANCE_PATH=str(instance),
        REGISTRY_DATABASE_URL=f"sqlite:///{instance / 'registry.sqlite3'}",
        REGISTRY_SIGNING_KEY=str(instance / "ledger-signing.key"),
        REGISTRY_EXPORT_DIR=str(workdir / "audit_exports"),
    )
    if "REGISTRY_DEMO_CORPUS" in os.environ:
        env["REGISTRY_DEMO_CORPUS"] = os.environ["REGISTRY_DEMO_CORPUS"]
    needs_register = any(
        re.search(r"\bnl-", block.text)
        for document in DOCUMENTS
        for block in runnable_blocks(document)
    )
    for command in make_run_preparation():
        if command == ["demo"] and not needs_register:
            command = ["demo", "--no-register"]
        _run([str(registry), *command], env, workdir)

    beside = [
        subprocess.Popen(
            [str(registry), *command],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for command in make_run_beside()
    ]
    assert [c[0] for c in make_run_beside()] == ["worker"]
    port = free_port()
    try:
        with served(
            [str(registry), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            port,
            env,
            workdir,
        ):
            yield LiveRegistry(f"127.0.0.1:{port}", workdir, env)
    finally:
        for process in beside:
            process.send_signal(signal.SIGINT)
            process.wait(30)


def _script(blocks: list[Block], address: str) -> str:
    parts = ["set -euo pipefail"]
    for block in blocks:
        text = block.text.replace(MAKE_RUN_ADDRESS, address)
        parts.append(f"printf '\\n### %s\\n' '{block.where}'\n{text}")
    return "\n".join(parts)


@pytest.mark.parametrize(
    "document",
    [document for document in DOCUMENTS if runnable_blocks(document)],
    ids=lambda document: str(document.relative_to(ROOT)),
)
def test_examples_run(document: Path, live: LiveRegistry) -> None:
    blocks = runnable_blocks(document)
    done = subprocess.run(
        ["bash", "-c", _script(blocks, live.address)],
        env=live.env,
        cwd=live.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout
    failed_in = re.findall(r"^### (.+)$", output, re.MULTILINE)
    assert done.returncode == 0, (
        f"The example at {failed_in[-1] if failed_in else document.name} failed "
        f"(exit {done.returncode}):\n" + "\n".join(line[:500] for line in output.splitlines()[-60:])
    )
    lines = [line.rstrip() for line in output.splitlines()]
    for block in blocks:
        for message in EXPECTED_FAILURE.findall(block.text):
            assert message and "$" not in message, (
                f'{block.where}: write an expected failure as `|| echo "MESSAGE"`, '
                "with a fixed MESSAGE"
            )
            assert any(line.endswith(message) for line in lines), (
                f'{block.where}: a command expected to fail (`|| echo "{message}"`) '
                "succeeded:\n" + output
            )
