"""Carrying out a decision: blob, image row, features and index change, in one transaction.

The caller owns the transaction. Blobs are written under keys that include the content hash
before the transaction commits, so a crash leaves at worst an unreferenced blob, never a row
that points at missing or different bytes; the staging blob is removed only after the commit.
"""

from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.models import Image, IndexChange, Upload, utcnow
from dupgate.policy import Decision
from dupgate.storage import BlobStore


def blob_key(image_id: str, sha256: str) -> str:
    """Where an image's content lives; a new key for new content makes overwrites safe."""
    return f"images/{image_id}/{sha256}"


def commit_decision(
    session: Session,
    store: BlobStore,
    upload: Upload,
    features: Features | None,
    decision: Decision,
) -> list[str]:
    """Record the decision on the upload and commit what it asks for (nothing for reject/hold).

    Returns the blob keys that are obsolete once the transaction has committed: the caller
    deletes them then, so that a rollback never loses content.
    """
    image_id: str | None = None
    obsolete: list[str] = []
    if decision.action == "accept":
        assert features is not None
        image_id = _add_image(session, store, upload, features)
    elif decision.action == "link":
        assert features is not None and decision.target is not None
        image_id = _link_image(session, upload, features, decision.target)
    elif decision.action == "overwrite":
        assert features is not None and decision.target is not None
        image_id, old_key = _overwrite_image(session, store, upload, features, decision.target)
        obsolete += [old_key] if old_key else []

    upload.status = "decided"
    upload.action = decision.outcome
    upload.tier = decision.tier
    upload.image_id = image_id
    upload.reason = decision.reason
    upload.decided_at = upload.updated_at = utcnow()
    # A held upload keeps its staged bytes for the person who reviews it.
    if decision.action != "hold" and upload.staging_key:
        obsolete.append(upload.staging_key)
        upload.staging_key = None
    return obsolete


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
    session.add(
        IndexChange(
            collection=upload.collection, image_id=image.id, op="add", sha256=features.sha256
        )
    )
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
    session.add(
        IndexChange(
            collection=image.collection, image_id=image.id, op="add", sha256=features.sha256
        )
    )
    return image.id, old_key if old_key != image.blob_key else None


def delete_image(session: Session, image: Image) -> list[str]:
    """Remove an image, and the link records that point at it, from the database and the index.

    Returns the blob keys to delete once the transaction has committed.
    """
    if image.linked_to is None:
        session.add(
            IndexChange(
                collection=image.collection, image_id=image.id, op="remove", sha256=image.sha256
            )
        )
    session.query(Image).filter(Image.linked_to == image.id).delete()
    keys = [image.blob_key] if image.blob_key else []
    session.delete(image)
    return keys
