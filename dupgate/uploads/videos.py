"""Video uploads: their stored analyses, their duplicates among committed (or blocked) videos,
and the commit of their decision, as images have theirs in duplicates.py and commit.py (one
decide_upload, in duplicates.py, decides both).

A committed video's kept frames are in the collection's index under the kind "frames", as
"<video id>/<frame number>": both index backends hold them, and an image upload is matched
against them too (a still taken from a video names the video and the second it shows). A
blocked video's are under "blocked_frames", as "<block id>/<frame number>".
"""

from collections.abc import Set as AbstractSet
from functools import partial

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.analysis import ANALYSIS_VERSION, Features
from dupgate.analysis.video import (
    VIDEO_ANALYSIS_VERSION,
    VideoFeatures,
    read_header,
    read_prints,
)
from dupgate.matching.find import Match
from dupgate.matching.indexes import ImageIndex
from dupgate.matching.policy import Decision, Policy
from dupgate.matching.registry import IndexRegistry
from dupgate.matching.score import score
from dupgate.matching.video import FRAME_CANDIDATES, Timeline, timeline, video_matches
from dupgate.store.blobs import BlobStore
from dupgate.store.models import (
    Block,
    Collection,
    ImageFeatures,
    Upload,
    Video,
    VideoFeaturesRow,
    utcnow,
)
from dupgate.store.vectors import record_index_change
from dupgate.uploads.commit import committed_event, delete_after_commit, record_outcome
from dupgate.uploads.payloads import MatchPayload, where_they_are
from dupgate.vocabulary import Action, Tier, UploadStatus

FRAMES = "frames"  # the index kind of videos' kept frames
BLOCKED_FRAMES = "blocked_frames"  # and of blocked videos' kept frames, as "<block id>/<n>"

# What holds a video's frames in an index: a committed video (kind "frames") or a blocklist
# entry (kind "blocked_frames"). Both name the analysis of their bytes by its SHA-256.
VideoRow = type[Video] | type[Block]


def video_version() -> int:
    """The version stored video features must have to be reused (frames are image features)."""
    return ANALYSIS_VERSION * 1000 + VIDEO_ANALYSIS_VERSION


def frame_entry(video_id: str, number: int) -> str:
    """The id a video's kept frame is indexed under."""
    return f"{video_id}/{number}"


def stored_video_features(
    session: Session, sha256: str, *, tenant: str, upload_id: str
) -> VideoFeatures | None:
    """The analysis of these bytes, if the tenant holds them already (see stored_features)."""
    collections = select(Collection.name).where(Collection.tenant == tenant)
    held = [
        select(Video.id).where(Video.sha256 == sha256, Video.collection.in_(collections)),
        select(Upload.id).where(
            Upload.sha256 == sha256,
            Upload.media == "video",
            Upload.status == UploadStatus.DECIDED,
            Upload.collection.in_(collections),
            Upload.id != upload_id,
        ),
    ]
    if not any(session.execute(q.limit(1)).first() is not None for q in held):
        return None
    row = session.get(VideoFeaturesRow, sha256)
    if row is None or row.version != video_version():
        return None
    return load_video_features(session, row.data)


def load_video_features(session: Session, header: bytes) -> VideoFeatures:
    """Stored video features with their frames' image features."""
    shas = [sha for _, _, sha in read_header(header)["frames"]]
    rows = session.execute(
        select(ImageFeatures.sha256, ImageFeatures.data).where(ImageFeatures.sha256.in_(shas))
    ).all()
    frames = {sha: Features.from_bytes(data) for sha, data in rows}
    return VideoFeatures.from_header(header, frames)


def save_video_features(session: Session, video: VideoFeatures) -> None:
    """Store a video's analysis: each kept frame's image features, then the video's header.

    An analysis of another version that it replaces may have kept other frames, so every
    video and blocklist entry that holds these bytes has its frames indexed again."""
    old = session.get(VideoFeaturesRow, video.sha256)
    holders = _holders(session, video.sha256) if old and old.version != video_version() else []
    for kind, collection, owner in holders:
        unindex_frames(session, collection, kind, owner, video.sha256)
    try:
        with session.begin_nested():
            for frame in video.frames:
                session.merge(
                    ImageFeatures(
                        sha256=frame.features.sha256,
                        version=frame.features.version,
                        data=frame.features.to_bytes(),
                    )
                )
            session.merge(
                VideoFeaturesRow(sha256=video.sha256, version=video_version(), data=video.header())
            )
    except IntegrityError:
        pass  # another worker stored the same bytes' analysis first: same values
    for kind, collection, owner in holders:
        index_frames(session, collection, kind, owner, video)


def _holders(session: Session, sha256: str) -> list[tuple[str, str, str]]:
    """(index kind, collection, owner id) of what has the frames of these bytes indexed: the
    committed videos (not link records) and the blocklist entries."""
    videos = session.execute(
        select(Video.collection, Video.id).where(Video.sha256 == sha256, Video.linked_to.is_(None))
    ).all()
    blocks = session.execute(
        select(Block.collection, Block.id).where(Block.sha256 == sha256, Block.media == "video")
    ).all()
    return [(FRAMES, c, i) for c, i in videos] + [(BLOCKED_FRAMES, c, i) for c, i in blocks]


