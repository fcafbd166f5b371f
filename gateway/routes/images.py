"""Committed images: metadata, content, deletion (from storage and the index) and blocking."""

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from dupgate.curation.blocklist import block_image
from dupgate.gateway.deps import AdminCaller, ReadCaller, ServicesDep, SessionDep
from dupgate.gateway.fields import REASON_LENGTH, PathId, text
from dupgate.gateway.schemas.images import Block, Image
from dupgate.services import Services
from dupgate.store.locking import lock_collections
from dupgate.store.models import Image as ImageRow
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


def binary(media_types: list[str], description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a route that streams bytes of these types."""
    schema = {"type": "string", "format": "binary"}
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": schema} for media_type in media_types},
        }
    }


def stream_blob(services: Services, key: str, media_type: str) -> StreamingResponse:
    """A stored blob as a streamed response."""
    f = services.store.open(key)
    return StreamingResponse(iter(lambda: f.read(1 << 16), b""), media_type=media_type)


@router.get("/images/{image_id}")
def get_image(image_id: PathId, session: SessionDep, caller: ReadCaller) -> Image:
    """An image's metadata, labels and links."""
    image = visible_image(session, caller, image_id)
    links = list(session.scalars(select(ImageRow.id).where(ImageRow.linked_to == image.id)))
    return Image.of(image, links)


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
    if image.linked_to is not None:
        image = visible_image(session, caller, image.linked_to)
    assert image.blob_key is not None
    return stream_blob(
        services, image.blob_key, MEDIA_TYPES.get(image.format, "application/octet-stream")
    )


@router.delete("/images/{image_id}", status_code=204)
def delete(
    image_id: PathId, services: ServicesDep, session: SessionDep, caller: AdminCaller
) -> None:
    """Remove an image (and the link records pointing at it) from storage, database and index.

    Its features are kept, so a blocked picture stays blocked after its image is deleted.
    """
    lock_collections(session, [visible_image(session, caller, image_id).collection])
    # Read again under the lock: a concurrent delete may have won.
    session.expire_all()
    delete_image(session, services.store, visible_image(session, caller, image_id), caller.actor)


class BlockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, text(REASON_LENGTH, min_length=1)]


@router.post("/images/{image_id}/block", status_code=201)
def block(image_id: PathId, body: BlockRequest, session: SessionDep, caller: AdminCaller) -> Block:
    """Block the image's picture in its collection: later uploads that match it are rejected
    with the reason, whatever the policy says, also after the image itself is deleted."""
    return Block.of(
        block_image(session, visible_image(session, caller, image_id), body.reason, caller)
    )
