"""Tasks: each loads by id and calls the domain; idempotent, so redelivery is harmless."""

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from celery import Task
from celery.signals import worker_ready
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dupgate.analysis import Features, InvalidImage, analyze
from dupgate.analysis.decode import decode
from dupgate.analysis.preview import preview_jpeg, preview_key
from dupgate.analysis.remote import send_answer
from dupgate.analysis.video import VideoFeatures, VideoLimits, analyze_video
from dupgate.events.audit import on_uploads_decided, on_webhooks_due
from dupgate.events.notify import publish_decided, redis_url
from dupgate.logs import upload_context
from dupgate.scans.jobs import run_scan, stale_scan_ids
from dupgate.services import get_services
from dupgate.settings import get_settings
from dupgate.store.blobs import BlobNotFound
from dupgate.store.db import session_scope
from dupgate.transient import is_transient, retry_transient
from dupgate.uploads.lifecycle import release_upload, requeue_lost_uploads
from dupgate.uploads.orphans import sweep_orphaned_blobs
from dupgate.uploads.pipeline import run_upload
from dupgate.webhooks.delivery import RetryPolicy, deliver_stream, due_streams
from dupgate.webhooks.http import post
from dupgate.workers.app import app

log = logging.getLogger(__name__)


@app.task(acks_late=True)
def process_upload(upload_id: str) -> None:
    """Analyse an upload once, then match, decide and commit it under the collection lock.

    Database, broker and disk faults are retried in this run until a deadline (one lease
    owner throughout, so a retry is not another attempt); past it the upload is given back to
    the queue, or, with the database still away, found later by its expired lease.
    """
    services = get_services()
    settings = services.settings
    # Says which run on which host holds the upload, for whoever looks at a stuck one.
    owner = f"{uuid.uuid4().hex[:12]}@{socket.gethostname()[:60]}:{os.getpid()}"
    transaction = partial(session_scope, services.database_url)
    work = partial(
        run_upload,
        transaction,
        services.store,
        lambda: services.embedder,
        services.registry,
        upload_id,
        max_attempts=settings.max_task_attempts,
        max_pixels=settings.max_pixels,
        video_limits=VideoLimits(
            max_seconds=settings.max_video_seconds,
            max_pixels=settings.max_video_pixels,
            max_frames=settings.max_video_frames,
        ),
        owner=owner,
        lease=timedelta(seconds=settings.upload_lease_seconds),
    )
    # Every line logged while processing carries the upload id (JSON logs: "upload_id").
    with upload_context(upload_id):
        try:
            retry_transient(
                work,
                # Stay clear of the hard time limit, which would kill the process mid-retry.
                deadline_seconds=min(
                    settings.transient_retry_seconds, settings.task_time_limit / 2
                ),
                max_interval=settings.transient_retry_max_interval_seconds,
            )
        except Exception as e:
            if not is_transient(e):
                raise
            log.warning(
                "upload %s: still failing after the retry deadline; giving it back", upload_id
            )
            with transaction() as session:
                release_upload(
                    session, upload_id, owner, timedelta(seconds=settings.stale_upload_seconds)
                )


@app.task(acks_late=False)
def analyse_staged(request_id: str, staging_key: str, media: str = "image") -> None:
    """Analyse bytes the gateway staged (/check, a blocked file) and hand it the features.

    Nothing is stored. Not retried: the gateway waits only so long, and answers 503 after.
    """
    services = get_services()
    try:
        content = services.store.get(staging_key)
    except BlobNotFound:
        return  # the gateway stopped waiting and removed them
    result: Features | VideoFeatures | InvalidImage
    settings = services.settings
    try:
        if media == "video":
            limits = VideoLimits(
                settings.max_video_seconds, settings.max_video_pixels, settings.max_video_frames
            )
            result = analyze_video(content, services.embedder, limits)
        else:
            result = analyze(content, services.embedder, max_pixels=settings.max_pixels)
    except InvalidImage as e:
        result = e
    except Exception as e:
        log.exception("analysis of staged %s failed", staging_key)
        result = InvalidImage("analysis_failed", f"{type(e).__name__}: {e}")
    send_answer(redis_url(services.settings), request_id, result)


@app.task(acks_late=True)
def make_previews(images: list[tuple[str, str]]) -> int:
    """Make the missing previews of images analysed before previews existed: (blob key, sha256)
    pairs. Idempotent: a preview already there is left as it is."""
    services = get_services()
    store = services.store
    made = 0
    for blob_key, sha256 in images:
        if store.exists(preview_key(sha256)):
            continue
        try:
            picture = decode(store.get(blob_key), max_pixels=services.settings.max_pixels).picture
        except (BlobNotFound, InvalidImage):
            continue  # deleted meanwhile, or never decodable: the report shows no preview
        store.put(preview_key(sha256), iter([preview_jpeg(picture)]))
        made += 1
    return made


@app.task
def requeue_stale_uploads() -> int:
    """Enqueue again the uploads whose worker vanished (expired lease) or whose message was lost."""
    seconds = get_services().settings.stale_upload_seconds
    with session_scope(get_services().database_url) as session:
        ids = requeue_lost_uploads(session, timedelta(seconds=seconds))
    for found in ids:
        process_upload.delay(found)
    if ids:
        log.warning("re-enqueued %d uploads whose worker or message was lost", len(ids))
    return len(ids)


@app.task
def sweep_orphaned_staging() -> int:
    """Remove blobs that no upload or image refers to (left by a crash), once old enough."""
    services = get_services()
    grace = timedelta(seconds=services.settings.orphan_grace_seconds)
    with session_scope(services.database_url) as session:
        removed = sweep_orphaned_blobs(session, services.store, grace)
    if removed:
        log.warning("removed %d orphaned blobs", len(removed))
    return len(removed)


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
        partial(post, timeout=settings.webhook_timeout_seconds, allowed=settings.webhook_networks),
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
    find: Callable[[Session, timedelta], list[str]],
    seconds: int,
    task: Task[[str], None],
    what: str,
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
# Long-polls in the gateways wake up as soon as a decision has committed.
on_uploads_decided(partial(publish_decided, get_settings()))


@worker_ready.connect
def _requeue_on_start(**_: object) -> None:
    requeue_stale_uploads.delay()
