"""Finding an upload's duplicates among what is committed, and deciding it under the collection lock."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.analysis import Features, InvalidImage
from dupgate.analysis.video import VideoFeatures
from dupgate.curation.blocklist import blocked_match
from dupgate.curation.not_duplicates import not_duplicates_of
from dupgate.matching.find import Match, find_matches
from dupgate.matching.policy import BlockedMatch, Decision, decide, invalid_image
from dupgate.matching.registry import IndexRegistry
from dupgate.store.blobs import BlobStore
from dupgate.store.models import Block, Collection, Image, ImageFeatures, Upload
from dupgate.tenancy.collections import policy_of
from dupgate.uploads.commit import commit_decision
from dupgate.uploads.lifecycle import lock_undecided, record_decided
from dupgate.uploads.payloads import MatchPayload, where_they_are
from dupgate.uploads.videos import (
    commit_video_decision,
    describe_video_matches,
    find_video_matches,
    frame_matches,
)
from dupgate.vocabulary import UploadStatus


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
        select(Block.id).where(Block.sha256 == sha256, Block.collection.in_(collections)),
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
    """What an upload duplicates: committed images or videos (best first) and any blocklist
    entry."""

    matches: list[Match]
    blocked: BlockedMatch | None


def find_duplicates(
    session: Session,
    registry: IndexRegistry,
    collection: Collection,
    features: Features | VideoFeatures,
) -> Found:
    """The images (or videos) of the collection, and of those it is checked against, that
    `features` duplicates, and the best entry of their blocklists it duplicates.

    Pairs a person said are not duplicates are left out, of the matches and of the blocklist. A
    video's duplicates are the videos it copies; an image's are images, and the videos one of
    whose frames it is.
    """
    policy = policy_of(collection)
    names = [collection.name, *policy.check_against]
    excluded = not_duplicates_of(session, collection.tenant, features.sha256)
    blocked = blocked_match(session, registry, names, features, policy, excluded)
    if isinstance(features, VideoFeatures):
        matches = find_video_matches(session, registry, names, features, policy, excluded)
        return Found(matches, blocked)
    matches = []
    for name in names:
        index = registry.synced(session, name)
        candidates = [
            (entry.image_id, entry.features)
            for entry in index.candidates(features)
            if entry.features.sha256 not in excluded
        ]
        matches += find_matches(features, candidates, policy.exact_threshold, policy.near_threshold)
    matches += frame_matches(session, registry, names, features, policy.near_threshold, excluded)
    matches.sort(key=lambda m: (-m.score, m.image_id))
    return Found(matches, blocked)


def decide_upload(
    session: Session,
    store: BlobStore,
    registry: IndexRegistry,
    upload_id: str,
    analysed: Features | VideoFeatures | InvalidImage,
) -> None:
    """Under the collection lock: match, decide and commit an image or a video upload once.

    A redelivered task finds the upload decided and does nothing, also when both deliveries
    run at once: the status is read again after the lock is taken. The collections the upload
    is checked against are locked too, so that nothing is committed to them meanwhile.
    """
    locked = lock_undecided(session, upload_id)
    if locked is None:
        return
    collection, upload = locked
    policy = policy_of(collection)
    if isinstance(analysed, InvalidImage):  # an InvalidVideo too
        decision = invalid_image(analysed.reason, analysed.message, media=upload.media)
        commit_upload(session, store, upload, None, decision)
    else:
        found = find_duplicates(session, registry, collection, analysed)
        decision = decide(found.matches, policy, found.blocked, media=upload.media)
        commit_upload(session, store, upload, analysed, decision)
        upload.matches = describe_matches(session, found.matches)
    record_decided(session, collection, upload, policy)


def commit_upload(
    session: Session,
    store: BlobStore,
    upload: Upload,
    analysed: Features | VideoFeatures | None,
    decision: Decision,
) -> None:
    """Record the decision on an image or a video upload and commit what it asks for."""
    if upload.media == "video":
        assert analysed is None or isinstance(analysed, VideoFeatures)
        commit_video_decision(session, store, upload, analysed, decision)
    else:
        assert analysed is None or isinstance(analysed, Features)
        commit_decision(session, store, upload, analysed, decision)


def describe_matches(session: Session, matches: list[Match]) -> list[MatchPayload]:
    """Matches as JSON-ready dicts, with each image's (or video's) collection and external id."""
    videos = iter(describe_video_matches(session, [m for m in matches if m.kind == "video"]))
    images = iter(_describe_images(session, [m for m in matches if m.kind != "video"]))
    return [next(videos) if m.kind == "video" else next(images) for m in matches]


def _describe_images(session: Session, matches: list[Match]) -> list[MatchPayload]:
    known = where_they_are(session, Image, [m.image_id for m in matches])
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
