"""Blobs in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Ceph, R2), so that every host
reads and writes the same blobs.

A key is written once: every write is conditional (`If-None-Match: *`) and a 412 means the
key already holds its content. A body larger than one part goes up as a multipart upload,
one part in memory at a time; a failed one is aborted (a crash leaves parts that a bucket
lifecycle rule removes, never a visible object).
"""

import contextlib
import io
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dupgate.store.blobs import BlobNotFound, BlobStoreUnavailable, StoredBlob, checked_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

T = TypeVar("T")

# Parts of a multipart upload (S3 wants at least 5 MiB for all but the last); a body no
# larger than one part is written with a single PUT.
PART_BYTES = 8 * 1024 * 1024

# What S3 answers for a missing key: GET says NoSuchKey, HEAD (no body) only 404.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# Answers that say "not now" rather than "never".
_BUSY = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"})


class S3BlobStore:
    """Blobs as objects in one bucket, each under `prefix` + its key."""

    def __init__(
        self, client: "S3Client", bucket: str, prefix: str = "", part_bytes: int = PART_BYTES
    ) -> None:
        if part_bytes < 5 * 1024 * 1024:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_bytes = part_bytes

    def _name(self, key: str) -> str:
        return self.prefix + checked_key(key)

    def put(self, key: str, chunks: Iterator[bytes]) -> None:
        """Write the chunks under `key` unless it is there already; readers see all or none."""
        name = self._name(key)
        first = _fill(chunks, self.part_bytes)
        if len(first) < self.part_bytes:
            _written_once(
                lambda: self.client.put_object(
                    Bucket=self.bucket, Key=name, Body=bytes(first), IfNoneMatch="*"
                )
            )
            return
        _call(lambda: self._put_in_parts(name, first, chunks))

    def _put_in_parts(self, name: str, first: bytearray, chunks: Iterator[bytes]) -> None:
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            part = first
            while part:
                number = len(parts) + 1
                sent = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=bytes(part),
                )
                parts.append({"ETag": sent["ETag"], "PartNumber": number})
                part = _fill(chunks, self.part_bytes)
            _written_once(
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                )
            )
        except BaseException:
            # The parts are invisible but billed: give them back (a lifecycle rule catches
            # what a crash leaves).
            with contextlib.suppress(BotoCoreError, ClientError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise

    def get(self, key: str) -> bytes:
        """The whole blob."""
        with self.open(key) as f:
            return f.read()

    def open(self, key: str) -> BinaryIO:
        """The blob as a file to stream from: `read(n)` fetches as it goes."""
        name = self._name(key)
        body = _call(lambda: self.client.get_object(Bucket=self.bucket, Key=name)["Body"], key)
        return io.BufferedReader(_Stream(body), buffer_size=1 << 16)

    def copy(self, source: str, target: str) -> None:
        """Copy a blob inside the bucket (the bytes never leave the server); idempotent."""
        # CopyObject takes no If-None-Match: a second copy of a key writes the same bytes.
        # One request copies up to 5 GiB, far above any upload.
        source_name, target_name = self._name(source), self._name(target)
        _call(
            lambda: self.client.copy_object(
                Bucket=self.bucket,
                Key=target_name,
                CopySource={"Bucket": self.bucket, "Key": source_name},
            ),
            source,
        )

    def delete(self, key: str) -> None:
        """Remove a blob; a missing one is not an error."""
        name = self._name(key)
        _call(lambda: self.client.delete_object(Bucket=self.bucket, Key=name))

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""
        name = self._name(key)
        try:
            _call(lambda: self.client.head_object(Bucket=self.bucket, Key=name), key)
        except BlobNotFound:
            return False
        return True

    def list(self, prefix: str) -> Iterator[StoredBlob]:
        """The blobs whose keys start with `prefix`, in key order."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._name(prefix)
        )
        listing = iter(pages)
        while (page := _call(lambda: next(listing, None))) is not None:
            for found in page.get("Contents", []):
                yield StoredBlob(found["Key"].removeprefix(self.prefix), found["LastModified"])

    def check_bucket(self) -> None:
        """Raise unless the bucket exists and these credentials reach it."""
        try:
            _call(lambda: self.client.head_bucket(Bucket=self.bucket), self.bucket)
        except BlobNotFound as e:
            raise LookupError(
                f"no bucket {self.bucket!r} at {self.client.meta.endpoint_url}"
            ) from e


def s3_client(
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout: float = 10.0,
) -> "S3Client":
    """A client for the endpoint (None: AWS); credentials not given come from the usual AWS
    places (AWS_ACCESS_KEY_ID, ~/.aws, an instance role)."""
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "max_attempts": 3},
        # Path-style addressing: most S3-compatible servers have no per-bucket host names.
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )


def _fill(chunks: Iterator[bytes], size: int) -> bytearray:
    """The next `size` bytes or more from `chunks` (fewer only at their end)."""
    part = bytearray()
    for chunk in chunks:
        part += chunk
        if len(part) >= size:
            break
    return part


def _written_once(write: Callable[[], object]) -> None:
    """Run a conditional write; a 412 (the key exists) is success: the key names its content."""
    try:
        _call(write)
    except _Precondition:
        return


class _Precondition(Exception):
    """The conditional write found the key already there."""


def _call(ask: Callable[[], T], key: str | None = None) -> T:
    """`ask` with S3's errors in dupgate's words: BlobNotFound (missing `key`),
    BlobStoreUnavailable (unreachable or busy), or the ClientError itself (a refusal)."""
    try:
        return ask()
    except ClientError as e:
        error: Any = e.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code == "PreconditionFailed" or status == 412:
            raise _Precondition from e
        if key is not None and code in _MISSING:
            raise BlobNotFound(key) from e
        if code in _BUSY or status >= 500:
            raise BlobStoreUnavailable(f"the blob store is unavailable: {code} ({status})") from e
        raise
    except BotoCoreError as e:
        # Connection refused or dropped, a timeout, a name that does not resolve.
        raise BlobStoreUnavailable(f"the blob store is unreachable: {e}") from e


class _Stream(io.RawIOBase):
    """An S3 response body as a raw file, so that reads stream instead of loading it whole."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = _call(lambda: self._body.read(len(buffer)))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
