"""A 1 GiB upload to a live server (``registry serve``, one gunicorn worker) on both
engines and both blob stores: received, hashed and kept, while the worker's resident
memory stays within 100 MB of what it was idle."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from registry.accounts.actor import Actor
from registry.accounts.service import create_token
from registry.records import writes
from tests.records.samples import SAMPLES
from tests.serving import free_port, served

SIZE = 1024**3
CHUNK = 1024 * 1024
BOUNDARY = "registry-big-upload"


def rss(pid: int) -> int:
    """Resident memory of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def workers(pid: int) -> list[int]:
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


def upload(address: str, token: str, size: int, chunk: bytes) -> tuple[int, dict[str, Any]]:
    """POST ``size`` bytes (``chunk`` repeated) as one multipart file, streamed."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    connection.putrequest("POST", "/api/v1/systems/sys-1/documents")
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
    return answer.status, body


def test_a_1_gib_upload_streams_with_flat_memory(
    database_url, session, users, tmp_path, store_settings
):
    officer = Actor.for_user(users["compliance_officer"])
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    _, token = create_token(session, officer, users["compliance_officer"], name="big")
    session.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_DATABASE_URL=database_url,
        REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        REGISTRY_SECRET_KEY="big-upload-secret",
        REGISTRY_DOCUMENT_MAX_BYTES=str(2 * SIZE),
        **{f"REGISTRY_{k}": v for k, v in store_settings.items()},
    )
    port = free_port()
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)]
    with served([*command, "--workers", "1", "--timeout", "600"], port, env, tmp_path) as run:
        (worker,) = workers(run.process.pid)
        address = run.url.removeprefix("http://")
        chunk = os.urandom(CHUNK)
        status, warm = upload(address, token, CHUNK, chunk)  # warm: the first upload's imports
        assert status == 201, warm
        idle = rss(worker)
        peak = idle
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss(worker))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            status, body = upload(address, token, SIZE, chunk)
        finally:
            done.set()
            sampler.join()
    assert status == 201, body
    expected = hashlib.sha256()
    for _ in range(SIZE // CHUNK):
        expected.update(chunk)
    assert body["size"] == SIZE and body["sha256"] == expected.hexdigest()
    grew = peak - idle
    print(f"\nworker RSS idle {idle / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")
    assert grew < 100 * 2**20, f"the worker grew by {grew / 2**20:.1f} MiB during a 1 GiB upload"
