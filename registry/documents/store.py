"""Where the bytes of evidence documents are kept: a blob store addressed by SHA-256.

Two backends answer the same interface (:class:`BlobStore`):

- :class:`LocalStore`, the default: one file per blob under a folder (in the instance
  folder), ``ab/abcdef…``. A blob is received into a temporary file in the same folder,
  fsynced, and given its name with a hard link, which never replaces a file: a blob,
  once kept, is never overwritten (the same bytes would be the same name anyway).
- :class:`S3Store`: an S3-compatible bucket (AWS S3, MinIO) through boto3, for several
  application servers. A blob is received into a local temporary file, then uploaded
  (multipart for large ones) unless the bucket already holds it, with a conditional
  write (``If-None-Match: *`` on the put, or on completing the multipart upload): an
  object is never overwritten, even by two servers keeping the same bytes at once.

Receiving is the same for both (:class:`Staged`): the bytes are written to a temporary
file while hashed (SHA-256, the blob's name, and CRC-32, which an export checks the
blob against), chunk by chunk, so memory stays flat whatever the size, and writing
more than the limit stops at once (:class:`TooLarge`). Nothing here touches the
database: ``documents.service`` records what was received.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import queue
import re
import tempfile
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from registry.errors import RegistryError

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024


class TooLarge(RegistryError):
    """More bytes than the registry keeps in one document."""

    status = 413
    title = "Content too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"A document may be at most {limit} bytes (REGISTRY_DOCUMENT_MAX_BYTES); "
            "nothing was kept.",
            errors={"file": [f"Larger than {limit} bytes."]},
        )
        self.limit = limit


class Staged:
    """A document being received: a temporary file, written while hashed (SHA-256 and
    CRC-32). A writable binary stream (werkzeug's ``stream_factory`` may return it).

    Writes are gathered into 1 MiB batches, hashed and written by a thread of their own
    (hashlib, zlib.crc32 and file writes release the GIL), so receiving the next bytes
    overlaps them; at most ``IN_FLIGHT`` batches wait, so memory stays flat."""

    BATCH = CHUNK
    IN_FLIGHT = 4

    def __init__(self, folder: Path, limit: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
        self.path = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._digest: str | None = None
        self.crc32 = 0  # of the bytes written so far (all of them once closed)
        self._pending = bytearray()
        self._batches: queue.Queue[bytearray | None] | None = None
        self._worker: threading.Thread | None = None
        self._failure: BaseException | None = None

    # The stream interface werkzeug's multipart parser uses.
    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(self.limit)
        self._pending += data
        if len(self._pending) >= self.BATCH:
            self._hand_over()
        return len(data)

    def _hand_over(self) -> None:
        if self._batches is None:
            self._batches = queue.Queue(self.IN_FLIGHT)
            self._worker = threading.Thread(target=self._drain, daemon=True)
            self._worker.start()
        batch, self._pending = self._pending, bytearray()
        self._batches.put(batch)

    def _drain(self) -> None:
        assert self._batches is not None
        while (batch := self._batches.get()) is not None:
            if self._failure is None:
                try:
                    self._absorb(batch)
                except BaseException as exc:  # raised again by close()
                    self._failure = exc

    def _absorb(self, batch: bytes | bytearray) -> None:
        self._hash.update(batch)
        self.crc32 = zlib.crc32(batch, self.crc32)
        self.file.write(batch)

    def _finish_worker(self) -> None:
        if self._batches is not None and self._worker is not None:
            self._batches.put(None)
            self._worker.join()
            self._batches = self._worker = None

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0  # the parser rewinds its containers: this one is never read back

    def read(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        """Done writing (the parser may call it; nothing is discarded)."""
        if self.file.closed:
            return
        if self._batches is not None and self._pending:
            self._hand_over()
        self._finish_worker()
        if self._failure is not None:
            raise self._failure
        if self._pending:
            self._absorb(self._pending)
            self._pending = bytearray()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    @property
    def sha256(self) -> str:
        if self._digest is None:
            self._digest = self._hash.hexdigest()
        return self._digest

    def discard(self) -> None:
        self._failure = self._failure or RuntimeError("discarded")
        self._finish_worker()
        with contextlib.suppress(OSError):
            self.file.close()
        self.path.unlink(missing_ok=True)

    def copy_from(self, stream: IO[bytes]) -> Staged:
        """Receive everything ``stream`` holds (the CLI's file, a test's bytes)."""
        while chunk := stream.read(CHUNK):
            self.write(chunk)
        self.close()
        return self


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    modified: dt.datetime


class BlobStore(Protocol):
    """The interface of both backends."""

    name: str

    def stage(self, limit: int) -> Staged:
        """A temporary file to receive a document into."""
        ...

    def keep(self, staged: Staged) -> bool:
        """Keep the staged bytes under their SHA-256 (the temporary file goes); False
        when the store already held them (nothing overwritten)."""
        ...

    def has(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> IO[bytes]:
        """The blob's bytes, to read (raise FileNotFoundError when not held)."""
        ...

    def delete(self, sha256: str) -> None: ...

    def blobs(self) -> Iterator[Blob]:
        """Every blob held, with when it was written (the collector's sweep)."""
        ...

    def reachable(self) -> bool:
        """Whether the store answers and can take a blob now (the readiness check)."""
        ...

    def stale_parts(self, before: dt.datetime) -> int:
        """Remove temporary files older than ``before`` (uploads that died); how many."""
        ...


def _checked(sha256: str) -> str:
    if not SHA256_HEX.match(sha256):
        raise ValueError(f"not a SHA-256: {sha256[:80]!r}")
    return sha256


def _remove_parts(folder: Path, before: dt.datetime) -> int:
    removed = 0
    limit = before.timestamp()
    for part in folder.glob(".upload-*.part"):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mtime < limit:
                part.unlink()
                removed += 1
    return removed


class LocalStore:
    """Blobs as files under ``root``: ``root/ab/abcdef…`` (mode 0600)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.parts = self.root / "tmp"

    def path(self, sha256: str) -> Path:
        sha256 = _checked(sha256)
        return self.root / sha256[:2] / sha256

    def stage(self, limit: int) -> Staged:
        return Staged(self.parts, limit)

    def keep(self, staged: Staged) -> bool:
        staged.close()
        target = self.path(staged.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(staged.path, target)  # never replaces an existing file
            kept = True
        except FileExistsError:
            kept = False
        finally:
            staged.path.unlink(missing_ok=True)
        if kept:
            fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(fd)  # the new name survives a crash
            finally:
                os.close(fd)
        return kept

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> IO[bytes]:
        return self.path(sha256).open("rb")

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def blobs(self) -> Iterator[Blob]:
        for folder in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for path in sorted(folder.iterdir()):
                if SHA256_HEX.match(path.name):
                    with contextlib.suppress(FileNotFoundError):
                        stat = path.stat()
                        modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
                        yield Blob(path.name, stat.st_size, modified)

    def reachable(self) -> bool:
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.parts, os.W_OK | os.X_OK)

    def stale_parts(self, before: dt.datetime) -> int:
        return _remove_parts(self.parts, before) if self.parts.exists() else 0


def _not_found(exc: Any) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class S3Store:
    """Blobs as objects ``<prefix><sha256>`` of an S3-compatible bucket; received into
    ``staging`` (a local folder) first."""

    name = "s3"

    def __init__(self, bucket: str, prefix: str, staging: Path, **client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.parts = Path(staging)
        # boto3 loads in a tenth of a second: only installations that use S3 pay it.
        import boto3
        from botocore.config import Config

        style = client.pop("addressing_style", "auto")
        self.client = boto3.client("s3", config=Config(s3={"addressing_style": style}), **client)
        self.missing = self.client.exceptions.ClientError
        # Multipart uploads of 8 MiB parts, four at a time: at most 32 MiB in memory.
        self.part_size = 8 * CHUNK
        self.parallel = 4

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{_checked(sha256)}"

    def stage(self, limit: int) -> Staged:
        return Staged(self.parts, limit)

    def keep(self, staged: Staged) -> bool:
        staged.close()
        try:
            if self.has(staged.sha256):
                return False  # (no need to send the bytes: the condition would refuse them)
            if staged.size <= self.part_size:
                with staged.path.open("rb") as fh:
                    return self._written(
                        lambda: self.client.put_object(
                            Bucket=self.bucket,
                            Key=self.key(staged.sha256),
                            Body=fh,
                            Metadata={"sha256": staged.sha256},
                            IfNoneMatch="*",
                        ),
                        staged.sha256,
                    )
            return self._multipart(staged)
        finally:
            staged.path.unlink(missing_ok=True)

    def _written(self, write: Any, sha256: str) -> bool:
        """Whether a conditional write created the object: False when the bucket held it
        already (412), or another write of it was in progress (409) and it is there."""
        try:
            write()
        except self.missing as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            # A conflict with another conditional write of the object, or a retried
            # request whose first attempt went through: the object is there, named by
            # its bytes' hash, or the error stands.
            if self.has(sha256):
                return False
            raise
        return True

    def _multipart(self, staged: Staged) -> bool:
        """A multipart upload of the staged file, ``parallel`` parts at a time (each read
        by the thread sending it), completed only if no object has the key yet."""
        key = self.key(staged.sha256)
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, Metadata={"sha256": staged.sha256}
        )["UploadId"]
        count = -(-staged.size // self.part_size)

        def send(number: int) -> dict[str, Any]:
            with staged.path.open("rb") as fh:
                fh.seek((number - 1) * self.part_size)
                body = fh.read(self.part_size)
            answer = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
            )
            return {"PartNumber": number, "ETag": answer["ETag"]}

        try:
            with ThreadPoolExecutor(self.parallel) as pool:
                parts = list(pool.map(send, range(1, count + 1)))
            created = self._written(
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                ),
                staged.sha256,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise
        if not created:  # (its parts are not kept; gone already if it completed)
            with contextlib.suppress(self.missing):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
        return created

    def has(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except self.missing as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def open(self, sha256: str) -> IO[bytes]:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except self.missing as exc:
            if _not_found(exc):
                raise FileNotFoundError(sha256) from None
            raise
        return answer["Body"]  # type: ignore[no-any-return]

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def reachable(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception:  # noqa: BLE001 - any failure (network, credentials) is "not now"
            return False
        return True

    def blobs(self) -> Iterator[Blob]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) :]
                if SHA256_HEX.match(name):
                    yield Blob(name, int(item["Size"]), item["LastModified"])

    def stale_parts(self, before: dt.datetime) -> int:
        return _remove_parts(self.parts, before) if self.parts.exists() else 0


def store_from_config(config: Any) -> BlobStore:
    """The blob store the settings name (registry/config.py)."""
    folder = Path(config["DOCUMENT_DIR"])
    if config["DOCUMENT_STORE"] == "s3":
        client = {
            "endpoint_url": config.get("S3_ENDPOINT_URL"),
            "region_name": config.get("S3_REGION"),
            "aws_access_key_id": config.get("S3_ACCESS_KEY_ID"),
            "aws_secret_access_key": config.get("S3_SECRET_ACCESS_KEY"),
            "addressing_style": config.get("S3_ADDRESSING_STYLE", "auto"),
        }
        return S3Store(
            config["S3_BUCKET"],
            config.get("S3_PREFIX", ""),
            folder / "tmp",
            **{k: v for k, v in client.items() if v is not None},
        )
    return LocalStore(folder)
