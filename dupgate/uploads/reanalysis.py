"""Bringing stored features up to the current analysis version, from the committed blobs.

Analysis happens once per picture or video, but a new analysis version adds signals that old
features lack (images, version 2: local features for verification; videos, version 5: every
frame's print, which lines up trims and cuts). Until they are re-analysed, old features are
matched by what they have: an image without local features by its SSCD cosine alone, a video
without prints by its sampled frames alone. `dupgate reanalyze` (this module) re-reads each
committed blob once, stores the new features, and logs index changes so that every worker's
index takes them on its next catch-up.

Blocklist entries keep no content, so their features stay as they were, unless a committed
video has the same bytes: its new analysis is theirs too.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features, InvalidImage, analyze
from dupgate.analysis.preview import preview_key
from dupgate.analysis.video import DEFAULT_VIDEO_LIMITS, VideoLimits, analyze_video
from dupgate.store.blobs import BlobStore
from dupgate.store.models import Image, ImageFeatures, Video, VideoFeaturesRow
from dupgate.store.vectors import record_index_change
from dupgate.uploads.videos import save_video_features, video_version

Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass
class Reanalysis:
    """What one run did: pictures and videos re-analysed, and blobs that could not be."""

    images: int = 0
    videos: int = 0
    failed: int = 0


def stale_pictures(session: Session) -> list[tuple[str, str]]:
    """(sha256, blob key) of each committed picture whose features are of an older version."""
    return _one_blob_each(
        session.execute(
            select(Image.sha256, Image.blob_key)
            .join(ImageFeatures, ImageFeatures.sha256 == Image.sha256)
            .where(ImageFeatures.version != ANALYSIS_VERSION, Image.blob_key.is_not(None))
            .order_by(Image.sha256)
        ).all()
    )


def stale_videos(session: Session) -> list[tuple[str, str]]:
    """(sha256, blob key) of each committed video whose analysis is of another version."""
    return _one_blob_each(
        session.execute(
            select(Video.sha256, Video.blob_key)
            .join(VideoFeaturesRow, VideoFeaturesRow.sha256 == Video.sha256)
            .where(VideoFeaturesRow.version != video_version(), Video.blob_key.is_not(None))
            .order_by(Video.sha256)
        ).all()
    )


def _one_blob_each(rows: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """One blob of each of these bytes: several rows may hold them, one read is enough."""
    seen: dict[str, str] = {}
    for sha256, key in rows:
        if key is not None:
            seen.setdefault(sha256, key)
    return list(seen.items())


def stale_count(session: Session) -> int:
    """How many blobs a run would re-read: for its progress bar."""
    return len(stale_pictures(session)) + len(stale_videos(session))


def reanalyze(
    transaction: Transaction,
    store: BlobStore,
    embedder: Embedder,
    *,
    max_pixels: int,
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    progress: Callable[[int], None] | None = None,
) -> Reanalysis:
    """Re-analyse every stale committed picture, then video; one short transaction each."""
    with transaction() as session:
        pictures, videos = stale_pictures(session), stale_videos(session)
    result = Reanalysis()
    for _, key in pictures:
        try:
            features = analyze(store.get(key), embedder, max_pixels=max_pixels)
        except (InvalidImage, OSError):
            result.failed += 1
        else:
            if features.preview is not None:
                store.put(preview_key(features.sha256), iter([features.preview]))
            with transaction() as session:
                _store(session, features.sha256, features.to_bytes())
            result.images += 1
        if progress is not None:
            progress(1)
    for _, key in videos:
        try:
            video = analyze_video(store.get(key), embedder, video_limits)
        except (InvalidImage, OSError):  # InvalidVideo is an InvalidImage
            result.failed += 1
        else:
            if video.preview is not None:
                store.put(preview_key(video.sha256), iter([video.preview]))
            with transaction() as session:
                save_video_features(session, video)  # indexes the frames of its holders again
            result.videos += 1
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
