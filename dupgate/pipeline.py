"""One upload from queued to decided: the steps of dupgate.uploads in their transactions.

This is the one place that owns transactions in the domain, because the analysis must run
between them: no database lock or connection is held while an image is decoded and embedded,
and only the match, decision and commit run under the collection lock.
"""

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features, InvalidImage, analyze
from dupgate.models import Upload
from dupgate.storage import BlobStore
from dupgate.uploads import (
    begin_processing,
    decide_upload,
    fail_upload,
    save_features,
    stored_features,
)
from index.registry import IndexRegistry

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractContextManager[Session]]


def run_upload(
    transaction: Transaction,
    store: BlobStore,
    embedder: Callable[[], Embedder],
    registry: IndexRegistry,
    upload_id: str,
    *,
    max_attempts: int,
    max_pixels: int,
) -> None:
    """Analyse (or reuse the analysis of) the upload's bytes, then decide and commit it once.

    Safe to run again for the same upload: a decided or failed upload is left as it is.
    """
    with transaction() as session:
        upload = begin_processing(session, upload_id, max_attempts)
        if upload is None:
            return
        known = stored_features(session, upload.sha256, ANALYSIS_VERSION)
        staging_key = upload.staging_key

    features: Features | InvalidImage
    if known is not None:
        features = known
    else:
        try:
            assert staging_key is not None, "an undecided upload keeps its staged bytes"
            features = analyze(store.get(staging_key), embedder(), max_pixels=max_pixels)
        except InvalidImage as e:
            features = e
        except Exception as e:
            # A bug or an unreadable staging blob: end the upload visibly, not retried forever.
            log.exception("analysis of upload %s failed", upload_id)
            with transaction() as session:
                failed = session.get(Upload, upload_id)
                assert failed is not None
                fail_upload(session, failed, f"analysis_failed: {type(e).__name__}: {e}")
            return
        else:
            with transaction() as session:
                save_features(session, features)

    with transaction() as session:
        obsolete = decide_upload(session, store, registry, upload_id, features)
    for key in obsolete:
        store.delete(key)
