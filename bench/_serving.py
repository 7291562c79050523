"""Servers for the benchmarks that talk HTTP: a registry prepared through its command
line, ``registry serve`` processes, and HAProxy in front of them."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent  # the virtualenv's bin: registry
HOST = "127.0.0.1"
OFFICER = "officer@demo.registry.example"
JSON = {"Content-Type": "application/json"}
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Connection:
    """One persistent HTTP/1.1 connection (as a client pool keeps)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)

    def send(self, method: str, path: str, body: object = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        sent = {**(JSON if data else {}), **(headers or {})}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=sent)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # the server closed an idle connection: once more
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


class Registry:
    """A registry on ``url`` with the demo's users and example systems, a signing key, a
    compliance officer's API token; the settings every server of it shares."""

    def __init__(self, url: str, folder: Path, **settings: str) -> None:
        self.folder = folder
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("REGISTRY_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        self.env.update(
            REGISTRY_DATABASE_URL=url,
            REGISTRY_INSTANCE_PATH=str(folder / "instance"),
            REGISTRY_SIGNING_KEY=str(folder / "ledger-signing.key"),
            REGISTRY_EXPORT_DIR=str(folder / "exports"),
            REGISTRY_SECRET_KEY=secrets.token_hex(32),
            **settings,
        )
        for args in (["keys", "init"], ["demo", "--no-register"]):
            self.command(args)
        self.token = self.command(["tokens", "create", OFFICER, "--name", "bench"]).strip()
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def command(self, args: list[str], env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [str(BIN / "registry"), *args],
            cwd=self.folder,
            env=env or self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"registry {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def references(self, port: int) -> list[str]:
        status, body = Connection(port).send("GET", "/api/v1/systems", headers=self.headers)
        assert status == 200, body[:500]
        return [s["reference"] for s in json.loads(body)["items"]]

    @contextmanager
    def serve(self, name: str, workers: int) -> Iterator[tuple[int, subprocess.Popen]]:
        """``registry serve`` on a free port, its own instance folder; (port, process)."""
        port = free_port()
        env = {**self.env, "REGISTRY_INSTANCE_PATH": str(self.folder / f"instance-{name}")}
        log = (self.folder / f"{name}.log").open("w")
        process = subprocess.Popen(
            [str(BIN / "registry"), "serve", "--workers", str(workers), "--port", str(port)],
            cwd=self.folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(port, "/healthz", process)
            yield port, process
        finally:
            stop(process)
            log.close()


def wait_for(port: int, path: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped with status {process.returncode}")
        try:
            status, _ = Connection(port).send("GET", path)
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer on port {port} after {seconds} s")
        time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


HAPROXY_CONFIG = """
global
    maxconn 512
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    option forwardfor
frontend registry
    bind 127.0.0.1:{port}
    default_backend app_servers
backend app_servers
    balance roundrobin
{servers}
"""


@contextmanager
def haproxy(backends: list[int], folder: Path) -> Iterator[int]:
    """HAProxy on a free port, balancing over ``backends`` (ports); its port."""
    port = free_port()
    config = folder / f"haproxy-{port}.cfg"
    servers = "\n".join(f"    server s{n} 127.0.0.1:{p}" for n, p in enumerate(backends))
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(port, "/healthz", process)
        yield port
    finally:
        stop(process)


def rss_kib(pid: int) -> int:
    """A process's resident set size (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a gunicorn master's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found
