"""An upload's life: created by the gateway, analysed once, matched, decided and committed.

Each function works inside a transaction its caller owns; dupgate/pipeline.py strings them
together so that analysis runs outside any transaction and only the match, decision and commit
run under the collection lock.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NotRequired, TypedDict

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.analysis import Features, InvalidImage
from dupgate.blocklist import blocked_match
from dupgate.collections import get_collection, policy_of
from dupgate.commit import commit_decision
from dupgate.errors import NotFound
from dupgate.events import SYSTEM, iso, record_event
from dupgate.index_registry import IndexRegistry
from dupgate.keys import Caller, Forbidden
from dupgate.locking import lock_with_checked
from dupgate.matching.find import Match, find_matches
from dupgate.models import BlockedImage, Collection, Image, ImageFeatures, Upload, utcnow
from dupgate.not_duplicates import not_duplicates_of
from dupgate.policy import BlockedMatch, decide, invalid_image
from dupgate.storage import BlobStore
from dupgate.vocabulary import FINISHED, Outcome, Scope, Tier, UploadStatus


class IdempotencyConflict(ValueError):
    """The Idempotency-Key was used before with a different body."""


class UnknownUpload(NotFound):
    """No upload by that id that the caller may see."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"no upload with id {upload_id}")


@dataclass(frozen=True)
class NewUpload:
    """What the gateway knows once the body is staged."""

    collection: str
    staging_key: str
    sha256: str
    size: int
    filename: str | None = None
    external_id: str | None = None
    labels: tuple[str, ...] = ()
    idempotency_key: str | None = None
    key_id: str | None = None  # the API key that sent it


def new_upload_id() -> str:
    """A fresh upload id (the staging key is derived from it)."""
    return str(uuid.uuid4())


def create_upload(session: Session, upload_id: str, new: NewUpload) -> tuple[Upload, bool]:
    """Record a queued upload; with a known Idempotency-Key, return the earlier one instead.

    Returns the upload and whether it was created now (only then must it be enqueued).
    """
    get_collection(session, new.collection)
    if new.idempotency_key is not None:
        earlier = session.scalar(
            select(Upload).where(
                Upload.collection == new.collection, Upload.idempotency_key == new.idempotency_key
            )
        )
        if earlier is not None:
            if earlier.sha256 != new.sha256:
                raise IdempotencyConflict(
                    f"Idempotency-Key {new.idempotency_key!r} was used for a different file "
                    f"(upload {earlier.id}); use a new key for a new file"
                )
            return earlier, False
    upload = Upload(
        id=upload_id,
        collection=new.collection,
        status=UploadStatus.QUEUED,
        sha256=new.sha256,
        size=new.size,
        filename=new.filename,
        external_id=new.external_id,
        labels=list(new.labels),
        idempotency_key=new.idempotency_key,
        staging_key=new.staging_key,
        attempts=0,
        key_id=new.key_id,
        matches=[],
    )
    session.add(upload)
    # Now, not at commit: a concurrent upload with the same key fails here, where the caller
    # can roll back and find it.
    session.flush()
    return upload, True


def begin_processing(
    session: Session,
    upload_id: str,
    max_attempts: int,
    *,
    owner: str | None = None,
    lease: timedelta = timedelta(seconds=30),
    now: datetime | None = None,
) -> Upload | None:
    """Take the upload for the worker run `owner` until `now + lease`, counting an attempt;
    None if there is nothing to do.

    Nothing to do: it is decided or failed, or another run holds an unexpired lease on it (a
    redelivered message while the first delivery still works). The same run taking it again
    (it retries after a transient fault) is not another attempt. An upload whose attempts are
    used up (its worker kept dying) ends `failed` here.
    """
    now = now or utcnow()
    upload = session.get(Upload, upload_id, with_for_update=True)
    if upload is None or upload.status in FINISHED:
        return None
    processing = upload.status == UploadStatus.PROCESSING
    retaken = processing and owner is not None and upload.lease_owner == owner
    held = upload.lease_until is not None and upload.lease_until > now
    if processing and not retaken and held:
        return None
    if not retaken:
        if upload.attempts >= max_attempts:
            fail_upload(
                session,
                upload,
                f"processing_failed: gave up after {upload.attempts} attempts "
                "(the worker crashed or timed out each time)",
            )
            return None
        upload.attempts += 1
    upload.status = UploadStatus.PROCESSING
    upload.lease_owner = owner or str(uuid.uuid4())
    upload.lease_until = now + lease
    upload.updated_at = now
    return upload


def extend_lease(session: Session, upload_id: str, owner: str, lease: timedelta) -> bool:
    """Keep holding an upload being processed; False if the run `owner` no longer holds it."""
    now = utcnow()
    held = session.execute(
        update(Upload)
        .where(
            Upload.id == upload_id,
            Upload.status == UploadStatus.PROCESSING,
            Upload.lease_owner == owner,
        )
        .values(lease_until=now + lease)
    )
    return bool(held.rowcount)  # type: ignore[attr-defined]


