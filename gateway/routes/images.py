"""Committed images: metadata, content, deletion (from storage and the index) and blocking."""

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from dupgate.curation.blocklist import block_image
from dupgate.gateway.deps import AdminCaller, ReadCaller, ServicesDep, SessionDep
from dupgate.gateway.fields import PathId
from dupgate.gateway.routes.committed import (
    BlockRequest,
    binary,
    content,
    delete_locked,
    links_of,
)
from dupgate.gateway.schemas.images import Block, Image
from dupgate.tenancy.visibility import visible_image
from dupgate.uploads.commit import delete_image

router = APIRouter(tags=["images"])

MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


@router.get("/images/{image_id}")
def get_image(image_id: PathId, session: SessionDep, caller: ReadCaller) -> Image:
    """An image's metadata, labels and links."""
    image = visible_image(session, caller, image_id)
    return Image.of(image, links_of(session, image))


@router.get(
    "/images/{image_id}/content",
    response_class=StreamingResponse,
    responses=binary([*MEDIA_TYPES.values(), "application/octet-stream"], "the image's bytes"),
)
def get_content(
    image_id: PathId, session: SessionDep, services: ServicesDep, caller: ReadCaller
) -> StreamingResponse:
    """The image's bytes (a link record serves the image it links to)."""
    image = visible_image(session, caller, image_id)
    return content(services, session, caller, image, visible_image, MEDIA_TYPES)


@router.delete("/images/{image_id}", status_code=204)
def delete(
    image_id: PathId, services: ServicesDep, session: SessionDep, caller: AdminCaller
) -> None:
    """Remove an image (and the link records pointing at it) from storage, database and index.

    Its features are kept, so a blocked picture stays blocked after its image is deleted.
    """
    delete_locked(session, services.store, caller, image_id, visible_image, delete_image)


@router.post("/images/{image_id}/block", status_code=201)
def block(image_id: PathId, body: BlockRequest, session: SessionDep, caller: AdminCaller) -> Block:
    """Block the image's picture in its collection: later uploads that match it are rejected
    with the reason, whatever the policy says, also after the image itself is deleted."""
    return Block.of(
        block_image(session, visible_image(session, caller, image_id), body.reason, caller)
    )
