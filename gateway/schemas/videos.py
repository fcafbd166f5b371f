"""Committed videos."""

from dupgate.gateway.schemas.common import Schema, Timestamp
from dupgate.store import models


class Video(Schema):
    """A committed video: its facts, labels and links."""

    video_id: str
    collection: str
    external_id: str | None
    labels: list[str]
    filename: str | None
    sha256: str
    width: int
    height: int
    duration: float
    format: str
    size: int
    linked_to: str | None
    links: list[str]
    upload_id: str | None
    created_at: Timestamp
    content_url: str

    @classmethod
    def of(cls, video: models.Video, links: list[str]) -> "Video":
        return cls(
            video_id=video.id,
            collection=video.collection,
            external_id=video.external_id,
            labels=video.labels,
            filename=video.filename,
            sha256=video.sha256,
            width=video.width,
            height=video.height,
            duration=video.duration,
            format=video.format,
            size=video.size,
            linked_to=video.linked_to,
            links=links,
            upload_id=video.upload_id,
            created_at=video.created_at,
            # A link record serves the video it links to.
            content_url=f"/v1/videos/{video.linked_to or video.id}/content",
        )
