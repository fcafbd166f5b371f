"""Uploads: post an image (answered at once), poll its decision, or check without committing."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.analysis.video import VideoFeatures
from dupgate.events.notify import DecisionWaiters, TooManyWaiters, redis_url
from dupgate.gateway.deps import (
    CallerOutsideTransaction,
    ReadCaller,
    ServicesDep,
    SessionDep,
    require_broker,
)
from dupgate.gateway.errors import CONFLICT, UNSUPPORTED_FILE
from dupgate.gateway.fields import EXTERNAL_ID_LENGTH, PathId
from dupgate.gateway.forms import (
    analysed,
    analysed_video,
    checked_text,
    exists,
    multipart,
    parse_labels,
    staged_image,
    staged_image_or_video,
    staged_video,
)
from dupgate.gateway.rate_limits import RateLimitedUploadCaller
from dupgate.gateway.routes.collections import CollectionName
from dupgate.gateway.routes.committed import binary, stream_blob
from dupgate.gateway.schemas.uploads import BlockedMatch, CheckResult, Match, UploadAccepted
from dupgate.gateway.schemas.uploads import Upload as UploadView
from dupgate.gateway.staging import StagedForm, discard
from dupgate.logs import upload_context
from dupgate.services import Services
from dupgate.store.db import read_scope
from dupgate.store.models import Collection, Upload
from dupgate.store.unit_of_work import after_commit
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import (
    UnknownUpload,
    require_visible,
    visible_upload,
    with_tenant,
)
from dupgate.uploads.duplicates import describe_matches, find_duplicates
from dupgate.uploads.intake import NewUpload, create_upload, new_upload_id
from dupgate.uploads.lifecycle import staged_bytes
from dupgate.vocabulary import FINISHED, Tier

router = APIRouter(tags=["uploads"])
log = logging.getLogger(__name__)


@router.post(
    "/collections/{collection}/images",
    status_code=202,
    openapi_extra=multipart("external_id", "labels"),
    responses=CONFLICT | UNSUPPORTED_FILE,
)
async def post_image(
    collection: CollectionName,
    request: Request,
    response: Response,
    services: ServicesDep,
    session: SessionDep,
    caller: RateLimitedUploadCaller,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> UploadAccepted:
    """Stage the image, record a queued upload and enqueue its analysis; answers at once."""
    return await accept_upload(
        collection, request, response, services, session, caller, idempotency_key, "image"
    )


async def accept_upload(
    collection: str,
    request: Request,
    response: Response,
    services: Services,
    session: Session,
    caller: Caller,
    idempotency_key: str | None,
    media: str,
) -> UploadAccepted:
    """Stage the file, record a queued upload (of an image or a video) and enqueue it."""
    await run_in_threadpool(exists, services, caller, collection)
    # Refuse (503) rather than accept what no worker could be told about for a while; an
    # upload accepted just before the broker goes is enqueued by the workers' sweep.
    await run_in_threadpool(require_broker, services)
    if media == "video":
        form = await staged_video(request, services)
    else:
        form = await staged_image(request, services)
    try:
        labels = parse_labels(form.fields.get("labels"))
        assert form.file is not None
        upload_id = new_upload_id()
        new = NewUpload(
            collection=collection,
            staging_key=f"staging/{upload_id}",
            sha256=form.file.sha256,
            size=form.file.size,
            filename=form.file.filename,
            external_id=checked_text(
                "external_id", form.fields.get("external_id"), EXTERNAL_ID_LENGTH
            )
            or None,
            labels=labels,
            idempotency_key=idempotency_key,
            key_id=caller.key_id,
            media=media,
        )
        upload, created = await run_in_threadpool(_record, services, session, form, upload_id, new)
    finally:
        discard(form)
    with upload_context(upload.id):
        if created:
            log.info("upload %s queued in %s (%d bytes)", upload.id, collection, new.size)
        else:
            log.info("upload %s sent again with its Idempotency-Key", upload.id)
    response.headers["Location"] = f"/v1/uploads/{upload.id}"
    return UploadAccepted(upload_id=upload.id, status=upload.status)


def _record(
    services: Services, session: Session, form: StagedForm, upload_id: str, new: NewUpload
) -> tuple[Upload, bool]:
    """Stage the bytes, then record the upload in the request's transaction; its analysis is
    enqueued once that has committed."""
    assert form.file is not None
    with form.file.path.open("rb") as f:
        services.store.put(new.staging_key, iter(lambda: f.read(1 << 20), b""))
    try:
        try:
            upload, created = create_upload(session, upload_id, new)
        except IntegrityError:
            # The same Idempotency-Key arrived twice at once and the other request inserted
            # first: this one now finds that upload.
            session.rollback()
            upload, created = create_upload(session, upload_id, new)
    except BaseException:
        services.store.delete(new.staging_key)
        raise
    if created:
        after_commit(session, partial(_enqueue, upload.id))
    else:
        services.store.delete(new.staging_key)
    return upload, created


def _enqueue(upload_id: str) -> None:
    # Imported here so that importing the gateway does not connect to the broker.
    from dupgate.workers.tasks import process_upload

    try:
        process_upload.delay(upload_id)
    except Exception:
        # The row is committed: the workers' stale-upload sweep enqueues it again later.
        log.exception("could not enqueue upload %s; it will be re-enqueued", upload_id)


@router.get("/uploads/{upload_id}")
async def get_upload(
    upload_id: PathId,
    services: ServicesDep,
    caller: CallerOutsideTransaction,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for a decision")] = 0,
) -> UploadView:
    """The upload's status and, once decided, its decision; `?wait=` long-polls.

    Keys with the `upload` scope read the uploads they sent; `read` keys read every upload.
    """
    # What is logged while answering carries the upload id (JSON logs: "upload_id").
    with upload_context(upload_id):
        return await _poll(services, caller, upload_id, wait)


async def _poll(services: Services, caller: Caller, upload_id: str, wait: float) -> UploadView:
    if wait == 0:
        return await run_in_threadpool(_read_upload, services, caller, upload_id)
    waiting = waiters(services)

    async def read() -> UploadView:
        found = await waiting.shared_read(
            upload_id, lambda: run_in_threadpool(_load_upload, services, upload_id)
        )
        return _shown(caller, upload_id, found)

    deadline = time.monotonic() + wait
    try:
        # No database connection is held while waiting: the upload is read again only when a
        # decision was announced (or now and then, in case an announcement was lost).
        async with waiting.watch(upload_id) as woken:
            # Registered before this read: a decision committed after it wakes the waiter.
            view = await read()
            while view.status not in FINISHED:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(left, DecisionWaiters.recheck_seconds))
                woken.clear()
                view = await read()
            return view
    except TooManyWaiters:
        # Refuse only those who would wait: a decided upload is answered at once.
        view = await run_in_threadpool(_read_upload, services, caller, upload_id)
        if view.status in FINISHED:
            return view
        raise


_waiters: DecisionWaiters | None = None


def waiters(services: Services) -> DecisionWaiters:
    """This process's long-polls (made on first use, inside the server's event loop)."""
    global _waiters
    if _waiters is None:
        _waiters = DecisionWaiters(
            redis_url(services.settings), services.settings.max_upload_waiters
        )
    return _waiters


@dataclass(frozen=True)
class _ReadUpload:
    """An upload as read before knowing who asks (long-polls share it): who may see it, and
    its view."""

    tenant: str
    key_id: str | None
    view: UploadView


def _load_upload(services: Services, upload_id: str) -> _ReadUpload | None:
    with read_scope(services.database_url) as snapshot:
        found = with_tenant(snapshot, upload_id)
        if found is None:
            return None
        upload, tenant = found
        return _ReadUpload(tenant, upload.key_id, UploadView.of(upload))


def _shown(caller: Caller, upload_id: str, found: _ReadUpload | None) -> UploadView:
    """The view of `found` if the caller may read it (shared by waiters: never changed)."""
    if found is None:
        raise UnknownUpload(upload_id)
    require_visible(caller, upload_id, found.tenant, found.key_id)
    return found.view


def _read_upload(services: Services, caller: Caller, upload_id: str) -> UploadView:
    return _shown(caller, upload_id, _load_upload(services, upload_id))


@router.get(
    "/uploads/{upload_id}/content",
    response_class=StreamingResponse,
    responses=binary(["application/octet-stream"], "the upload's bytes"),
)
def get_upload_content(
    upload_id: PathId, services: ServicesDep, session: SessionDep, caller: ReadCaller
) -> StreamingResponse:
    """The bytes of an upload that is not committed yet, e.g. one held for review."""
    key = staged_bytes(visible_upload(session, caller, upload_id))
    return stream_blob(services, key, "application/octet-stream")


@router.post(
    "/collections/{collection}/check", openapi_extra=multipart(), responses=UNSUPPORTED_FILE
)
async def check_image(
    collection: CollectionName,
    request: Request,
    services: ServicesDep,
    caller: RateLimitedUploadCaller,
) -> CheckResult:
    """Analyse and match an image or a video without committing anything: the same code as the
    worker."""
    await run_in_threadpool(exists, services, caller, collection)
    form, media = await staged_image_or_video(request, services)
    features: Features | VideoFeatures
    try:
        assert form.file is not None
        if media == "video":
            features = await analysed_video(services, form.file)
        else:
            features = await analysed(services, form.file, collection)
    finally:
        discard(form)
    return await run_in_threadpool(_check, services, collection, features)


def _check(services: Services, collection: str, features: Features | VideoFeatures) -> CheckResult:
    # /check commits nothing: it reads in snapshots, and none is open while a worker analyses.
    with read_scope(services.database_url) as snapshot:
        found = find_duplicates(
            snapshot, services.registry, snapshot.get_one(Collection, collection), features
        )
        described = describe_matches(snapshot, found.matches)
    best = found.matches[0] if found.matches else None
    blocked = found.blocked
    return CheckResult(
        tier=best.tier if best else Tier.UNIQUE,
        score=best.score if best else 0.0,
        matches=[Match.model_validate(m) for m in described],
        blocked=None if blocked is None else BlockedMatch.model_validate(blocked),
    )
