"""Committed videos."""

from dupgate.gateway.schemas.images import Committed, committed_fields
from dupgate.store import models


class Video(Committed):
    """A committed video: its facts, labels and links."""

    video_id: str
    duration: float

    @classmethod
    def of(cls, video: models.Video, links: list[str]) -> "Video":
        return cls(video_id=video.id, duration=video.duration, **committed_fields(video, links))