def release_upload(session: Session, upload_id: str, owner: str, requeue_after: timedelta) -> None:
    """Give back an upload a run could not finish for a transient fault (a full disk, say).

    It is queued again, to be enqueued after `requeue_after`, and the run is not counted as an
    attempt: attempts count runs that died, not outages.
    """
    upload = session.get(Upload, upload_id, with_for_update=True)
    if upload is None or upload.status != UploadStatus.PROCESSING or upload.lease_owner != owner:
        return
    upload.status = UploadStatus.QUEUED
    upload.attempts = max(0, upload.attempts - 1)
    upload.lease_owner = None
    upload.lease_until = utcnow() + requeue_after


def fail_upload(session: Session, upload: Upload, reason: str) -> None:
    """End the upload as `failed` with a reason the user can read, and say so in the trail."""
    upload.status = UploadStatus.FAILED
    upload.reason = reason
    upload.updated_at = upload.decided_at = utcnow()
    collection = get_collection(session, upload.collection)
    record_event(
        session,
        "upload.failed",
        tenant=collection.tenant,
        actor=SYSTEM,
        collection=upload.collection,
        data={"upload_id": upload.id, "external_id": upload.external_id, "reason": reason},
    )


def stored_features(
    session: Session, sha256: str, version: int, *, tenant: str, upload_id: str | None = None
) -> Features | None:
    """The features already computed for these bytes, if the tenant holds them already.

    Features are stored once per bytes, but reused only within the tenant that sent them: bytes
    only another tenant holds are analysed afresh, so how fast an answer comes says nothing of
    what other tenants hold (a reused analysis answers in a tenth of the time).
    """
    if not tenant_holds(session, tenant, sha256, other_than=upload_id):
        return None
    row = session.get(ImageFeatures, sha256)
    if row is None or row.version != version:
        return None
    return Features.from_bytes(row.data)


def tenant_holds(
    session: Session, tenant: str, sha256: str, *, other_than: str | None = None
) -> bool:
    """Whether the tenant has these bytes: an image, a block or a decided upload of its own."""
    collections = select(Collection.name).where(Collection.tenant == tenant)
    held = [
        select(Image.id).where(Image.sha256 == sha256, Image.collection.in_(collections)),
        select(BlockedImage.id).where(
            BlockedImage.sha256 == sha256, BlockedImage.collection.in_(collections)
        ),
        select(Upload.id).where(
            Upload.sha256 == sha256,
            Upload.status == UploadStatus.DECIDED,
            Upload.collection.in_(collections),
            Upload.id != (other_than or ""),
        ),
    ]
    return any(session.execute(query.limit(1)).first() is not None for query in held)


def save_features(session: Session, features: Features) -> None:
    """Store an image's features under the SHA-256 of its bytes (a no-op if already there)."""
    try:
        with session.begin_nested():
            session.merge(
                ImageFeatures(
                    sha256=features.sha256, version=features.version, data=features.to_bytes()
                )
            )
    except IntegrityError:
        pass  # another worker stored the same bytes' features first: same values


@dataclass(frozen=True)
class Found:
    """What an image duplicates: committed images (best first) and any blocklist entry."""

    matches: list[Match]
    blocked: BlockedMatch | None


def find_duplicates(
    session: Session, registry: IndexRegistry, collection: Collection, features: Features
) -> Found:
    """The images of the collection, and of those it is checked against, that `features` duplicates.

    Pairs a person said are not duplicates are left out; the blocklists of the same
    collections are searched too.
    """
    policy = policy_of(collection)
    names = [collection.name, *policy.check_against]
    excluded = not_duplicates_of(session, collection.tenant, features.sha256)
    matches: list[Match] = []
    for name in names:
        index = registry.synced(session, name)
        candidates = [
            (entry.image_id, entry.features)
            for entry in index.candidates(features)
            if entry.features.sha256 not in excluded
        ]
        matches += find_matches(features, candidates, policy.exact_threshold, policy.near_threshold)
    matches.sort(key=lambda m: (-m.score, m.image_id))
    blocked = blocked_match(session, registry, names, features, policy, excluded)
    return Found(matches, blocked)


