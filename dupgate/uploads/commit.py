"""Carrying out a decision: blob, image row, features and index change, in one transaction.

The caller owns the transaction. Blobs are written under keys that include the content hash
before the transaction commits, so a crash leaves at worst an unreferenced blob, never a row
that points at missing or different bytes; blobs a change makes obsolete (the staging blob,
an overwritten or deleted image's) are deleted only once the transaction has committed.
"""

from functools import partial
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.events.audit import record_event
from dupgate.matching.policy import Decision
from dupgate.store.blobs import BlobStore
from dupgate.store.models import Collection, Image, Upload, Video, utcnow
from dupgate.store.unit_of_work import after_commit
from dupgate.store.vectors import record_index_change
from dupgate.vocabulary import Action, UploadStatus


def blob_key(image_id: str, sha256: str) -> str:
    """Where an image's content lives; a new key for new content makes overwrites safe."""
    return f"images/{image_id}/{sha256}"


def commit_decision(
    session: Session,
    store: BlobStore,
    upload: Upload,
    features: Features | None,
    decision: Decision,
) -> None:
    """Record the decision on the upload and commit what it asks for (nothing for reject/hold)."""
    image_id: str | None = None
    obsolete: list[str] = []
    if decision.action == Action.ACCEPT:
        assert features is not None
        image_id = _add_image(session, store, upload, features)
    elif decision.action == Action.LINK:
        assert features is not None and decision.target is not None
        image_id = _link_image(session, upload, features, decision.target)
    elif decision.action == Action.OVERWRITE:
        assert features is not None and decision.target is not None
        image_id, old_key = _overwrite_image(session, store, upload, features, decision.target)
        obsolete += [old_key] if old_key else []

    upload.image_id = image_id
    record_outcome(session, store, upload, decision, obsolete)


def record_outcome(
    session: Session, store: BlobStore, upload: Upload, decision: Decision, obsolete: list[str]
) -> None:
    """Mark the upload decided as `decision` says, once its image or video is committed, and
    delete the blobs the commit made obsolete (and the staged bytes, unless it is held)."""
    upload.status = UploadStatus.DECIDED
    upload.action = decision.outcome
    upload.tier = decision.tier
    upload.reason = decision.reason
    upload.decided_at = upload.updated_at = utcnow()
    # A held upload keeps its staged bytes for the person who reviews it.
    if decision.action != Action.HOLD and upload.staging_key:
        obsolete.append(upload.staging_key)
        upload.staging_key = None
    delete_after_commit(session, store, obsolete)


def delete_after_commit(session: Session, store: BlobStore, keys: list[str]) -> None:
    """Delete these blobs once the transaction has committed, so a rollback never loses content."""
    for key in keys:
        after_commit(session, partial(store.delete, key))


def _new_image(upload: Upload, features: Features, image_id: str) -> Image:
    return Image(
        id=image_id,
        collection=upload.collection,
        upload_id=upload.id,
        sha256=features.sha256,
        external_id=upload.external_id,
        labels=upload.labels,
        filename=upload.filename,
        width=features.width,
        height=features.height,
        format=features.format,
        size=upload.size,
    )


def _add_image(session: Session, store: BlobStore, upload: Upload, features: Features) -> str:
    # The image takes the upload's id, so a retried commit writes to the same blob key.
    image = _new_image(upload, features, upload.id)
    image.blob_key = blob_key(image.id, features.sha256)
    assert upload.staging_key is not None
    store.copy(upload.staging_key, image.blob_key)
    session.add(image)
    _index_add(session, image, features)
    return image.id


def _link_image(session: Session, upload: Upload, features: Features, target: str) -> str:
    image = _new_image(upload, features, upload.id)
    image.linked_to = target
    session.add(image)
    return image.id


def _overwrite_image(
    session: Session, store: BlobStore, upload: Upload, features: Features, target: str
) -> tuple[str, str | None]:
    image = session.get(Image, target)
    assert image is not None, "the matched image is in the index, so it is committed"
    assert upload.staging_key is not None
    old_key = image.blob_key
    image.blob_key = blob_key(image.id, features.sha256)
    store.copy(upload.staging_key, image.blob_key)
    image.sha256 = features.sha256
    image.width, image.height, image.format = features.width, features.height, features.format
    image.size = upload.size
    image.updated_at = utcnow()
    _index_add(session, image, features)
    return image.id, old_key if old_key != image.blob_key else None


def _index_add(session: Session, image: Image, features: Features) -> None:
    record_index_change(
        session,
        collection=image.collection,
        image_id=image.id,
        op="add",
        sha256=features.sha256,
        vector=(features.phash, features.embedding),
    )


def _index_remove(session: Session, image: Image) -> None:
    """Take an image out of its collection's index (a link record is in none)."""
    if image.linked_to is None:
        record_index_change(
            session,
            collection=image.collection,
            image_id=image.id,
            op="remove",
            sha256=image.sha256,
        )


def delete_image(session: Session, store: BlobStore, image: Image, actor: str) -> None:
    """Remove an image, and the link records that point at it, from storage, database and index.

    Its features stay (they are keyed by content and may be shared, or blocked).
    """
    _index_remove(session, image)
    links = list(session.scalars(select(Image.id).where(Image.linked_to == image.id)))
    session.execute(delete(Image).where(Image.linked_to == image.id))
    keys = [image.blob_key] if image.blob_key else []
    committed_event(session, "image.deleted", image, actor, links_deleted=links)
    session.delete(image)
    delete_after_commit(session, store, keys)


def link_existing(
    session: Session, store: BlobStore, image: Image, target: Image, actor: str
) -> None:
    """Turn a committed image into a link record pointing at `target`, as a `link` decision
    would have made it: its blob goes, it leaves the index, and links to it follow it. A link
    record is pointed at `target` instead.
    """
    assert target.linked_to is None and image.id != target.id
    _index_remove(session, image)
    session.execute(update(Image).where(Image.linked_to == image.id).values(linked_to=target.id))
    keys = [image.blob_key] if image.blob_key else []
    image.linked_to, image.blob_key = target.id, None
    image.updated_at = utcnow()
    committed_event(session, "image.linked", image, actor, linked_to=target.id)
    delete_after_commit(session, store, keys)


def committed_event(
    session: Session, type: str, row: Image | Video, actor: str, **data: Any
) -> None:
    """Record an event about a committed image or video, naming it as its kind does."""
    collection = session.get_one(Collection, row.collection)
    record_event(
        session,
        type,
        tenant=collection.tenant,
        actor=actor,
        collection=row.collection,
        data={
            "video_id" if isinstance(row, Video) else "image_id": row.id,
            "collection": row.collection,
            "external_id": row.external_id,
            **data,
        },
    )
