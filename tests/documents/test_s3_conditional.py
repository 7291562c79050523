"""The S3 store never overwrites an object: it writes with ``If-None-Match: *`` (on the
put, and on completing a multipart upload), against moto's S3-compatible server."""

from __future__ import annotations

import io

import boto3
import pytest

from registry.documents.store import S3Store
from registry.extensions import document_store


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
@pytest.mark.parametrize("size", [1000, 6 * 1024 * 1024], ids=["put", "multipart"])
def test_the_s3_store_never_overwrites_an_object(app, size):
    store = document_store(app)
    assert isinstance(store, S3Store)
    store.part_size = 5 * 1024 * 1024  # the smallest S3 allows: 6 MiB is two parts
    data = bytes(range(256)) * (size // 256)
    staged = store.stage(size).copy_from(io.BytesIO(data))
    sha = staged.sha256
    # Another server wrote the object after this one looked (has() said no).
    s3 = boto3.client(
        "s3",
        endpoint_url=app.config["S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.put_object(Bucket=store.bucket, Key=store.key(sha), Body=b"written first")
    store.has = lambda sha256: False  # (the race: the object appears after the look)
    assert store.keep(staged) is False
    assert s3.get_object(Bucket=store.bucket, Key=store.key(sha))["Body"].read() == b"written first"
    assert s3.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert not staged.path.exists()
    # With no object there, it is written.
    del store.has
    s3.delete_object(Bucket=store.bucket, Key=store.key(sha))
    again = store.stage(size).copy_from(io.BytesIO(data))
    assert store.keep(again) is True
    with store.open(sha) as fh:
        assert fh.read() == data
