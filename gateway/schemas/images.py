"""Committed images, "not a duplicate" verdicts, and blocklist entries."""

from typing import Literal

from dupgate.curation.blocklist import block_payload
from dupgate.gateway.schemas.common import Schema, Timestamp, omitted
from dupgate.store import models


class Image(Schema):
    """A committed image: its facts, labels and links."""

    image_id: str
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

    @classmethod
    def of(cls, image: models.Image, links: list[str]) -> "Image":
        return cls(
            image_id=image.id,
            collection=image.collection,
            external_id=image.external_id,
            labels=image.labels,
            filename=image.filename,
            sha256=image.sha256,
            width=image.width,
            height=image.height,
            format=image.format,
            size=image.size,
            linked_to=image.linked_to,
            links=links,
            upload_id=image.upload_id,
            created_at=image.created_at,
            # A link record serves the image it links to.
            content_url=f"/v1/images/{image.linked_to or image.id}/content",
        )


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
