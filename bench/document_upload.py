"""Evidence document uploads: throughput and memory, against writing the same bytes.

``registry serve`` (one gunicorn worker, SQLite, the local blob store) receives
documents over real HTTP (multipart/form-data, streamed). The baseline, in the same
run: writing the same bytes to a file in the same folder while hashing them with
SHA-256, then fsync (the store also computes their CRC-32, which the baseline does not:
the ratio includes its cost). Figures: the upload's throughput as a ratio of
the baseline's (target >= 0.7), and the worker's peak resident memory during a 1 GiB
upload above its idle size (target < 100 MB).

    python document_upload.py [--mib 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _common import median

from registry import create_app
from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.extensions import db_session
from registry.migrate import upgrade
from registry.records import writes

CHUNK = 1024 * 1024
BOUNDARY = "registry-bench-upload"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def children(pid: int) -> list[int]:
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


def upload(port: int, token: str, size: int, chunk: bytes) -> dict:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="b.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    connection.putrequest("POST", "/api/v1/systems/bench/documents")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
    connection.putheader("Content-Length", str(len(head) + size + len(tail)))
    connection.endheaders()
    connection.send(head)
    left = size
    while left:
        part = chunk[: min(left, len(chunk))]
        connection.send(part)
        left -= len(part)
    connection.send(tail)
    answer = connection.getresponse()
    body = json.loads(answer.read())
    connection.close()
    if answer.status != 201:
        raise RuntimeError(f"upload answered {answer.status}: {body}")
    return body


def baseline(folder: Path, size: int, chunk: bytes) -> None:
    """The same bytes written to a file with SHA-256, then fsynced."""
    digest = hashlib.sha256()
    path = folder / "baseline.bin"
    with path.open("wb") as fh:
        left = size
        while left:
            part = chunk[: min(left, len(chunk))]
            digest.update(part)
            fh.write(part)
            left -= len(part)
        fh.flush()
        os.fsync(fh.fileno())
    digest.hexdigest()
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of each upload (MiB)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * CHUNK
    with tempfile.TemporaryDirectory(prefix="registry-bench-docs-") as tmp:
        folder = Path(tmp)
        instance = folder / "instance"
        url = f"sqlite:///{instance / 'registry.sqlite3'}"
        instance.mkdir()
        upgrade(url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        env.update(
            REGISTRY_DATABASE_URL=url,
            REGISTRY_INSTANCE_PATH=str(instance),
            REGISTRY_SECRET_KEY="bench",
            REGISTRY_DOCUMENT_MAX_BYTES=str(size + CHUNK),
        )
        app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "TESTING": True})
        with app.app_context():
            session = db_session()
            admin = Actor.system("bench", roles=frozenset({"admin"}))
            user, _ = create_user(
                session, admin, "bench@example.org", ["compliance_officer"], "x" * 16
            )
            officer = Actor.for_user(user)
            writes.create_system(
                session,
                officer,
                {"name": "Bench", "reference": "bench", "purpose": "Benchmark", "stage": "pilot"},
            )
            _, token = create_token(session, officer, user, name="bench")
            session.commit()
        app.extensions["registry.db"].dispose()
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)]
            + ["--workers", "1", "--timeout", "900"],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(port)
            (worker,) = children(server.pid)
            chunk = os.urandom(CHUNK)
            upload(port, token, CHUNK, chunk)  # warm up
            idle = rss(worker)
            peak = idle
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, rss(worker))
                    time.sleep(0.01)

            uploads, writes_ = [], []
            for _ in range(args.runs):
                started = time.perf_counter()
                baseline(instance, size, chunk)
                writes_.append(time.perf_counter() - started)
                # Distinct bytes each run: each upload keeps a new blob.
                chunk = os.urandom(CHUNK)
                sampler = threading.Thread(target=sample)
                done.clear()
                sampler.start()
                started = time.perf_counter()
                upload(port, token, size, chunk)
                uploads.append(time.perf_counter() - started)
                done.set()
                sampler.join()
        finally:
            server.terminate()
            server.wait(timeout=60)
    mib = size / CHUNK
    up, base = median(uploads), median(writes_)
    print(f"document upload, {mib:.0f} MiB x {args.runs} (medians)")
    print(f"  write + sha256 + fsync (baseline)  {base:7.2f} s  {mib / base:8.1f} MiB/s")
    print(f"  upload over HTTP (registry serve)  {up:7.2f} s  {mib / up:8.1f} MiB/s")
    print(f"  throughput ratio upload/baseline   {base / up:7.2f}   (target >= 0.7)")
    print(
        f"  worker RSS idle {idle / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB: "
        f"+{(peak - idle) / 2**20:.1f} MiB   (target < 100 MB)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
