"""Committed images, "not a duplicate" verdicts, and blocklist entries."""

from typing import Any, Literal

from dupgate.curation.blocklist import block_payload
from dupgate.gateway.schemas.common import Schema, Timestamp, omitted
from dupgate.store import models


class Committed(Schema):
    """What committed images and videos both have: facts, labels and links."""

    collection: str
    external_id: str | None
    labels: list[str]
    filename: str | None
    sha256: str
    width: int
    height: int
    format: str
    size: int
    linked_to: str | None
    links: list[str]
    upload_id: str | None
    created_at: Timestamp
    content_url: str


def committed_fields(row: models.Image | models.Video, links: list[str]) -> dict[str, Any]:
    """The fields of Committed, read from an image or video row."""
    kind = "videos" if isinstance(row, models.Video) else "images"
    return {
        "collection": row.collection,
        "external_id": row.external_id,
        "labels": row.labels,
        "filename": row.filename,
        "sha256": row.sha256,
        "width": row.width,
        "height": row.height,
        "format": row.format,
        "size": row.size,
        "linked_to": row.linked_to,
        "links": links,
        "upload_id": row.upload_id,
        "created_at": row.created_at,
        # A link record serves what it links to.
        "content_url": f"/v1/{kind}/{row.linked_to or row.id}/content",
    }


class Image(Committed):
    """A committed image: its facts, labels and links."""

    image_id: str

    @classmethod
    def of(cls, image: models.Image, links: list[str]) -> "Image":
        return cls(image_id=image.id, **committed_fields(image, links))


class NotDuplicate(Schema):
    """Two images (or videos) said not to be duplicates; `created` is false if that was known
    already."""

    image_ids: list[str] | None = omitted("the two images")
    video_ids: list[str] | None = omitted("the two videos")
    created: bool


class Block(Schema):
    """A blocklist entry, a picture or a video (its events carry the same)."""

    block_id: str
    collection: str
    media: Literal["image", "video"]
    image_id: str | None
    video_id: str | None = omitted("a blocked video's: the video it was blocked from, if any")
    filename: str | None
    sha256: str
    reason: str
    actor: str
    created_at: Timestamp

    @classmethod
    def of(cls, row: models.Block) -> "Block":
        return cls.model_validate(block_payload(row))
