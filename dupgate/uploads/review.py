"""The review queue: uploads a policy held, completed by a person through the same commit path."""

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from dupgate.analysis import Features
from dupgate.analysis.video import VideoFeatures
from dupgate.curation.not_duplicates import mark_not_duplicate
from dupgate.events.audit import record_event
from dupgate.matching.policy import Decision
from dupgate.store.blobs import BlobStore
from dupgate.store.locking import lock_with_checked
from dupgate.store.models import (
    Image,
    ImageFeatures,
    Upload,
    Video,
    VideoFeaturesRow,
    utcnow,
)
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.tenancy.collections import policy_of
from dupgate.tenancy.keys import Caller
from dupgate.uploads.duplicates import commit_upload
from dupgate.uploads.payloads import upload_event_data
from dupgate.uploads.videos import load_video_features
from dupgate.vocabulary import REVIEW_ACTIONS, Action, Outcome, Tier, listing, outcome_of, parse

# The review queue's order: oldest first.
HELD = Order(Upload.created_at, Upload.id)


class NotReviewable(ValueError):
    """The upload is not waiting for review (not held, or reviewed already)."""


class InvalidReview(ValueError):
    """A review that cannot be carried out as asked; the message says why."""


@dataclass(frozen=True)
class Review:
    """What a person decided for a held upload."""

    action: str  # one of REVIEW_ACTIONS (anything else is refused with InvalidReview)
    # The image (for a video upload: the video) to link to or overwrite; the upload's best
    # match of its own kind when None.
    target: str | None = None
    # With accept: the upload is not a duplicate of any of its matches, and is never flagged
    # against those pictures (or videos) again.
    not_duplicate: bool = False


def held_uploads(
    session: Session, collection: str, *, after: Key | None = None, limit: int = 100
) -> Slice[Upload]:
    """A page of the collection's uploads waiting for review, oldest first."""
    query = select(Upload).where(*_held(collection))
    return read_page(session, query, HELD, after, limit)


def _held(collection: str) -> list[ColumnElement[bool]]:
    return [
        Upload.collection == collection,
        Upload.action == Outcome.HELD,
        Upload.reviewed_at.is_(None),
    ]


def held_count(session: Session, collection: str) -> int:
    """How many of the collection's uploads wait for review."""
    return session.scalar(select(func.count()).select_from(Upload).where(*_held(collection))) or 0


def held_neighbours(session: Session, upload: Upload) -> tuple[str | None, str | None]:
    """The held uploads just before and just after `upload` in the queue's order (ids)."""
    at = (upload.created_at, upload.id)
    before = or_(Upload.created_at < at[0], and_(Upload.created_at == at[0], Upload.id < at[1]))
    previous = session.scalar(
        select(Upload.id)
        .where(*_held(upload.collection), before)
        .order_by(Upload.created_at.desc(), Upload.id.desc())
        .limit(1)
    )
    following = held_uploads(session, upload.collection, after=at, limit=1).rows
    return previous, following[0].id if following else None


def review_upload(
    session: Session, store: BlobStore, upload_id: str, review: Review, caller: Caller
) -> None:
    """Complete a held upload as the reviewer says."""
    action = parse(Action, review.action)
    if action not in REVIEW_ACTIONS or action is None:
        raise InvalidReview(
            f"a review action is one of {listing(REVIEW_ACTIONS)}, not {review.action!r}"
        )
    if review.not_duplicate and action != Action.ACCEPT:
        raise InvalidReview("not_duplicate goes with accept: a duplicate is linked or rejected")
    name = session.scalar(select(Upload.collection).where(Upload.id == upload_id))
    assert name is not None, "the caller found the upload"
    # A link may go to an image of a checked collection: lock those too, so that the image
    # cannot be deleted between reading it and committing the link.
    collection = lock_with_checked(session, name)[name]
    upload = session.get(Upload, upload_id, populate_existing=True)
    assert upload is not None
    if upload.action != Outcome.HELD or upload.reviewed_at is not None:
        state = upload.action or upload.status
        raise NotReviewable(f"upload {upload_id} is not waiting for review: it is {state}")
    target = None
    if action in (Action.LINK, Action.OVERWRITE):
        target = _target(
            session, upload, action, review.target, policy_of(collection).check_against
        )

    held_because = upload.reason
    decision = Decision(
        action,
        upload.tier or Tier.UNIQUE,
        (),
        f"reviewed by {caller.actor}: {outcome_of(action)} (held because: {held_because})",
        target=target,
    )
    commit_upload(session, store, upload, _stored_analysis(session, upload), decision)
    upload.reviewed_by = caller.actor
    upload.reviewed_at = utcnow()
    not_duplicate_of = []
    if review.not_duplicate:
        not_duplicate_of = _mark_matches(session, collection.tenant, upload, caller)
    record_event(
        session,
        "upload.reviewed",
        tenant=collection.tenant,
        actor=caller.actor,
        collection=name,
        data={**upload_event_data(upload), "not_duplicate_of": not_duplicate_of},
    )


def _stored_analysis(session: Session, upload: Upload) -> Features | VideoFeatures:
    """The analysis of a held upload's bytes, stored when it was decided."""
    if upload.media == "video":
        header = session.get(VideoFeaturesRow, upload.sha256)
        assert header is not None, "a held upload was analysed"
        return load_video_features(session, header.data)
    row = session.get(ImageFeatures, upload.sha256)
    assert row is not None, "a held upload was analysed"
    return Features.from_bytes(row.data)


def _target(
    session: Session, upload: Upload, action: Action, chosen: str | None, others: tuple[str, ...]
) -> str:
    # The best match of the upload's own kind: an image is linked to an image, a video to a
    # video, never one to the other.
    key = f"{upload.media}_id"
    best = next((m[key] for m in upload.matches if key in m), None)
    target_id = chosen or best
    if target_id is None:
        raise InvalidReview(f"say which {upload.media} to {action}: the upload matched none")
    found: Image | Video | None = (
        session.get(Video, target_id) if upload.media == "video" else session.get(Image, target_id)
    )
    allowed = (upload.collection,) if action == Action.OVERWRITE else (upload.collection, *others)
    if found is None or found.collection not in allowed:
        where = " or ".join(repr(c) for c in allowed)
        raise InvalidReview(f"there is no {upload.media} {target_id} in collection {where}")
    # A link record has no content of its own: act on the one it links to.
    return found.linked_to or found.id


def _mark_matches(session: Session, tenant: str, upload: Upload, caller: Caller) -> list[str]:
    """Remember each matched image and video as not a duplicate of the upload; their ids."""
    marked: list[str] = []
    rows: tuple[type[Image] | type[Video], ...] = (Image, Video)
    for row in rows:
        key = "video_id" if row is Video else "image_id"
        ids = [m[key] for m in upload.matches if key in m]
        found = session.execute(select(row.id, row.sha256).where(row.id.in_(ids)))
        for matched_id, sha256 in found:
            if sha256 != upload.sha256:
                mark_not_duplicate(session, tenant, upload.sha256, sha256, caller.actor)
            marked.append(matched_id)
    return sorted(marked)
