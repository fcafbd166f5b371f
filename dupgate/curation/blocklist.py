"""The blocklist: pictures and videos a collection refuses, whatever its policy says.

A blocked picture or video keeps only its features (never its content), so its copies are still
refused after what it came from is deleted: this is how a site refuses re-uploads of what it
took down. Pictures live in the collection's "blocked" index, videos' kept frames in its
"blocked_frames" index, kept by the same change log as images; a video's copies are found by
the same matching as its duplicates. An entry refuses uploads of its own kind: a still taken
from a blocked video is matched against the committed videos only.
"""

import uuid
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from typing import NotRequired, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.analysis.video import VideoFeatures
from dupgate.errors import NotFound
from dupgate.events.audit import iso, record_event
from dupgate.matching.find import Match, find_matches
from dupgate.matching.policy import BlockedMatch, Policy
from dupgate.matching.registry import IndexRegistry
from dupgate.store.models import Block, Collection, Image, ImageFeatures, Video, VideoFeaturesRow
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.store.vectors import record_index_change
from dupgate.tenancy.keys import Caller
from dupgate.uploads.videos import (
    BLOCKED_FRAMES,
    copies_among,
    index_frames,
    load_video_features,
    unindex_frames,
)


class InvalidBlock(ValueError):
    """A block request that cannot be carried out; the message says why."""


class UnknownBlock(NotFound):
    """No blocklist entry by that id in the collection."""

    code = "unknown_block"


# The blocklist's order: oldest first.
BLOCKLIST = Order(Block.created_at, Block.id)


def block_image(session: Session, image: Image, reason: str, caller: Caller) -> Block:
    """Block the picture of a committed image in its collection (again: the existing entry)."""
    tenant = _tenant(session, image.collection)
    return _block(
        session, tenant, image.collection, "image", image.sha256, reason, caller, image=image
    )


def block_video(session: Session, video: Video, reason: str, caller: Caller) -> Block:
    """Block a committed video in its collection (again: the existing entry)."""
    tenant = _tenant(session, video.collection)
    return _block(
        session, tenant, video.collection, "video", video.sha256, reason, caller, video=video
    )


def block_file(
    session: Session,
    collection: Collection,
    features: Features | VideoFeatures,
    filename: str | None,
    reason: str,
    caller: Caller,
) -> Block:
    """Block a picture or a video given as a file; its analysis must be saved (dupgate.uploads)."""
    media = "video" if isinstance(features, VideoFeatures) else "image"
    return _block(
        session,
        collection.tenant,
        collection.name,
        media,
        features.sha256,
        reason,
        caller,
        filename,
    )


def _block(
    session: Session,
    tenant: str,
    collection: str,
    media: str,
    sha256: str,
    reason: str,
    caller: Caller,
    filename: str | None = None,
    image: Image | None = None,
    video: Video | None = None,
) -> Block:
    reason = reason.strip()
    if not reason:
        raise InvalidBlock(f"say why the {media} is blocked: `reason` must not be empty")
    existing = session.scalar(
        select(Block).where(Block.collection == collection, Block.sha256 == sha256)
    )
    if existing is not None:
        return existing
    source = image or video
    row = Block(
        id=str(uuid.uuid4()),
        collection=collection,
        media=media,
        sha256=sha256,
        image_id=image.id if image else None,
        video_id=video.id if video else None,
        filename=source.filename if source else filename,
        reason=reason,
        actor=caller.actor,
    )
    session.add(row)
    if media == "video":
        header = session.get(VideoFeaturesRow, sha256)
        assert header is not None, "a blocked video's analysis is stored first"
        blocked = load_video_features(session, header.data)
        index_frames(session, collection, BLOCKED_FRAMES, row.id, blocked)
    else:
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
        f"{media}.blocked" if source else "file.blocked",
        tenant=tenant,
        actor=caller.actor,
        collection=collection,
        data=block_payload(row),
    )
    return row


def unblock(session: Session, collection: Collection, block_id: str, caller: Caller) -> None:
    """Remove an entry from the collection's blocklist."""
    row = session.get(Block, block_id)
    if row is None or row.collection != collection.name:
        raise UnknownBlock(f"collection {collection.name!r} has no blocklist entry {block_id}")
    if row.media == "video":
        unindex_frames(session, row.collection, BLOCKED_FRAMES, row.id, row.sha256)
    else:
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
) -> Slice[Block]:
    """A page of the collection's blocklist (pictures and videos), oldest first."""
    query = select(Block).where(Block.collection == collection)
    return read_page(session, query, BLOCKLIST, after, limit)


def blocked_match(
    session: Session,
    registry: IndexRegistry,
    collections: Iterable[str],
    features: Features | VideoFeatures,
    policy: Policy,
    excluded: AbstractSet[str],
) -> BlockedMatch | None:
    """The best blocklist entry of these collections that `features` duplicates at either tier;
    a video is matched against the blocked videos, a picture against the blocked pictures."""
    if isinstance(features, VideoFeatures):
        return _blocked_video_match(session, registry, collections, features, policy, excluded)
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
    return _entry_matched(session, best)


def _blocked_video_match(
    session: Session,
    registry: IndexRegistry,
    collections: Iterable[str],
    video: VideoFeatures,
    policy: Policy,
    excluded: AbstractSet[str],
) -> BlockedMatch | None:
    best: Match | None = None
    for name in collections:
        index = registry.synced(session, name, BLOCKED_FRAMES)
        found = copies_among(
            session, index, Block, Block.media == "video", name, video, policy, excluded
        )
        if found and (best is None or found[0].score > best.score):
            best = found[0]
    return _entry_matched(session, best)


def _entry_matched(session: Session, best: Match | None) -> BlockedMatch | None:
    if best is None:
        return None
    row = session.get(Block, best.image_id)
    assert row is not None, "the blocked indexes hold only committed entries"
    return BlockedMatch(row.id, row.reason, best.score, best.tier, row.image_id, row.video_id)


class BlockPayload(TypedDict):
    """A blocklist entry, as its events carry it (the API shows the same fields)."""

    block_id: str
    collection: str
    media: str  # "image" or "video"
    image_id: str | None
    video_id: NotRequired[str | None]  # a blocked video's
    filename: str | None
    sha256: str
    reason: str
    actor: str
    created_at: str


def block_payload(row: Block) -> BlockPayload:
    """A blocklist entry, as its events carry it; a video's names the `video_id` it came from."""
    payload: BlockPayload = {
        "block_id": row.id,
        "collection": row.collection,
        "media": row.media,
        "image_id": row.image_id,
        "filename": row.filename,
        "sha256": row.sha256,
        "reason": row.reason,
        "actor": row.actor,
        "created_at": iso(row.created_at),
    }
    if row.media == "video":
        payload["video_id"] = row.video_id
    return payload


def _tenant(session: Session, collection: str) -> str:
    row = session.get(Collection, collection)
    assert row is not None
    return row.tenant
