"""Tasks: each loads by id and calls the domain; idempotent, so redelivery is harmless."""

import logging
from datetime import timedelta
from functools import partial

from celery.signals import worker_ready
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from dupgate.db import session_scope
from dupgate.pipeline import run_upload
from dupgate.services import get_services
from dupgate.uploads import stale_upload_ids
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
    settings = services.settings
    run_upload(
        partial(session_scope, services.database_url),
        services.store,
        lambda: services.embedder,
        services.registry,
        upload_id,
        max_attempts=settings.max_task_attempts,
        max_pixels=settings.max_pixels,
    )


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
