"""Uploads: post an image (answered at once), poll its decision, or check without committing."""

import asyncio
import json
import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.analysis import Features, InvalidImage, analyze
from dupgate.analysis.features import ANALYSIS_VERSION
from dupgate.collections import visible_collection
from dupgate.db import get_sessionmaker, session_scope
from dupgate.formats import sniff
from dupgate.keys import Caller, Forbidden
from dupgate.models import Collection, Upload
from dupgate.services import Services
from dupgate.uploads import (
    NewUpload,
    create_upload,
    describe_matches,
    find_duplicates,
    new_upload_id,
    stored_features,
    upload_view,
)
from gateway.deps import CallerDep, ReadCaller, ServicesDep, UploadCaller
from gateway.routes.collections import CollectionName
from gateway.routes.images import stream_blob
from gateway.staging import StagedFile, StagedForm, discard, stage_form

router = APIRouter(tags=["uploads"])
# Decoding guards Pillow's warnings with warnings.catch_warnings, which is not thread-safe:
# the gateway decodes one image at a time (/check, blocked files, report thumbnails); workers
# are processes and need no lock.
decode_lock = threading.Lock()
log = logging.getLogger(__name__)


def parse_labels(raw: str | None) -> tuple[str, ...]:
    """`labels` is a JSON list of strings."""
    if raw is None or raw == "":
        return ()
    try:
        labels = json.loads(raw)
    except json.JSONDecodeError:
        labels = None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise HTTPException(422, 'labels must be a JSON list of strings, e.g. ["shoes", "red"]')
    return tuple(labels)


async def staged_image(request: Request, services: Services) -> StagedForm:
    """The request's form with its `file` staged to disk and sniffed; 4xx for what is plainly wrong."""
    settings = services.settings
    form = await stage_form(request, settings.data_dir / "tmp", settings.max_upload_bytes)
    if form.file is None:
        discard(form)
        raise HTTPException(
            422, "the form has no `file` field: send the image as multipart field `file`"
        )
    try:
        sniff(form.file.head)
    except Exception:
        discard(form)
        raise
    return form


def _exists(services: Services, caller: Caller, collection: str) -> None:
    with session_scope(services.database_url) as session:
        visible_collection(session, caller, collection)


def multipart(*fields: str) -> dict[str, Any]:
    """The OpenAPI request body of a form we parse ourselves (FastAPI cannot see it)."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    descriptions = {
        "external_id": "your id for the image, returned with matches",
        "labels": 'a JSON list of strings, e.g. ["shoes", "red"]',
        "reason": "why the picture is blocked; uploads that match it are rejected with it",
    }
    for name in fields:
        properties[name] = {"type": "string", "description": descriptions[name]}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


@router.post(
    "/collections/{collection}/images",
    status_code=202,
    openapi_extra=multipart("external_id", "labels"),
)
async def post_image(
    collection: CollectionName,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: UploadCaller,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Stage the image, record a queued upload and enqueue its analysis; answers at once."""
    await run_in_threadpool(_exists, services, caller, collection)
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
            external_id=form.fields.get("external_id") or None,
            labels=labels,
            idempotency_key=idempotency_key,
            key_id=caller.key_id,
        )
        upload, created = await run_in_threadpool(_record, services, form, upload_id, new)
    finally:
        discard(form)
    if created:
        await run_in_threadpool(_enqueue, upload.id)
    response.headers["Location"] = f"/v1/uploads/{upload.id}"
    return {"upload_id": upload.id, "status": upload.status}


def _record(
    services: Services, form: StagedForm, upload_id: str, new: NewUpload
) -> tuple[Upload, bool]:
    assert form.file is not None
    with form.file.path.open("rb") as f:
        services.store.put(new.staging_key, iter(lambda: f.read(1 << 20), b""))
    try:
        try:
            with session_scope(services.database_url) as session:
                upload, created = create_upload(session, upload_id, new)
        except IntegrityError:
            # The same Idempotency-Key arrived twice at once and the other request inserted
            # first: this one now finds that upload.
            with session_scope(services.database_url) as session:
                upload, created = create_upload(session, upload_id, new)
    except BaseException:
        services.store.delete(new.staging_key)
        raise
    if not created:
        services.store.delete(new.staging_key)
    return upload, created


