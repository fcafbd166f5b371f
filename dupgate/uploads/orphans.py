"""The sweep of orphaned blobs: what a crash or a failed clean-up left in the store.

Staged bytes are removed after their upload's commit (uploads/commit.py, after_commit) and by
the gateway when a request ends, and an image's blob when a commit replaces or removes it.
What a crash leaves (bytes staged before the upload was recorded, an image's blob copied by a
commit that never happened) or a clean-up that failed, nothing refers to: this finds and
removes it. Previews are made for every analysed upload, rejected copies included; one is kept
while an image, a blocklist entry or an upload still holding its staged bytes (queued, or held
for review) has those bytes. Nothing younger than the grace period is touched, since a request or a commit may
still be on its way from writing the blob to recording it.
"""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.store.blobs import BlobStore, StoredBlob
from dupgate.store.models import Block, Image, Upload, Video

# Uploads stage under staging/{upload id}; /check and blocked files under checks/{request id}
# (never recorded: the gateway removes them when it has its answer). Images' blobs are under
# images/{image id}/{sha256} (uploads/commit.py `blob_key`).
UPLOAD_STAGING = "staging/"
CHECK_STAGING = "checks/"
IMAGES = "images/"
# Videos' blobs, as images': videos/{video id}/{sha256} (uploads/videos.py).
VIDEOS = "videos/"
# Previews of analysed bytes: previews/{sha256}.jpg (analysis/preview.py `preview_key`).
PREVIEWS = "previews/"


def sweep_orphaned_blobs(
    session: Session, store: BlobStore, grace: timedelta, now: datetime | None = None
) -> list[str]:
    """Remove blobs older than `grace` that no upload or image refers to; returns their keys."""
    cutoff = (now or datetime.now(UTC)) - grace
    removed = _unreferenced(session, _older(store, UPLOAD_STAGING, cutoff), _staged_by_uploads)
    removed += [blob.key for blob in _older(store, CHECK_STAGING, cutoff)]
    removed += _unreferenced(session, _older(store, IMAGES, cutoff), _kept_by_images)
    removed += _unreferenced(session, _older(store, VIDEOS, cutoff), _kept_by_videos)
    removed += _unreferenced(session, _older(store, PREVIEWS, cutoff), _previews_in_use)
    for key in removed:
        store.delete(key)
    return removed


def _older(store: BlobStore, prefix: str, cutoff: datetime) -> Iterator[StoredBlob]:
    return (blob for blob in store.list(prefix) if blob.written_at < cutoff)


def _unreferenced(
    session: Session,
    blobs: Iterator[StoredBlob],
    referenced: Callable[[Session, list[str]], set[str]],
) -> list[str]:
    """The keys of `blobs` that `referenced` does not name, asked in batches."""
    found = []
    while batch := [blob.key for blob in islice(blobs, 500)]:
        kept = referenced(session, batch)
        found += [key for key in batch if key not in kept]
    return found


def _staged_by_uploads(session: Session, keys: list[str]) -> set[str]:
    """Those of `keys` that an upload still keeps as its staged bytes (whatever its state)."""
    ids = [key.removeprefix(UPLOAD_STAGING) for key in keys]
    found = session.scalars(select(Upload.staging_key).where(Upload.id.in_(ids)))
    return {key for key in found if key is not None}


def _kept_by_images(session: Session, keys: list[str]) -> set[str]:
    """Those of `keys` that are an image's blob now."""
    ids = {key.removeprefix(IMAGES).split("/", 1)[0] for key in keys}
    found = session.scalars(select(Image.blob_key).where(Image.id.in_(ids)))
    return {key for key in found if key is not None}


def _kept_by_videos(session: Session, keys: list[str]) -> set[str]:
    """Those of `keys` that are a video's blob now."""
    ids = {key.removeprefix(VIDEOS).split("/", 1)[0] for key in keys}
    found = session.scalars(select(Video.blob_key).where(Video.id.in_(ids)))
    return {key for key in found if key is not None}


def _previews_in_use(session: Session, keys: list[str]) -> set[str]:
    """Those of `keys` that are the preview of an image's, a video's, a block's or a waiting
    upload's bytes."""
    by_sha = {key.removeprefix(PREVIEWS).removesuffix(".jpg"): key for key in keys}
    shas = list(by_sha)
    held = [
        select(Image.sha256).where(Image.sha256.in_(shas)),
        select(Video.sha256).where(Video.sha256.in_(shas)),
        select(Block.sha256).where(Block.sha256.in_(shas)),
        select(Upload.sha256).where(Upload.sha256.in_(shas), Upload.staging_key.is_not(None)),
    ]
    used: set[str] = set()
    for query in held:
        used.update(session.scalars(query))
    return {by_sha[sha] for sha in used if sha in by_sha}
