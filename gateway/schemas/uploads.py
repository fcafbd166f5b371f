"""Uploads, their decisions and matches, and the answer of a check."""

from typing import Literal, Self

from dupgate.gateway.schemas.common import Schema, Timestamp, omitted
from dupgate.store import models
from dupgate.uploads.payloads import decision_payload
from dupgate.vocabulary import Outcome, Tier, UploadStatus


class Match(Schema):
    """An image or a video the upload duplicates."""

    image_id: str | None = omitted("the matched image")
    video_id: str | None = omitted("the matched video")
    # None once the image is deleted (and on uploads decided before matches named it).
    collection: str | None = None
    external_id: str | None
    score: float
    tier: Tier
    offset_seconds: float | None = omitted(
        "a video's: where the upload starts in it (an image: the second of the frame it is)"
    )
    query_coverage: float | None = omitted(
        "a video's: the share of the upload's sampled seconds that matched it"
    )
    match_coverage: float | None = omitted(
        "a video's: the share of its sampled seconds that matched the upload"
    )
    relation: Literal["same", "upload_within_match", "match_within_upload"] | None = omitted(
        "a video's: the same video, the upload is a clip of it, or it is a clip of the upload"
    )


class Decision(Schema):
    """What was done with a decided upload (webhooks' `upload.*` events carry the same)."""

    action: Outcome
    tier: Tier
    image_id: str | None
    video_id: str | None = omitted("a video upload's video, once one is committed")
    matches: list[Match]
    reason: str | None
    policy_version: int | None
    reviewed_by: str | None = omitted("who completed the held upload, once reviewed")
    reviewed_at: Timestamp | None = omitted("when, once reviewed")

    @classmethod
    def of(cls, upload: models.Upload) -> "Decision":
        return cls.model_validate(decision_payload(upload))


class Upload(Schema):
    """An upload: its status, and once decided its decision (once failed, why)."""

    upload_id: str
    collection: str
    status: UploadStatus
    external_id: str | None
    created_at: Timestamp
    decision: Decision | None = omitted("once decided")
    reason: str | None = omitted("once failed: why")

    @classmethod
    def of(cls, upload: models.Upload, **more: object) -> Self:
        """The upload as shown; `more` are the fields a subclass adds."""
        decided, failed = (
            upload.status == UploadStatus.DECIDED,
            upload.status == UploadStatus.FAILED,
        )
        return cls(
            upload_id=upload.id,
            collection=upload.collection,
            status=upload.status,
            external_id=upload.external_id,
            created_at=upload.created_at,
            decision=Decision.of(upload) if decided else None,
            reason=upload.reason if failed else None,
            **more,
        )


class HeldUpload(Upload):
    """An upload waiting for review, with where its bytes are."""

    content_url: str

    @classmethod
    def held(cls, upload: models.Upload) -> "HeldUpload":
        return cls.of(upload, content_url=f"/v1/uploads/{upload.id}/content")


class UploadAccepted(Schema):
    """An upload taken in: poll its decision at its `Location`."""

    upload_id: str
    status: UploadStatus


class BlockedMatch(Schema):
    """The blocklist entry a checked image matches."""

    block_id: str
    reason: str
    score: float
    tier: Tier


class CheckResult(Schema):
    """What an upload of the image would match, without committing anything."""

    tier: Tier
    score: float
    matches: list[Match]
    blocked: BlockedMatch | None = omitted("the blocklist entry it matches, if any")
