"""Running the ``registry`` command as a server in a child process, for tests that talk
to it over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    url: str
    process: subprocess.Popen
    output: str = ""
    errors: str = field(default="", repr=False)


@contextmanager
def served(
    command: Sequence[str],
    port: int,
    env: dict[str, str],
    cwd: Path,
    wait: float = 30.0,
    ready_path: str = "/login",
) -> Iterator[Served]:
    """Start ``command`` (a server on ``port``), wait until ``ready_path`` answers, and stop it
    with SIGTERM on leaving; ``output`` then holds its standard output."""
    process = subprocess.Popen(
        list(command),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    run = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + wait
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server stopped: {process.communicate()}")
            try:
                with urllib.request.urlopen(f"{run.url}{ready_path}", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer on {run.url} after {wait} s") from None
                time.sleep(0.2)
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            run.output, run.errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            run.output, run.errors = process.communicate()
