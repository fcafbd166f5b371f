"""The sweep of orphaned staged bytes: what a crash or a failed clean-up left in the store.

Staged bytes are removed after their upload's commit (uploads/commit.py, after_commit) and by
the gateway when a request ends; what a crash leaves behind between writing the bytes and
recording the upload, or a clean-up that failed, no upload refers to: this finds and removes
it. Nothing younger than the grace period is touched, since a request may still be on its
way from staging its bytes to recording its upload.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.store.blobs import BlobStore, StoredBlob
from dupgate.store.models import Upload

# Uploads stage under staging/{upload id}; /check and blocked files under checks/{request id}
# (never recorded: the gateway removes them when it has its answer).
UPLOAD_STAGING = "staging/"
CHECK_STAGING = "checks/"


def sweep_orphaned_blobs(
    session: Session, store: BlobStore, grace: timedelta, now: datetime | None = None
) -> list[str]:
    """Remove staged blobs older than `grace` that no upload refers to; returns their keys."""
    cutoff = (now or datetime.now(UTC)) - grace
    removed = []
    staged = _older(store, UPLOAD_STAGING, cutoff)
    while old := list(islice(staged, 500)):
        kept = _referenced(session, [blob.key for blob in old])
        removed += [blob.key for blob in old if blob.key not in kept]
    removed += [blob.key for blob in _older(store, CHECK_STAGING, cutoff)]
    for key in removed:
        store.delete(key)
    return removed


def _older(store: BlobStore, prefix: str, cutoff: datetime) -> Iterator[StoredBlob]:
    return (blob for blob in store.list(prefix) if blob.written_at < cutoff)


def _referenced(session: Session, keys: list[str]) -> set[str]:
    """Those of `keys` that an upload still keeps as its staged bytes (whatever its state)."""
    ids = [key.removeprefix(UPLOAD_STAGING) for key in keys]
    found = session.scalars(select(Upload.staging_key).where(Upload.id.in_(ids)))
    return {key for key in found if key is not None}
