"""A collection's blocklist: block a file (a picture or a video), list the entries, remove one."""

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.analysis.video import VideoFeatures
from dupgate.curation.blocklist import BLOCKLIST, block_file, blocklist, unblock
from dupgate.gateway.deps import AdminCaller, AdminCallerOutsideTransaction, ServicesDep, SessionDep
from dupgate.gateway.errors import UNSUPPORTED_FILE
from dupgate.gateway.fields import REASON_LENGTH, PathId
from dupgate.gateway.forms import (
    analysed,
    analysed_video,
    checked_text,
    exists,
    multipart,
    staged_image_or_video,
)
from dupgate.gateway.pagination import Page, Pages
from dupgate.gateway.routes.collections import CollectionName
from dupgate.gateway.schemas.images import Block
from dupgate.gateway.staging import discard
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import visible_collection
from dupgate.uploads.duplicates import save_features
from dupgate.uploads.videos import save_video_features

router = APIRouter(tags=["blocklist"])


@router.post(
    "/collections/{collection}/blocklist",
    status_code=201,
    openapi_extra=multipart("reason"),
    responses=UNSUPPORTED_FILE,
)
async def block_a_file(
    collection: CollectionName,
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    caller: AdminCallerOutsideTransaction,
) -> Block:
    """Block a picture or a video given as a file (multipart `file` and `reason`); only its
    features are kept."""
    await run_in_threadpool(exists, services, caller, collection)
    form, media = await staged_image_or_video(request, services)
    features: Features | VideoFeatures
    try:
        assert form.file is not None
        reason = checked_text("reason", form.fields.get("reason", ""), REASON_LENGTH) or ""
        if not reason.strip():
            raise HTTPException(422, f"say why the {media} is blocked: send a `reason` field")
        if media == "video":
            features = await analysed_video(services, form.file)
        else:
            features = await analysed(services, form.file, collection)
        filename = form.file.filename
    finally:
        discard(form)
    return await run_in_threadpool(_block, session, caller, collection, features, filename, reason)


def _block(
    session: Session,
    caller: Caller,
    collection: str,
    features: Features | VideoFeatures,
    filename: str | None,
    reason: str,
) -> Block:
    if isinstance(features, VideoFeatures):
        save_video_features(session, features)
    else:
        save_features(session, features)
    row = block_file(
        session,
        visible_collection(session, caller, collection),
        features,
        filename,
        reason,
        caller,
    )
    return Block.of(row)


@router.get("/collections/{collection}/blocklist")
def list_blocked(
    collection: CollectionName, session: SessionDep, caller: AdminCaller, pages: Pages
) -> Page[Block]:
    """The collection's blocklist, oldest first."""
    visible_collection(session, caller, collection)
    found = blocklist(session, collection, after=pages.after(BLOCKLIST), limit=pages.limit)
    return Page[Block].of(found, Block.of)


@router.delete("/collections/{collection}/blocklist/{block_id}", status_code=204)
def remove_block(
    collection: CollectionName, block_id: PathId, session: SessionDep, caller: AdminCaller
) -> None:
    """Remove an entry: uploads that match it are decided by the policy again."""
    unblock(session, visible_collection(session, caller, collection), block_id, caller)