def _stored_timeline(session: Session, row: VideoRow, owner_id: str) -> Timeline | None:
    """The timeline of the video a committed video or a blocklist entry holds, from its header."""
    found = session.execute(
        select(VideoFeaturesRow.data)
        .join(row, row.sha256 == VideoFeaturesRow.sha256)
        .where(row.id == owner_id)
    ).first()
    if found is None:
        return None
    h = read_header(found[0])
    return timeline(
        h["duration"],
        h["interval"],
        [(t, w) for t, w, _ in h["frames"]],
        *read_prints(found[0]),
    )


def copies_among(
    session: Session,
    index: ImageIndex,
    row: VideoRow,
    indexed: ColumnElement[bool],
    collection: str,
    video: VideoFeatures,
    policy: Policy,
    excluded: AbstractSet[str] = frozenset(),
) -> list[Match]:
    """The videos whose frames `index` holds (committed videos, or blocked ones: `row`) that
    `video` copies, best first; those whose bytes are in `excluded` (said not duplicates) are
    left out. `indexed` picks the rows whose frames are in the index, for identical bytes."""
    same_bytes = set(
        session.scalars(
            select(row.id).where(row.collection == collection, row.sha256 == video.sha256, indexed)
        )
    )
    found = video_matches(
        index,
        video,
        partial(_stored_timeline, session, row),
        policy.exact_threshold,
        policy.near_threshold,
        same_bytes,
    )
    return _without(session, row, found, excluded)


def _without(
    session: Session, row: VideoRow, matches: list[Match], excluded: AbstractSet[str]
) -> list[Match]:
    """The matches but those of videos whose bytes are in `excluded`."""
    if not excluded or not matches:
        return matches
    ids = [m.image_id for m in matches]
    shas = dict(session.execute(select(row.id, row.sha256).where(row.id.in_(ids))).all())
    return [m for m in matches if shas.get(m.image_id) not in excluded]


def find_video_matches(
    session: Session,
    registry: IndexRegistry,
    names: list[str],
    video: VideoFeatures,
    policy: Policy,
    excluded: AbstractSet[str] = frozenset(),
) -> list[Match]:
    """The committed videos of these collections that the upload copies, best first; videos a
    person said are not duplicates of it (`excluded`, by their bytes) are left out."""
    matches: list[Match] = []
    for name in names:
        index = registry.synced(session, name, FRAMES)
        # A link record's frames are not indexed: it is never matched, the video it links to is.
        indexed = Video.linked_to.is_(None)
        matches += copies_among(session, index, Video, indexed, name, video, policy, excluded)
    return sorted(matches, key=lambda m: (-m.score, m.image_id))


def frame_matches(
    session: Session,
    registry: IndexRegistry,
    names: list[str],
    image: Features,
    near: float,
    excluded: AbstractSet[str] = frozenset(),
) -> list[Match]:
    """The committed videos one of whose frames the image is: near, at the frame's time; those
    a person said are not duplicates of it (`excluded`, by their bytes) are left out."""
    best: dict[str, tuple[float, int]] = {}
    for name in names:
        index = registry.synced(session, name, FRAMES)
        for entry in index.candidates(image, FRAME_CANDIDATES):
            video_id, _, entry_number = entry.image_id.rpartition("/")
            value = score(image, entry.features)
            if value >= near and value > best.get(video_id, (0.0, 0))[0]:
                best[video_id] = (value, int(entry_number))
    matches = []
    for video_id, (value, number) in best.items():
        timeline = _stored_timeline(session, Video, video_id)
        if timeline is None:
            continue
        # A still is never the video itself: near, whatever its pixels.
        matches.append(
            Match(
                video_id,
                round(min(value, 0.949), 4),
                Tier.NEAR,
                kind="video",
                offset_seconds=round(timeline.times[number], 2),
            )
        )
    return _without(session, Video, matches, excluded)


def video_blob_key(video_id: str, sha256: str) -> str:
    """Where a video's content lives (content-addressed, as images' are)."""
    return f"videos/{video_id}/{sha256}"


def commit_video_decision(
    session: Session,
    store: BlobStore,
    upload: Upload,
    video: VideoFeatures | None,
    decision: Decision,
) -> None:
    """Record the decision on the upload and commit the video it asks for, as commit_decision
    does for an image: accept adds a video, link a record pointing at the target, overwrite
    gives the target the upload's bytes and frames (it keeps its id, metadata and links)."""
    video_id: str | None = None
    obsolete: list[str] = []
    if decision.action in (Action.ACCEPT, Action.LINK):
        assert video is not None
        row = _new_video(upload, video)
        if decision.action == Action.LINK:
            assert decision.target is not None
            row.linked_to = decision.target
        else:
            row.blob_key = video_blob_key(row.id, video.sha256)
            assert upload.staging_key is not None
            store.copy(upload.staging_key, row.blob_key)
        session.add(row)
        if row.linked_to is None:
            index_frames(session, row.collection, FRAMES, row.id, video)
        video_id = row.id
    elif decision.action == Action.OVERWRITE:
        assert video is not None and decision.target is not None
        video_id, old_key = _overwrite_video(session, store, upload, video, decision.target)
        obsolete += [old_key] if old_key else []
    upload.video_id = video_id
    record_outcome(session, store, upload, decision, obsolete)


