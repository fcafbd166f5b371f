"""An upload's lease while a worker analyses it: claimed, extended, released, failed, requeued."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from dupgate.errors import NotFound
from dupgate.events.audit import SYSTEM, record_event
from dupgate.matching.policy import Policy
from dupgate.store.locking import lock_with_checked
from dupgate.store.models import Collection, Upload, utcnow
from dupgate.tenancy.collections import get_collection
from dupgate.uploads.payloads import upload_event_data
from dupgate.vocabulary import FINISHED, UploadStatus


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


def lock_undecided(session: Session, upload_id: str) -> tuple[Collection, Upload] | None:
    """Lock the upload's collection (and those it is checked against); the collection and the
    upload read again under the lock, or None when there is nothing left to decide.

    A redelivered task finds the upload decided and does nothing, also when both deliveries
    run at once: the status is read again after the lock is taken.
    """
    name = session.scalar(select(Upload.collection).where(Upload.id == upload_id))
    if name is None:
        return None
    collection = lock_with_checked(session, name)[name]
    upload = session.get(Upload, upload_id, populate_existing=True)
    if upload is None or upload.status in FINISHED:
        return None
    return collection, upload


def record_decided(
    session: Session, collection: Collection, upload: Upload, policy: Policy
) -> None:
    """Note the policy version the upload was decided under, and the `upload.decided` event."""
    upload.policy_version = policy.version
    record_event(
        session,
        "upload.decided",
        tenant=collection.tenant,
        actor=SYSTEM,
        collection=collection.name,
        data=upload_event_data(upload),
    )
