"""Committed images: metadata, content, and deletion (from storage and the index)."""

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.collections import lock_for_decision
from dupgate.commit import delete_image
from dupgate.db import session_scope
from dupgate.models import Image
from gateway.deps import ServicesDep, SessionDep

router = APIRouter(tags=["images"])

MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}


def _image(session: Session, image_id: str) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise HTTPException(404, f"no image with id {image_id}")
    return image


@router.get("/images/{image_id}")
def get_image(image_id: str, session: SessionDep) -> dict[str, Any]:
    """An image's metadata, labels and links."""
    image = _image(session, image_id)
    links = list(session.scalars(select(Image.id).where(Image.linked_to == image.id)))
    return {
        "image_id": image.id,
        "collection": image.collection,
        "external_id": image.external_id,
        "labels": image.labels,
        "filename": image.filename,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "size": image.size,
        "linked_to": image.linked_to,
        "links": links,
        "upload_id": image.upload_id,
        "created_at": image.created_at.isoformat(),
        "content_url": f"/v1/images/{image.linked_to or image.id}/content",
    }


@router.get("/images/{image_id}/content")
def get_content(image_id: str, session: SessionDep, services: ServicesDep) -> StreamingResponse:
    """The image's bytes (a link record serves the image it links to)."""
    image = _image(session, image_id)
    if image.linked_to is not None:
        image = _image(session, image.linked_to)
    assert image.blob_key is not None
    f = services.store.open(image.blob_key)
    return StreamingResponse(
        iter(lambda: f.read(1 << 16), b""),
        media_type=MEDIA_TYPES.get(image.format, "application/octet-stream"),
        background=None,
    )


@router.delete("/images/{image_id}", status_code=204)
def delete(image_id: str, services: ServicesDep) -> None:
    """Remove an image (and the link records pointing at it) from storage, database and index."""
    with session_scope(services.database_url) as session:
        lock_for_decision(session, _image(session, image_id).collection)
        # Read again under the lock: a concurrent delete may have won.
        session.expire_all()
        obsolete = delete_image(session, _image(session, image_id))
    for key in obsolete:
        services.store.delete(key)
