"""Bringing stored features up to the current analysis version, from the committed blobs.

Analysis happens once per picture, but a new analysis version adds signals that old features
lack (version 2: local features for verification). Until an image is re-analysed it is matched
by what its features have: without local features, by its SSCD cosine alone. `dupgate
reanalyze` (this module) re-reads each committed blob once, stores the new features, and logs
an index change so that every worker's index takes them on its next catch-up.

Blocklist entries keep no content, so their features stay as they were.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features, InvalidImage, analyze
from dupgate.analysis.preview import preview_key
from dupgate.store.blobs import BlobStore
from dupgate.store.models import Image, ImageFeatures
from dupgate.store.vectors import record_index_change

Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass
class Reanalysis:
    """What one run did: pictures re-analysed, and those whose blob could not be analysed."""

    done: int = 0
    failed: int = 0


def stale_pictures(session: Session) -> list[tuple[str, str]]:
    """(sha256, blob key) of each committed picture whose features are of an older version."""
    rows = session.execute(
        select(Image.sha256, Image.blob_key)
        .join(ImageFeatures, ImageFeatures.sha256 == Image.sha256)
        .where(ImageFeatures.version != ANALYSIS_VERSION, Image.blob_key.is_not(None))
        .order_by(Image.sha256)
    ).all()
    seen: dict[str, str] = {}
    for sha256, key in rows:
        if key is not None:
            seen.setdefault(sha256, key)
    return list(seen.items())


def reanalyze(
    transaction: Transaction,
    store: BlobStore,
    embedder: Embedder,
    *,
    max_pixels: int,
    progress: Callable[[int], None] | None = None,
) -> Reanalysis:
    """Re-analyse every stale committed picture; one short transaction per picture."""
    with transaction() as session:
        stale = stale_pictures(session)
    result = Reanalysis()
    for _, key in stale:
        try:
            features = analyze(store.get(key), embedder, max_pixels=max_pixels)
        except (InvalidImage, OSError):
            result.failed += 1
        else:
            if features.preview is not None:
                store.put(preview_key(features.sha256), iter([features.preview]))
            with transaction() as session:
                _store(session, features.sha256, features.to_bytes())
            result.done += 1
        if progress is not None:
            progress(1)
    return result


def _store(session: Session, sha256: str, data: bytes) -> None:
    row = session.get(ImageFeatures, sha256)
    assert row is not None, "a stale picture has stored features"
    row.version, row.data = ANALYSIS_VERSION, data
    features = Features.from_bytes(data)
    for image_id, collection in _indexed_images(session, sha256):
        record_index_change(
            session,
            collection=collection,
            image_id=image_id,
            op="add",
            sha256=sha256,
            vector=(features.phash, features.embedding),
        )


def _indexed_images(session: Session, sha256: str) -> Iterator[tuple[str, str]]:
    """The images with these bytes that are in their collection's index (links are not)."""
    rows = session.execute(
        select(Image.id, Image.collection).where(Image.sha256 == sha256, Image.linked_to.is_(None))
    )
    yield from ((image_id, collection) for image_id, collection in rows)