def _new_video(upload: Upload, video: VideoFeatures) -> Video:
    # The video takes the upload's id, so a retried commit writes to the same blob key.
    return Video(
        id=upload.id,
        collection=upload.collection,
        upload_id=upload.id,
        sha256=video.sha256,
        external_id=upload.external_id,
        labels=upload.labels,
        filename=upload.filename,
        width=video.width,
        height=video.height,
        duration=video.duration,
        format=video.format,
        size=upload.size,
    )


def _overwrite_video(
    session: Session, store: BlobStore, upload: Upload, video: VideoFeatures, target: str
) -> tuple[str, str | None]:
    """The target takes the upload's bytes: a new blob, and its old frames leave the index for
    the new ones (their number may differ). Returns its id and the blob that is now obsolete."""
    row = session.get(Video, target)
    assert row is not None, "the matched video is in the index, so it is committed"
    assert row.linked_to is None, "a link record is never matched: the video it links to is"
    assert upload.staging_key is not None
    unindex_frames(session, row.collection, FRAMES, row.id, row.sha256)
    old_key = row.blob_key
    row.blob_key = video_blob_key(row.id, video.sha256)
    store.copy(upload.staging_key, row.blob_key)
    row.sha256 = video.sha256
    row.width, row.height, row.duration = video.width, video.height, video.duration
    row.format, row.size = video.format, upload.size
    row.updated_at = utcnow()
    index_frames(session, row.collection, FRAMES, row.id, video)
    return row.id, old_key if old_key != row.blob_key else None


def index_frames(
    session: Session, collection: str, kind: str, owner_id: str, video: VideoFeatures
) -> None:
    """Put a video's kept frames in the collection's index of `kind`, as "<owner id>/<n>"."""
    for number, frame in enumerate(video.frames):
        record_index_change(
            session,
            collection=collection,
            image_id=frame_entry(owner_id, number),
            op="add",
            sha256=frame.features.sha256,
            kind=kind,
            vector=(frame.features.phash, frame.features.embedding),
        )


def unindex_frames(
    session: Session, collection: str, kind: str, owner_id: str, sha256: str
) -> None:
    """Take the kept frames of the video with these bytes, indexed for `owner_id`, out again."""
    header = session.get(VideoFeaturesRow, sha256)
    count = len(read_header(header.data)["frames"]) if header is not None else 0
    for number in range(count):
        record_index_change(
            session,
            collection=collection,
            image_id=frame_entry(owner_id, number),
            op="remove",
            sha256=None,
            kind=kind,
        )


def link_existing_video(
    session: Session, store: BlobStore, video: Video, target: Video, actor: str
) -> None:
    """Turn a committed video into a link record pointing at `target`, as a `link` decision
    would have made it (link_existing does so for an image): its blob goes, its frames leave
    the index, and link records pointing at it point at `target` instead."""
    assert target.linked_to is None and video.id != target.id
    if video.linked_to is None:
        unindex_frames(session, video.collection, FRAMES, video.id, video.sha256)
    session.execute(update(Video).where(Video.linked_to == video.id).values(linked_to=target.id))
    keys = [video.blob_key] if video.blob_key else []
    video.linked_to, video.blob_key = target.id, None
    video.updated_at = utcnow()
    committed_event(session, "video.linked", video, actor, linked_to=target.id)
    delete_after_commit(session, store, keys)


def delete_video(session: Session, store: BlobStore, video: Video, actor: str) -> None:
    """Remove a video, and the link records that point at it, from storage, database and index.

    Its analysis stays (it is keyed by content and may be shared, or blocked).
    """
    if video.linked_to is None:
        unindex_frames(session, video.collection, FRAMES, video.id, video.sha256)
    links = list(session.scalars(select(Video.id).where(Video.linked_to == video.id)))
    session.execute(delete(Video).where(Video.linked_to == video.id))
    keys = [video.blob_key] if video.blob_key else []
    committed_event(session, "video.deleted", video, actor, links_deleted=links)
    session.delete(video)
    delete_after_commit(session, store, keys)


def describe_video_matches(session: Session, matches: list[Match]) -> list[MatchPayload]:
    """Video matches as JSON-ready dicts, with each video's collection and external id."""
    known = where_they_are(session, Video, [m.image_id for m in matches])
    described: list[MatchPayload] = []
    for m in matches:
        collection, external_id = known.get(m.image_id, (None, None))
        payload: MatchPayload = {
            "video_id": m.image_id,
            "collection": collection,
            "external_id": external_id,
            "score": m.score,
            "tier": m.tier,
            "offset_seconds": m.offset_seconds,
        }
        if m.query_coverage is not None:
            payload["query_coverage"] = m.query_coverage
            payload["match_coverage"] = m.match_coverage
            payload["relation"] = m.relation
        described.append(payload)
    return described
