"""Uploads: post an image (answered at once), poll its decision, or check without committing."""

import asyncio
import json
import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.analysis import InvalidImage, analyze
from dupgate.analysis.features import ANALYSIS_VERSION
from dupgate.collections import get_collection
from dupgate.db import get_sessionmaker, session_scope
from dupgate.formats import sniff
from dupgate.models import Upload
from dupgate.services import Services
from dupgate.uploads import (
    NewUpload,
    create_upload,
    describe_matches,
    match,
    new_upload_id,
    stored_features,
    upload_view,
)
from gateway.deps import ServicesDep
from gateway.routes.collections import CollectionName
from gateway.staging import StagedForm, discard, stage_form

router = APIRouter(tags=["uploads"])
# Decoding guards Pillow's warnings with warnings.catch_warnings, which is not thread-safe:
# the gateway analyses one /check image at a time (workers are processes and need no lock).
_analysis_lock = threading.Lock()
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


def _exists(services: Services, collection: str) -> None:
    with session_scope(services.database_url) as session:
        get_collection(session, collection)


def _multipart(*fields: str) -> dict[str, Any]:
    """The OpenAPI request body of a form we parse ourselves (FastAPI cannot see it)."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    descriptions = {
        "external_id": "your id for the image, returned with matches",
        "labels": 'a JSON list of strings, e.g. ["shoes", "red"]',
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
    openapi_extra=_multipart("external_id", "labels"),
)
async def post_image(
    collection: CollectionName,
    request: Request,
    response: Response,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Stage the image, record a queued upload and enqueue its analysis; answers at once."""
    await run_in_threadpool(_exists, services, collection)
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
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for a decision")] = 0,
) -> dict[str, Any]:
    """The upload's status and, once decided, its decision; `?wait=` long-polls."""
    deadline = time.monotonic() + wait
    while True:
        view = await run_in_threadpool(_read_upload, services, upload_id)
        if view["status"] in ("decided", "failed") or time.monotonic() >= deadline:
            return view
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _read_upload(services: Services, upload_id: str) -> dict[str, Any]:
    session: Session = get_sessionmaker(services.database_url)()
    try:
        upload = session.get(Upload, upload_id)
        if upload is None:
            raise HTTPException(404, f"no upload with id {upload_id}")
        return upload_view(upload)
    finally:
        session.close()


@router.post("/collections/{collection}/check", openapi_extra=_multipart())
async def check_image(
    collection: CollectionName, request: Request, services: ServicesDep
) -> dict[str, Any]:
    """Analyse and match an image without committing anything: the same code as the worker."""
    await run_in_threadpool(_exists, services, collection)
    form = await staged_image(request, services)
    try:
        return await run_in_threadpool(_check, services, collection, form)
    finally:
        discard(form)


def _check(services: Services, collection: str, form: StagedForm) -> dict[str, Any]:
    assert form.file is not None
    with session_scope(services.database_url) as session:
        features = stored_features(session, form.file.sha256, ANALYSIS_VERSION)
    if features is None:
        try:
            with _analysis_lock:
                features = analyze(
                    form.file.path.read_bytes(),
                    services.embedder,
                    max_pixels=services.settings.max_pixels,
                )
        except InvalidImage as e:
            raise HTTPException(422, f"invalid_image ({e.reason}): {e.message}") from e
    with session_scope(services.database_url) as session:
        matches = match(session, services.registry, collection, features)
        described = describe_matches(session, matches)
    best = matches[0] if matches else None
    return {
        "tier": best.tier if best else "unique",
        "score": best.score if best else 0.0,
        "matches": described,
    }
