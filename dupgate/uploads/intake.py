"""Intake: the gateway records an upload once its body is staged, at most once per
Idempotency-Key.

An upload's life goes on in this package: lifecycle.py (a worker's lease on it), duplicates.py
(matched and decided under the collection lock), commit.py, review.py; pipeline.py strings them
together so that analysis runs outside any transaction. Each function works inside a
transaction its caller owns.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.store.models import Upload
from dupgate.tenancy.collections import get_collection
from dupgate.vocabulary import UploadStatus


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with a different body."""


@dataclass(frozen=True)
class NewUpload:
    """What the gateway knows once the body is staged."""

    collection: str
    staging_key: str
    sha256: str
    size: int
    filename: str | None = None
    external_id: str | None = None
    labels: tuple[str, ...] = ()
    idempotency_key: str | None = None
    key_id: str | None = None  # the API key that sent it
    media: str = "image"  # or "video"


def new_upload_id() -> str:
    """A fresh upload id (the staging key is derived from it)."""
    return str(uuid.uuid4())


def create_upload(session: Session, upload_id: str, new: NewUpload) -> tuple[Upload, bool]:
    """Record a queued upload; with a known Idempotency-Key, return the earlier one instead.

    Returns the upload and whether it was created now (only then must it be enqueued).
    """
    get_collection(session, new.collection)
    if new.idempotency_key is not None:
        earlier = session.scalar(
            select(Upload).where(
                Upload.collection == new.collection, Upload.idempotency_key == new.idempotency_key
            )
        )
        if earlier is not None:
            if earlier.sha256 != new.sha256 or earlier.media != new.media:
                raise IdempotencyConflict(
                    f"Idempotency-Key {new.idempotency_key!r} was used for a different file "
                    f"(upload {earlier.id}); use a new key for a new file"
                )
            return earlier, False
    upload = Upload(
        id=upload_id,
        collection=new.collection,
        status=UploadStatus.QUEUED,
        sha256=new.sha256,
        size=new.size,
        filename=new.filename,
        external_id=new.external_id,
        labels=list(new.labels),
        idempotency_key=new.idempotency_key,
        staging_key=new.staging_key,
        attempts=0,
        key_id=new.key_id,
        matches=[],
        media=new.media,
    )
    session.add(upload)
    # Now, not at commit: a concurrent upload with the same key fails here, where the caller
    # can roll back and find it.
    session.flush()
    return upload, True
