"""What the routes of committed images and videos share: reading one with its links, serving
its bytes, deleting it under its collection's lock, and the body of a block request."""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.gateway.fields import REASON_LENGTH, text
from dupgate.services import Services
from dupgate.store.blobs import BlobStore
from dupgate.store.locking import lock_collections
from dupgate.store.models import Image, Video
from dupgate.tenancy.keys import Caller

Row = TypeVar("Row", Image, Video)
Visible = Callable[[Session, Caller, str], Row]


class BlockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, text(REASON_LENGTH, min_length=1)]


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


def links_of(session: Session, row: Image | Video) -> list[str]:
    """The ids of the link records that point at the row."""
    model = type(row)
    return list(session.scalars(select(model.id).where(model.linked_to == row.id)))


def content(
    services: Services,
    session: Session,
    caller: Caller,
    row: Row,
    visible: "Visible[Row]",
    media_types: dict[str, str],
) -> StreamingResponse:
    """The row's bytes; a link record serves the row it links to."""
    if row.linked_to is not None:
        row = visible(session, caller, row.linked_to)
    assert row.blob_key is not None
    return stream_blob(
        services, row.blob_key, media_types.get(row.format, "application/octet-stream")
    )


def delete_locked(
    session: Session,
    store: BlobStore,
    caller: Caller,
    row_id: str,
    visible: "Visible[Row]",
    delete: Callable[[Session, BlobStore, Row, str], None],
) -> None:
    """Delete the row under its collection's lock, read again under it: a concurrent delete may
    have won."""
    lock_collections(session, [visible(session, caller, row_id).collection])
    session.expire_all()
    delete(session, store, visible(session, caller, row_id), caller.actor)