def decide_upload(
    session: Session,
    store: BlobStore,
    registry: IndexRegistry,
    upload_id: str,
    features: Features | InvalidImage,
) -> None:
    """Under the collection lock: match, decide and commit once.

    A redelivered task finds the upload decided and does nothing, also when both deliveries
    run at once: the status is read again after the lock is taken. The collections the upload
    is checked against are locked too, so that nothing is committed to them meanwhile.
    """
    name = session.scalar(select(Upload.collection).where(Upload.id == upload_id))
    if name is None:
        return
    collection = lock_with_checked(session, name)[name]
    upload = session.get(Upload, upload_id, populate_existing=True)
    if upload is None or upload.status in FINISHED:
        return
    policy = policy_of(collection)
    if isinstance(features, InvalidImage):
        decision = invalid_image(features.reason, features.message)
        commit_decision(session, store, upload, None, decision)
    else:
        found = find_duplicates(session, registry, collection, features)
        decision = decide(found.matches, policy, found.blocked)
        commit_decision(session, store, upload, features, decision)
        upload.matches = describe_matches(session, found.matches)
    upload.policy_version = policy.version
    record_event(
        session,
        "upload.decided",
        tenant=collection.tenant,
        actor=SYSTEM,
        collection=name,
        data=upload_event_data(upload),
    )


class MatchPayload(TypedDict):
    """A match as an upload keeps it (JSON), and as the API and the webhooks show it."""

    image_id: str
    collection: str | None  # None once the image is deleted
    external_id: str | None
    score: float
    tier: Tier


def describe_matches(session: Session, matches: list[Match]) -> list[MatchPayload]:
    """Matches as JSON-ready dicts, with each image's collection and external id."""
    ids = [m.image_id for m in matches]
    rows = session.execute(
        select(Image.id, Image.collection, Image.external_id).where(Image.id.in_(ids))
    ).all()
    known = {image_id: (collection, external_id) for image_id, collection, external_id in rows}
    return [
        {
            "image_id": m.image_id,
            "collection": known.get(m.image_id, (None, None))[0],
            "external_id": known.get(m.image_id, (None, None))[1],
            "score": m.score,
            "tier": m.tier,
        }
        for m in matches
    ]


class DecisionPayload(TypedDict):
    """A decided upload's decision, as events carry it (the API shows the same fields)."""

    action: Outcome | None
    tier: Tier | None
    image_id: str | None
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


def visible_upload(session: Session, caller: Caller, upload_id: str) -> Upload:
    """The upload if the caller may read it: UnknownUpload for another tenant's, Forbidden to an
    `upload` key for another key's."""
    found = with_tenant(session, upload_id)
    if found is None:
        raise UnknownUpload(upload_id)
    upload, tenant = found
    require_visible(caller, upload_id, tenant, upload.key_id)
    return upload


class NoStagedBytes(NotFound):
    """The upload keeps no bytes of its own: it was committed (or refused) since."""


def staged_bytes(upload: Upload) -> str:
    """The key of the bytes an uncommitted upload keeps (one held for review, say)."""
    if upload.staging_key is None:
        raise NoStagedBytes(
            f"upload {upload.id} keeps no bytes of its own: it is {upload.action or upload.status}"
            + (f"; see /v1/images/{upload.image_id}/content" if upload.image_id else "")
        )
    return upload.staging_key


def with_tenant(session: Session, upload_id: str) -> tuple[Upload, str] | None:
    """The upload and the tenant of its collection, or None if there is no such upload."""
    upload = session.get(Upload, upload_id)
    collection = session.get(Collection, upload.collection) if upload else None
    if upload is None or collection is None:
        return None
    return upload, collection.tenant


def require_visible(caller: Caller, upload_id: str, tenant: str, key_id: str | None) -> None:
    """Whether the caller may read an upload of `tenant` sent by `key_id`: UnknownUpload for
    another tenant's; an `upload` key reads only what it sent (Forbidden), a `read` key all."""
    if not caller.sees(tenant):
        raise UnknownUpload(upload_id)
    own = caller.can(Scope.UPLOAD) and key_id is not None and key_id == caller.key_id
    if not (caller.can(Scope.READ) or own):
        raise Forbidden(
            "this API key may read only the uploads it sent (the 'read' scope reads all)"
        )


def requeue_lost_uploads(
    session: Session, queued_after: timedelta, now: datetime | None = None
) -> list[str]:
    """Uploads no worker holds although one should: returns their ids, to be enqueued again.

    Those `processing` whose lease ran out (their worker died, or its host) and those `queued`
    for `queued_after` without a worker taking them (their message was lost, e.g. with a
    restarted broker). Each is marked `queued` again, not to be found again before
    `queued_after` has passed, so that a backlog is not enqueued again at every sweep.
    """
    now = now or utcnow()
    expired = or_(
        Upload.lease_until < now,
        and_(Upload.lease_until.is_(None), Upload.updated_at < now - queued_after),
    )
    lost = list(
        session.scalars(
            select(Upload)
            .where(Upload.status.in_((UploadStatus.QUEUED, UploadStatus.PROCESSING)), expired)
            .with_for_update(skip_locked=True)
        )
    )
    for upload in lost:
        upload.status = UploadStatus.QUEUED
        upload.lease_owner = None
        upload.lease_until = now + queued_after
    return [upload.id for upload in lost]
