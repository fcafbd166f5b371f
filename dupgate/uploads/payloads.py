"""An upload's decision as the API, the audit trail and the webhooks carry it (JSON-ready)."""

from typing import NotRequired, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.events.audit import iso
from dupgate.store.models import Image, Upload, Video
from dupgate.vocabulary import Outcome, Tier


class MatchPayload(TypedDict):
    """A match as an upload keeps it (JSON), and as the API and the webhooks show it: an image
    (`image_id`) or a video (`video_id`, with where the upload lies in it)."""

    image_id: NotRequired[str]
    video_id: NotRequired[str]
    collection: str | None  # None once the image is deleted
    external_id: str | None
    score: float
    tier: Tier
    offset_seconds: NotRequired[float | None]
    query_coverage: NotRequired[float | None]
    match_coverage: NotRequired[float | None]
    relation: NotRequired[str | None]


class DecisionPayload(TypedDict):
    """A decided upload's decision, as events carry it (the API shows the same fields)."""

    action: Outcome | None
    tier: Tier | None
    image_id: str | None  # an image upload's
    video_id: NotRequired[str | None]  # a video upload's
    matches: list[MatchPayload]
    reason: str | None
    policy_version: int | None
    reviewed_by: NotRequired[str | None]
    reviewed_at: NotRequired[str]


def decision_payload(upload: Upload) -> DecisionPayload:
    """A decided upload's decision, as its events carry it; a reviewed one says by whom."""
    payload: DecisionPayload = {
        "action": upload.action,
        "tier": upload.tier,
        "image_id": upload.image_id,
        "matches": upload.matches,
        "reason": upload.reason,
        "policy_version": upload.policy_version,
    }
    if upload.media == "video":
        payload["video_id"] = upload.video_id
    if upload.reviewed_at is not None:
        payload["reviewed_by"] = upload.reviewed_by
        payload["reviewed_at"] = iso(upload.reviewed_at)
    return payload


class UploadEventData(TypedDict):
    """The ids and the decision an `upload.decided` or `upload.reviewed` event carries."""

    upload_id: str
    collection: str
    external_id: str | None
    decision: DecisionPayload


def upload_event_data(upload: Upload) -> UploadEventData:
    """The ids and the decision an `upload.*` event carries."""
    return {
        "upload_id": upload.id,
        "collection": upload.collection,
        "external_id": upload.external_id,
        "decision": decision_payload(upload),
    }


def where_they_are(
    session: Session, model: type[Image] | type[Video], ids: list[str]
) -> dict[str, tuple[str, str | None]]:
    """The collection and external id of each of these images (or videos) that still exists."""
    rows = session.execute(
        select(model.id, model.collection, model.external_id).where(model.id.in_(ids))
    ).all()
    return {row_id: (collection, external_id) for row_id, collection, external_id in rows}