def _enqueue(upload_id: str) -> None:
    # Imported here so that importing the gateway does not connect to the broker.
    from workers.tasks import process_upload

    try:
        process_upload.delay(upload_id)
    except Exception:
        # The row is committed: the workers' stale-upload sweep enqueues it again later.
        log.exception("could not enqueue upload %s; it will be re-enqueued", upload_id)


@router.get("/uploads/{upload_id}")
async def get_upload(
    upload_id: str,
    services: ServicesDep,
    caller: CallerDep,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for a decision")] = 0,
) -> dict[str, Any]:
    """The upload's status and, once decided, its decision; `?wait=` long-polls.

    Keys with the `upload` scope read the uploads they sent; `read` keys read every upload.
    """
    deadline = time.monotonic() + wait
    while True:
        view = await run_in_threadpool(_read_upload, services, caller, upload_id)
        if view["status"] in ("decided", "failed") or time.monotonic() >= deadline:
            return view
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def visible_upload(session: Session, caller: Caller, upload_id: str) -> Upload:
    """The upload if the caller may read it: 404 for another tenant's, 403 without the scope."""
    upload = session.get(Upload, upload_id)
    collection = session.get(Collection, upload.collection) if upload else None
    if upload is None or collection is None or not caller.sees(collection.tenant):
        raise HTTPException(404, f"no upload with id {upload_id}")
    own = caller.can("upload") and upload.key_id is not None and upload.key_id == caller.key_id
    if not (caller.can("read") or own):
        raise Forbidden(
            "this API key may read only the uploads it sent (the 'read' scope reads all)"
        )
    return upload


def _read_upload(services: Services, caller: Caller, upload_id: str) -> dict[str, Any]:
    session: Session = get_sessionmaker(services.database_url)()
    try:
        return upload_view(visible_upload(session, caller, upload_id))
    finally:
        session.close()


@router.get("/uploads/{upload_id}/content")
def get_upload_content(
    upload_id: str, services: ServicesDep, caller: ReadCaller
) -> StreamingResponse:
    """The bytes of an upload that is not committed yet, e.g. one held for review."""
    with session_scope(services.database_url) as session:
        upload = visible_upload(session, caller, upload_id)
        key = upload.staging_key
    if key is None:
        raise HTTPException(
            404,
            f"upload {upload_id} keeps no bytes of its own: it is {upload.action or upload.status}"
            + (f"; see /v1/images/{upload.image_id}/content" if upload.image_id else ""),
        )
    return stream_blob(services, key, "application/octet-stream")


@router.post("/collections/{collection}/check", openapi_extra=multipart())
async def check_image(
    collection: CollectionName, request: Request, services: ServicesDep, caller: UploadCaller
) -> dict[str, Any]:
    """Analyse and match an image without committing anything: the same code as the worker."""
    await run_in_threadpool(_exists, services, caller, collection)
    form = await staged_image(request, services)
    try:
        return await run_in_threadpool(_check, services, collection, form)
    finally:
        discard(form)


def analysed(services: Services, staged: StagedFile) -> Features:
    """The staged file's features: stored ones for known bytes, else analysed here (422 if bad)."""
    with session_scope(services.database_url) as session:
        features = stored_features(session, staged.sha256, ANALYSIS_VERSION)
    if features is not None:
        return features
    try:
        with decode_lock:
            return analyze(
                staged.path.read_bytes(), services.embedder, max_pixels=services.settings.max_pixels
            )
    except InvalidImage as e:
        raise HTTPException(422, f"invalid_image ({e.reason}): {e.message}") from e


def _check(services: Services, collection: str, form: StagedForm) -> dict[str, Any]:
    assert form.file is not None
    features = analysed(services, form.file)
    with session_scope(services.database_url) as session:
        found = find_duplicates(
            session, services.registry, session.get_one(Collection, collection), features
        )
        described = describe_matches(session, found.matches)
    best = found.matches[0] if found.matches else None
    view: dict[str, Any] = {
        "tier": best.tier if best else "unique",
        "score": best.score if best else 0.0,
        "matches": described,
    }
    if found.blocked is not None:
        view["blocked"] = {
            "block_id": found.blocked.block_id,
            "reason": found.blocked.reason,
            "score": found.blocked.score,
            "tier": found.blocked.tier,
        }
    return view
