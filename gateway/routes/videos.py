"""Videos: post one (answered at once, decided by a worker as images are), read, delete, block."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse

from dupgate.curation.blocklist import block_video
from dupgate.gateway.deps import AdminCaller, ReadCaller, ServicesDep, SessionDep
from dupgate.gateway.errors import CONFLICT, UNSUPPORTED_FILE
from dupgate.gateway.fields import PathId
from dupgate.gateway.forms import multipart
from dupgate.gateway.rate_limits import RateLimitedUploadCaller
from dupgate.gateway.routes.collections import CollectionName
from dupgate.gateway.routes.committed import (
    BlockRequest,
    binary,
    content,
    delete_locked,
    links_of,
)
from dupgate.gateway.routes.uploads import accept_upload
from dupgate.gateway.schemas.images import Block
from dupgate.gateway.schemas.uploads import UploadAccepted
from dupgate.gateway.schemas.videos import Video
from dupgate.tenancy.visibility import visible_video
from dupgate.uploads.videos import delete_video

router = APIRouter(tags=["videos"])

MEDIA_TYPES = {
    "MOV": "video/quicktime",
    "MP4": "video/mp4",
    "MATROSKA": "video/x-matroska",
    "AVI": "video/x-msvideo",
    "FLV": "video/x-flv",
    "MPEGTS": "video/mp2t",
}


@router.post(
    "/collections/{collection}/videos",
    status_code=202,
    openapi_extra=multipart("external_id", "labels"),
    responses=CONFLICT | UNSUPPORTED_FILE,
)
async def post_video(
    collection: CollectionName,
    request: Request,
    response: Response,
    services: ServicesDep,
    session: SessionDep,
    caller: RateLimitedUploadCaller,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> UploadAccepted:
    """Stage the video, record a queued upload and enqueue its analysis; answers at once."""
    return await accept_upload(
        collection, request, response, services, session, caller, idempotency_key, "video"
    )


@router.get("/videos/{video_id}")
def get_video(video_id: PathId, session: SessionDep, caller: ReadCaller) -> Video:
    """A video's metadata, labels and links."""
    video = visible_video(session, caller, video_id)
    return Video.of(video, links_of(session, video))


@router.get(
    "/videos/{video_id}/content",
    response_class=StreamingResponse,
    responses=binary([*MEDIA_TYPES.values(), "application/octet-stream"], "the video's bytes"),
)
def get_content(
    video_id: PathId, session: SessionDep, services: ServicesDep, caller: ReadCaller
) -> StreamingResponse:
    """The video's bytes (a link record serves the video it links to)."""
    video = visible_video(session, caller, video_id)
    return content(services, session, caller, video, visible_video, MEDIA_TYPES)


@router.delete("/videos/{video_id}", status_code=204)
def delete(
    video_id: PathId, services: ServicesDep, session: SessionDep, caller: AdminCaller
) -> None:
    """Remove a video (and the link records pointing at it) from storage, database and index."""
    delete_locked(session, services.store, caller, video_id, visible_video, delete_video)


@router.post("/videos/{video_id}/block", status_code=201)
def block(video_id: PathId, body: BlockRequest, session: SessionDep, caller: AdminCaller) -> Block:
    """Block the video in its collection: later uploads that copy it (exactly or near, as the
    duplicates of videos are found) are rejected with the reason, also after it is deleted."""
    return Block.of(
        block_video(session, visible_video(session, caller, video_id), body.reason, caller)
    )
