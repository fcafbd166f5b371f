"""The blob store contract, on both stores: files under a directory, and a real S3 server."""

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dupgate.store.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable
from dupgate.store.s3 import S3BlobStore, s3_client
from tests.s3 import S3Server
from tests.servers import free_port

MiB = 1024 * 1024


def in_chunks(content: bytes, size: int = MiB) -> Iterator[bytes]:
    """`content` as an upload arrives: in chunks, one at a time."""
    for start in range(0, len(content), size):
        yield content[start : start + size]


def test_a_stored_blob_reads_back_whole_and_exists(store: BlobStore) -> None:
    store.put("images/a/1", iter([b"pic", b"ture"]))
    assert store.get("images/a/1") == b"picture"
    assert store.exists("images/a/1")
    assert not store.exists("images/a/2")


def test_writing_a_key_again_keeps_its_content(store: BlobStore) -> None:
    # A retried commit writes the same content-addressed key again: no error, same bytes.
    store.put("images/a/1", iter([b"same bytes"]))
    store.put("images/a/1", iter([b"same bytes"]))
    assert store.get("images/a/1") == b"same bytes"


def test_a_large_body_is_stored_in_parts_and_streams_back(store: BlobStore) -> None:
    content = os.urandom(20 * MiB + 123)  # more than two 8 MiB parts
    store.put("staging/big", in_chunks(content))
    digest = hashlib.sha256()
    with store.open("staging/big") as f:
        while chunk := f.read(MiB):
            assert len(chunk) <= MiB
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(content).hexdigest()


def test_open_reads_a_blob_bit_by_bit(store: BlobStore) -> None:
    store.put("staging/u", iter([b"0123456789"]))
    f = store.open("staging/u")
    try:
        assert f.read(3) == b"012"
        assert f.read(3) == b"345"
        assert f.read() == b"6789"
        assert f.read(1) == b""
    finally:
        f.close()


def test_copy_makes_a_second_blob_that_outlives_the_first(store: BlobStore) -> None:
    store.put("staging/u", iter([b"upload"]))
    store.copy("staging/u", "images/i/sha")
    store.copy("staging/u", "images/i/sha")  # a retried commit copies again
    store.delete("staging/u")
    assert store.get("images/i/sha") == b"upload"
    assert not store.exists("staging/u")


def test_missing_blobs_are_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.get("images/none/x")
    with pytest.raises(BlobNotFound):
        store.open("images/none/x")
    with pytest.raises(BlobNotFound):
        store.copy("images/none/x", "images/none/y")
    assert not store.exists("images/none/y")


def test_deleting_a_missing_blob_is_not_an_error(store: BlobStore) -> None:
    store.delete("staging/never-written")
    store.put("staging/once", iter([b"x"]))
    store.delete("staging/once")
    store.delete("staging/once")
    assert not store.exists("staging/once")


def test_list_names_the_blobs_under_a_prefix_and_when_they_were_written(
    store: BlobStore,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    for key in ("staging/a", "staging/b", "images/i/sha", "checks/c"):
        store.put(key, iter([b"x"]))
    listed = {blob.key: blob.written_at for blob in store.list("staging/")}
    assert sorted(listed) == ["staging/a", "staging/b"]
    assert all(before < at <= datetime.now(UTC) + timedelta(seconds=5) for at in listed.values())
    assert list(store.list("previews/")) == []


def test_keys_that_leave_the_store_are_refused(store: BlobStore) -> None:
    with pytest.raises(ValueError):
        store.put("../outside", iter([b"x"]))
    with pytest.raises(ValueError):
        store.get("/etc/passwd")


# S3 only: what the server does that files do not.


def test_a_conditional_put_never_replaces_an_existing_object(s3: S3Server) -> None:
    # The first write of a key wins; another write (a body of 412 to the client) is success
    # and changes nothing, whether it is a single PUT or a multipart upload.
    store = s3.store()
    store.put("images/i/sha", iter([b"first"]))
    store.put("images/i/sha", iter([b"second"]))
    store.put("images/i/sha", in_chunks(os.urandom(9 * MiB)))
    assert store.get("images/i/sha") == b"first"


def test_a_failed_multipart_upload_leaves_no_object_and_no_parts(s3: S3Server) -> None:
    store = s3.store()

    def broken() -> Iterator[bytes]:
        yield os.urandom(9 * MiB)
        raise OSError("the client went away")

    with pytest.raises(OSError, match="went away"):
        store.put("staging/u", broken())
    assert not store.exists("staging/u")
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_a_prefix_keeps_the_stores_keys_apart_in_a_shared_bucket(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    ours, theirs = s3.store(bucket, "dupgate/"), s3.store(bucket)
    ours.put("staging/u", iter([b"x"]))
    assert [blob.key for blob in ours.list("staging/")] == ["staging/u"]
    assert theirs.exists("dupgate/staging/u")
    assert not theirs.exists("staging/u")


def test_an_unreachable_server_is_unavailable_not_missing() -> None:
    client = s3_client(f"http://127.0.0.1:{free_port()}", "us-east-1", "k", "s", timeout=1)
    store = S3BlobStore(client, "bucket")
    with pytest.raises(BlobStoreUnavailable):
        store.get("images/i/sha")
    with pytest.raises(BlobStoreUnavailable):
        store.check_bucket()
