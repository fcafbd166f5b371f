"""Blob storage: local files (here) or an S3-compatible bucket (store/s3.py), behind one
interface.

Every key names its content or a single upload (`images/{id}/{sha256}`, `staging/{upload
id}`), so a key is written once: writing it again stores nothing new.
"""

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol


class BlobNotFound(KeyError):
    """No blob under that key."""


class BlobStoreUnavailable(ConnectionError):
    """The blob store cannot be reached, or refuses work for now: worth trying again later."""


class StoredBlob(NamedTuple):
    """A key in the store and when its blob was written."""

    key: str
    written_at: datetime


def checked_key(key: str) -> str:
    """The key, if it names a blob inside the store: no `..` part, not absolute."""
    if ".." in key.split("/") or key.startswith("/"):
        raise ValueError(f"bad blob key {key!r}")
    return key


class BlobStore(Protocol):
    """Where uploaded bytes live: staged first, then committed under their image's key."""

    def put(self, key: str, chunks: Iterator[bytes]) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> BinaryIO: ...
    def copy(self, source: str, target: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> Iterator[StoredBlob]: ...


class LocalBlobStore:
    """Blobs as files under one directory; every write is atomic (temp file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def put(self, key: str, chunks: Iterator[bytes]) -> None:
        """Write the chunks under `key`; readers see the old blob or the whole new one."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with tmp.open("wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        """The whole blob."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise BlobNotFound(key) from e

    def open(self, key: str) -> BinaryIO:
        """The blob as a file to stream from."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as e:
            raise BlobNotFound(key) from e

    def copy(self, source: str, target: str) -> None:
        """Copy a blob; idempotent, so a retried commit can do it again."""
        with self.open(source) as f:
            self.put(target, iter(lambda: f.read(1 << 20), b""))

    def delete(self, key: str) -> None:
        """Remove a blob; a missing one is not an error."""
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[StoredBlob]:
        """The blobs whose keys start with `prefix` (a folder: "staging/"), in no set order.

        Half-written temporary files are listed too: a crash mid-write leaves them, and a
        sweep removes them like any other unreferenced blob.
        """
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue  # deleted while we looked
            if path.is_file():
                key = path.relative_to(self.root).as_posix()
                yield StoredBlob(key, datetime.fromtimestamp(mtime, UTC))
