"""Tasks: each loads by id and calls the domain; idempotent, so redelivery is harmless."""

import logging
from datetime import timedelta

from celery.signals import worker_ready
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from dupgate.analysis import Features, InvalidImage
from dupgate.db import session_scope
from dupgate.models import Upload
from dupgate.services import get_services
from dupgate.uploads import (
    analyze_upload,
    begin_processing,
    decide_upload,
    fail_upload,
    stale_upload_ids,
)
from workers.app import app

log = logging.getLogger(__name__)


@app.task(
    acks_late=True,
    autoretry_for=(OperationalError, RedisConnectionError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def process_upload(upload_id: str) -> None:
    """Analyse an upload once, then match, decide and commit it under the collection lock."""
    services = get_services()
    url, settings = services.database_url, services.settings
    with session_scope(url) as session:
        upload = begin_processing(session, upload_id, settings.max_task_attempts)
        if upload is None:
            return
    features: Features | InvalidImage
    try:
        with session_scope(url) as session:
            upload = session.get(Upload, upload_id)
            assert upload is not None
            features = analyze_upload(
                session, services.store, services.embedder, upload, settings.max_pixels
            )
    except InvalidImage as e:
        features = e
    except Exception as e:
        # A bug or an unreadable staging blob: end the upload visibly instead of retrying forever.
        log.exception("analysis of upload %s failed", upload_id)
        with session_scope(url) as session:
            upload = session.get(Upload, upload_id)
            assert upload is not None
            fail_upload(upload, f"analysis_failed: {type(e).__name__}: {e}")
        return
    with session_scope(url) as session:
        obsolete = decide_upload(session, services.store, services.registry, upload_id, features)
    for key in obsolete:
        services.store.delete(key)


@app.task
def requeue_stale_uploads() -> int:
    """Enqueue again the uploads whose message was lost (e.g. enqueue failed after commit)."""
    services = get_services()
    age = timedelta(seconds=services.settings.stale_upload_seconds)
    with session_scope(services.database_url) as session:
        ids = stale_upload_ids(session, age)
    for upload_id in ids:
        process_upload.delay(upload_id)
    if ids:
        log.warning("re-enqueued %d stale uploads", len(ids))
    return len(ids)


@worker_ready.connect
def _requeue_on_start(**_: object) -> None:
    requeue_stale_uploads.delay()
