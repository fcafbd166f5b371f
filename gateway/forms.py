"""Image forms: a multipart body staged and checked, the collection looked up before the body is
read, and the image analysed on a worker for the routes that answer with matches at once
(/check, blocking a file).
"""

import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from dupgate.analysis import Features, InvalidImage
from dupgate.analysis.features import ANALYSIS_VERSION
from dupgate.analysis.formats import UnsupportedFile, sniff, sniff_video
from dupgate.analysis.remote import AnalysisUnavailable, new_request_id, receive_answer
from dupgate.analysis.video import InvalidVideo, VideoFeatures
from dupgate.events.notify import redis_url
from dupgate.gateway.fields import FILENAME_LENGTH, LABEL_LENGTH
from dupgate.gateway.limits import BodyTooLarge
from dupgate.gateway.staging import StagedFile, StagedForm, discard, stage_form
from dupgate.services import Services
from dupgate.store.db import read_scope
from dupgate.store.models import Collection
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import visible_collection
from dupgate.uploads.duplicates import stored_features


def checked_text(name: str, value: str | None, max_length: int) -> str | None:
    """A text value of the form as its column can keep it: 422 if too long or with a NUL."""
    if value is not None and (len(value) > max_length or "\x00" in value):
        raise HTTPException(
            422, f"{name} must be at most {max_length} characters, without NUL characters"
        )
    return value


def parse_labels(raw: str | None) -> tuple[str, ...]:
    """`labels` is a JSON list of strings."""
    if raw is None or raw == "":
        return ()
    try:
        labels = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        labels = None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise HTTPException(422, 'labels must be a JSON list of strings, e.g. ["shoes", "red"]')
    for label in labels:
        checked_text("each label", label, LABEL_LENGTH)
    return tuple(labels)


async def staged_image(request: Request, services: Services) -> StagedForm:
    """The request's form with its `file` staged to disk and sniffed; 4xx for what is plainly wrong."""
    return await _staged(request, services, "image", services.settings.max_upload_bytes, sniff)


async def staged_video(request: Request, services: Services) -> StagedForm:
    """The request's form with its `file` staged and sniffed as a video container."""
    limit = services.settings.max_video_upload_bytes
    return await _staged(request, services, "video", limit, sniff_video)


async def _staged(
    request: Request,
    services: Services,
    noun: str,
    limit: int,
    sniff_head: Callable[[bytes], str],
) -> StagedForm:
    form = await stage_form(request, services.settings.data_dir / "tmp", limit)
    if form.file is None:
        discard(form)
        raise HTTPException(
            422, f"the form has no `file` field: send the {noun} as multipart field `file`"
        )
    try:
        checked_text("the file name", form.file.filename, FILENAME_LENGTH)
        sniff_head(form.file.head)
    except Exception:
        discard(form)
        raise
    return form


def exists(services: Services, caller: Caller, collection: str) -> None:
    """404 unless the caller sees the collection: asked before a body is read, so a wrong name
    costs no upload, and in a snapshot, so no lock is held while the body streams."""
    with read_scope(services.database_url) as snapshot:
        visible_collection(snapshot, caller, collection)


def multipart(*fields: str) -> dict[str, Any]:
    """The OpenAPI request body of a form we parse ourselves (FastAPI cannot see it)."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    descriptions = {
        "external_id": "your id for the image, returned with matches",
        "labels": 'a JSON list of strings, e.g. ["shoes", "red"]',
        "reason": "why the picture or video is blocked; uploads that match it are rejected with it",
    }
    for name in fields:
        properties[name] = {"type": "string", "description": descriptions[name]}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


async def staged_image_or_video(request: Request, services: Services) -> tuple[StagedForm, str]:
    """The form of a /check: its `file` staged and sniffed as an image or else a video."""
    settings = services.settings
    limit = max(settings.max_upload_bytes, settings.max_video_upload_bytes)
    form = await stage_form(request, settings.data_dir / "tmp", limit)
    if form.file is None:
        discard(form)
        raise HTTPException(422, "the form has no `file` field: send the file as field `file`")
    try:
        checked_text("the file name", form.file.filename, FILENAME_LENGTH)
        try:
            sniff(form.file.head)
        except UnsupportedFile as not_image:
            try:
                sniff_video(form.file.head)
            except UnsupportedFile:
                raise not_image from None
            return form, "video"
        if form.file.size > settings.max_upload_bytes:
            raise BodyTooLarge(settings.max_upload_bytes, "image")
    except Exception:
        discard(form)
        raise
    return form, "image"


async def analysed(services: Services, staged: StagedFile, collection: str) -> Features:
    """The staged file's features: stored ones for bytes the collection's tenant holds, else
    analysed by a worker (422 if the image is invalid, 503 if no worker answers in
    DUPGATE_CHECK_TIMEOUT_SECONDS)."""
    features = await run_in_threadpool(_stored_features, services, staged.sha256, collection)
    if features is not None:
        return features
    result = await _analysed_by_worker(services, staged, "image")
    assert isinstance(result, Features)
    return result


async def analysed_video(services: Services, staged: StagedFile) -> VideoFeatures:
    """A staged video's features, analysed by a worker (422 if it is not a usable video)."""
    result = await _analysed_by_worker(services, staged, "video")
    assert isinstance(result, VideoFeatures)
    return result


async def _analysed_by_worker(
    services: Services, staged: StagedFile, media: str
) -> Features | VideoFeatures:
    request_id = new_request_id()
    key = f"checks/{request_id}"
    timeout = services.settings.check_timeout_seconds
    await run_in_threadpool(_stage_for_workers, services, staged, key)
    try:
        await run_in_threadpool(_enqueue_analysis, request_id, key, timeout, media)
        return await receive_answer(redis_url(services.settings), request_id, timeout)
    except InvalidImage as e:
        kind = "invalid_video" if isinstance(e, InvalidVideo) else "invalid_image"
        raise HTTPException(422, f"{kind} ({e.reason}): {e.message}") from e
    finally:
        await run_in_threadpool(services.store.delete, key)


def _stored_features(services: Services, sha256: str, collection: str) -> Features | None:
    """Reused only within the tenant: another tenant's bytes must not answer faster."""
    with read_scope(services.database_url) as snapshot:
        tenant = snapshot.get_one(Collection, collection).tenant
        return stored_features(snapshot, sha256, ANALYSIS_VERSION, tenant=tenant)


def _stage_for_workers(services: Services, staged: StagedFile, key: str) -> None:
    with staged.path.open("rb") as f:
        services.store.put(key, iter(lambda: f.read(1 << 20), b""))


def _enqueue_analysis(request_id: str, key: str, timeout: float, media: str) -> None:
    from dupgate.workers.tasks import analyse_staged

    try:
        # Expires with the wait: a worker that gets to it later skips it.
        analyse_staged.apply_async((request_id, key, media), expires=timeout)
    except Exception as e:
        raise AnalysisUnavailable(f"the broker is unreachable: {type(e).__name__}") from e
