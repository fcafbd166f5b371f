"""The blocklist: pictures a collection refuses, whatever its policy says.

A blocked picture keeps only its features (never its content), so its copies are still refused
after the image it came from is deleted: this is how a site refuses re-uploads of images it took
down. Entries live in the collection's "blocked" index, kept by the same change log as images.
"""

import uuid
from collections.abc import Iterable
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.errors import NotFound
from dupgate.events.audit import iso, record_event
from dupgate.matching.find import find_matches
from dupgate.matching.policy import BlockedMatch, Policy
from dupgate.matching.registry import IndexRegistry
from dupgate.store.models import BlockedImage, Collection, Image, ImageFeatures
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.store.vectors import record_index_change
from dupgate.tenancy.keys import Caller


class InvalidBlock(ValueError):
    """A block request that cannot be carried out; the message says why."""


class UnknownBlock(NotFound):
    """No blocklist entry by that id in the collection."""

    code = "unknown_block"


# The blocklist's order: oldest first.
BLOCKLIST = Order(BlockedImage.created_at, BlockedImage.id)


def block_image(session: Session, image: Image, reason: str, caller: Caller) -> BlockedImage:
    """Block the picture of a committed image in its collection (again: the existing entry)."""
    tenant = _tenant(session, image.collection)
    return _block(session, tenant, image.collection, image.sha256, reason, caller, image=image)


def block_file(
    session: Session,
    collection: Collection,
    features: Features,
    filename: str | None,
    reason: str,
    caller: Caller,
) -> BlockedImage:
    """Block a picture given as a file; its features must be saved (dupgate.uploads)."""
    return _block(
        session, collection.tenant, collection.name, features.sha256, reason, caller, filename
    )


def _block(
    session: Session,
    tenant: str,
    collection: str,
    sha256: str,
    reason: str,
    caller: Caller,
    filename: str | None = None,
    image: Image | None = None,
) -> BlockedImage:
    reason = reason.strip()
    if not reason:
        raise InvalidBlock("say why the picture is blocked: `reason` must not be empty")
    existing = session.scalar(
        select(BlockedImage).where(
            BlockedImage.collection == collection, BlockedImage.sha256 == sha256
        )
    )
    if existing is not None:
        return existing
    row = BlockedImage(
        id=str(uuid.uuid4()),
        collection=collection,
        sha256=sha256,
        image_id=image.id if image else None,
        filename=image.filename if image else filename,
        reason=reason,
        actor=caller.actor,
    )
    session.add(row)
    stored = session.get(ImageFeatures, sha256)
    assert stored is not None, "a blocked picture's features are stored first"
    features = Features.from_bytes(stored.data)
    record_index_change(
        session,
        collection=collection,
        kind="blocked",
        image_id=row.id,
        op="add",
        sha256=sha256,
        vector=(features.phash, features.embedding),
    )
    session.flush()
    record_event(
        session,
        "image.blocked" if image else "file.blocked",
        tenant=tenant,
        actor=caller.actor,
        collection=collection,
        data=block_payload(row),
    )
    return row


def unblock(session: Session, collection: Collection, block_id: str, caller: Caller) -> None:
    """Remove an entry from the collection's blocklist."""
    row = session.get(BlockedImage, block_id)
    if row is None or row.collection != collection.name:
        raise UnknownBlock(f"collection {collection.name!r} has no blocklist entry {block_id}")
    record_index_change(
        session,
        collection=row.collection,
        kind="blocked",
        image_id=row.id,
        op="remove",
        sha256=None,
    )
    record_event(
        session,
        "block.removed",
        tenant=collection.tenant,
        actor=caller.actor,
        collection=collection.name,
        data=block_payload(row),
    )
    session.delete(row)


def blocklist(
    session: Session, collection: str, *, after: Key | None = None, limit: int = 100
) -> Slice[BlockedImage]:
    """A page of the collection's blocklist, oldest first."""
    query = select(BlockedImage).where(BlockedImage.collection == collection)
    return read_page(session, query, BLOCKLIST, after, limit)


def blocked_match(
    session: Session,
    registry: IndexRegistry,
    collections: Iterable[str],
    features: Features,
    policy: Policy,
    excluded: set[str],
) -> BlockedMatch | None:
    """The best blocklist entry of these collections that `features` duplicates at either tier."""
    best = None
    for name in collections:
        index = registry.synced(session, name, "blocked")
        candidates = [
            (entry.image_id, entry.features)
            for entry in index.candidates(features)
            if entry.features.sha256 not in excluded
        ]
        found = find_matches(features, candidates, policy.exact_threshold, policy.near_threshold)
        if found and (best is None or found[0].score > best.score):
            best = found[0]
    if best is None:
        return None
    row = session.get(BlockedImage, best.image_id)
    assert row is not None, "the blocked index holds only committed entries"
    return BlockedMatch(row.id, row.reason, best.score, best.tier, row.image_id)


class BlockPayload(TypedDict):
    """A blocklist entry, as its events carry it (the API shows the same fields)."""

    block_id: str
    collection: str
    image_id: str | None
    filename: str | None
    sha256: str
    reason: str
    actor: str
    created_at: str


def block_payload(row: BlockedImage) -> BlockPayload:
    """A blocklist entry, as its events carry it."""
    return {
        "block_id": row.id,
        "collection": row.collection,
        "image_id": row.image_id,
        "filename": row.filename,
        "sha256": row.sha256,
        "reason": row.reason,
        "actor": row.actor,
        "created_at": iso(row.created_at),
    }


def _tenant(session: Session, collection: str) -> str:
    row = session.get(Collection, collection)
    assert row is not None
    return row.tenant
