"""Tasks: each loads by id and calls the domain; idempotent, so redelivery is harmless."""

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from celery import Task
from celery.signals import worker_ready
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dupgate.db import session_scope
from dupgate.events import on_webhooks_due
from dupgate.pipeline import run_upload
from dupgate.scans.jobs import run_scan, stale_scan_ids
from dupgate.services import get_services
from dupgate.settings import get_settings
from dupgate.uploads import stale_upload_ids
from dupgate.webhooks import RetryPolicy, deliver_stream, due_streams, post
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
    seconds = get_services().settings.stale_upload_seconds
    return _requeue(stale_upload_ids, seconds, process_upload, "uploads")


@app.task
def deliver_webhooks() -> int:
    """Start a delivery task for every webhook stream with something due (beat runs it too)."""
    services = get_services()
    with session_scope(services.database_url) as session:
        streams = due_streams(session)
    for webhook_id, stream in streams:
        deliver_webhook_stream.delay(webhook_id, stream)
    return len(streams)


@app.task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def deliver_webhook_stream(webhook_id: str, stream: str) -> int:
    """Send one stream's due deliveries in order; a second task on the same stream does nothing."""
    services = get_services()
    settings = services.settings
    retry = RetryPolicy(
        settings.webhook_retry_base_seconds,
        settings.webhook_retry_max_interval_seconds,
        settings.webhook_retry_window_seconds,
    )
    return deliver_stream(
        partial(session_scope, services.database_url),
        partial(post, timeout=settings.webhook_timeout_seconds),
        webhook_id,
        stream,
        retry,
    )


@app.task(acks_late=False, time_limit=get_settings().scan_time_limit)
def run_collection_scan(scan_id: str) -> None:
    """Group the duplicates of a collection (or a filtered part) from stored features.

    Acknowledged on receipt, not at the end: a scan outlives the broker's visibility timeout,
    which would deliver it again while it runs. A scan whose worker died is found by its
    stopped heartbeat and run again by requeue_stale_scans.
    """
    services = get_services()
    run_scan(
        partial(session_scope, services.database_url),
        services.registry,
        scan_id,
        stale_after=timedelta(seconds=services.settings.scan_stale_seconds),
    )


@app.task
def requeue_stale_scans() -> int:
    """Start the scans whose message was lost or whose worker died."""
    seconds = get_services().settings.scan_stale_seconds
    return _requeue(stale_scan_ids, seconds, run_collection_scan, "scans")


def _requeue(
    find: Callable[[Session, timedelta], list[str]], seconds: int, task: Task, what: str
) -> int:
    with session_scope(get_services().database_url) as session:
        ids = find(session, timedelta(seconds=seconds))
    for found in ids:
        task.delay(found)
    if ids:
        log.warning("re-enqueued %d stale %s", len(ids), what)
    return len(ids)


# Events written by tasks (decisions) are delivered as soon as their transaction commits.
on_webhooks_due(deliver_webhooks.delay)


@worker_ready.connect
def _requeue_on_start(**_: object) -> None:
    requeue_stale_uploads.delay()
