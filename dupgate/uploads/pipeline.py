"""One upload from queued to decided: the steps of dupgate.uploads in their transactions.

This is the one place that owns transactions in the domain, because the analysis must run
between them: no database lock or connection is held while an image is decoded and embedded,
and only the match, decision and commit run under the collection lock.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features, InvalidImage, analyze
from dupgate.analysis.preview import preview_key
from dupgate.analysis.video import (
    DEFAULT_VIDEO_LIMITS,
    InvalidVideo,
    VideoFeatures,
    VideoLimits,
    analyze_video,
)
from dupgate.matching.registry import IndexRegistry
from dupgate.store.blobs import BlobStore
from dupgate.store.models import Collection, Upload
from dupgate.transient import is_transient
from dupgate.uploads.duplicates import decide_upload, save_features, stored_features
from dupgate.uploads.lifecycle import begin_processing, extend_lease, fail_upload
from dupgate.uploads.videos import save_video_features, stored_video_features
from dupgate.vocabulary import UploadStatus

log = logging.getLogger(__name__)


Transaction = Callable[[], AbstractContextManager[Session]]
A = TypeVar("A", Features, VideoFeatures)  # what an analysis gives
E = TypeVar("E", InvalidImage, InvalidVideo)  # what it raises for bytes it cannot take


def run_upload(
    transaction: Transaction,
    store: BlobStore,
    embedder: Callable[[], Embedder],
    registry: IndexRegistry,
    upload_id: str,
    *,
    max_attempts: int,
    max_pixels: int,
    owner: str | None = None,
    lease: timedelta = timedelta(seconds=30),
    video_limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
) -> None:
    """Analyse (or reuse the analysis of) the upload's bytes, then decide and commit it once.

    Safe to run again for the same upload: a decided or failed upload is left as it is. The
    run `owner` holds the upload for `lease` and extends it while it works, so that an upload
    whose worker vanished is found by its expired lease; a run that retries with the same
    `owner` after a transient fault takes it again without counting another attempt.
    """
    with transaction() as session:
        upload = begin_processing(session, upload_id, max_attempts, owner=owner, lease=lease)
        if upload is None:
            return
        collection = session.get_one(Collection, upload.collection)
        staging_key = upload.staging_key
        owner = upload.lease_owner
        if upload.media == "video":
            known_video = stored_video_features(
                session, upload.sha256, tenant=collection.tenant, upload_id=upload.id
            )
        else:
            known = stored_features(
                session,
                upload.sha256,
                ANALYSIS_VERSION,
                tenant=collection.tenant,
                upload_id=upload.id,
            )
    assert owner is not None
    with _leased(transaction, upload_id, owner, lease):
        if upload.media == "video":
            video = _Media(
                "video upload",
                lambda data: analyze_video(data, embedder(), video_limits),
                InvalidVideo,
                known_video,
                partial(_keep_video_analysis, transaction, store),
                decide_upload,
            )
            _analyse_and_decide(transaction, store, registry, upload_id, staging_key, video)
        else:
            image = _Media(
                "upload",
                lambda data: analyze(data, embedder(), max_pixels=max_pixels),
                InvalidImage,
                known,
                partial(_keep_image_analysis, transaction, store),
                decide_upload,
            )
            _analyse_and_decide(transaction, store, registry, upload_id, staging_key, image)


@dataclass(frozen=True)
class _Media(Generic[A, E]):
    """How one kind of upload (an image, a video) is analysed, kept and decided."""

    noun: str  # in the log: "upload", "video upload"
    analyse: Callable[[bytes], A]  # raises `invalid` for bytes that are not one
    invalid: type[E]
    known: A | None  # an earlier analysis of the same bytes, reused
    keep: Callable[[A], None]  # store the analysis, for every later upload of these bytes
    decide: Callable[[Session, BlobStore, IndexRegistry, str, A | E], None]


def _keep_image_analysis(transaction: Transaction, store: BlobStore, features: Features) -> None:
    if features.preview is not None:
        store.put(preview_key(features.sha256), iter([features.preview]))
    with transaction() as session:
        save_features(session, features)


def _keep_video_analysis(transaction: Transaction, store: BlobStore, video: VideoFeatures) -> None:
    # The first kept frame, for reports and the console: as an image's, by the bytes' SHA-256.
    if video.preview is not None:
        store.put(preview_key(video.sha256), iter([video.preview]))
    with transaction() as session:
        save_video_features(session, video)


def _analyse_and_decide(
    transaction: Transaction,
    store: BlobStore,
    registry: IndexRegistry,
    upload_id: str,
    staging_key: str | None,
    media: "_Media[A, E]",
) -> None:
    analysed: A | E
    # Seconds spent reading, decoding and embedding the bytes; None when an earlier analysis of
    # the same bytes was reused. Stored with the decision for the analysis-latency metric.
    analysis_seconds: float | None = None
    if media.known is not None:
        analysed = media.known
    else:
        try:
            assert staging_key is not None, "an undecided upload keeps its staged bytes"
            started = time.perf_counter()
            analysed = media.analyse(store.get(staging_key))
            analysis_seconds = time.perf_counter() - started
        except media.invalid as e:
            analysed = e
        except Exception as e:
            if is_transient(e):
                raise  # a full disk or a lost database: retried, not the upload's fault
            # A bug or an unreadable staging blob: end the upload visibly, not retried forever.
            log.exception("analysis of %s %s failed", media.noun, upload_id)
            with transaction() as session:
                failed = session.get(Upload, upload_id)
                assert failed is not None
                fail_upload(session, failed, f"analysis_failed: {type(e).__name__}: {e}")
            return
        else:
            media.keep(analysed)

    with transaction() as session:
        media.decide(session, store, registry, upload_id, analysed)
        upload = session.get_one(Upload, upload_id)
        if upload.analysis_seconds is None:
            upload.analysis_seconds = analysis_seconds
        status, result = upload.status, f"{upload.action} ({upload.tier})"
        if status != UploadStatus.DECIDED:
            result = upload.reason or ""
    log.info("%s %s %s: %s", media.noun, upload_id, status, result)


@contextmanager
def _leased(
    transaction: Transaction, upload_id: str, owner: str, lease: timedelta
) -> Iterator[None]:
    """Extend the run's lease on the upload every third of its length until the block ends."""
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(lease.total_seconds() / 3):
            try:
                with transaction() as session:
                    if not extend_lease(session, upload_id, owner, lease):
                        # Another run took it over; the decision under the collection lock
                        # still commits only once, whichever run gets there first.
                        log.warning("upload %s: lease lost to another run", upload_id)
                        return
            except Exception:
                # The database is away: the lease may run out and the upload be taken over.
                log.warning("upload %s: could not extend the lease", upload_id, exc_info=True)

    thread = threading.Thread(target=heartbeat, name=f"lease-{upload_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)  # never wait long on a heartbeat stuck on a lost database
