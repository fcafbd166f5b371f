"""Video uploads: their stored analyses, their duplicates among committed videos, and their
decision and commit under the collection lock, as images have theirs in duplicates.py and
commit.py.

A committed video's kept frames are in the collection's index under the kind "frames", as
"<video id>/<frame number>": both index backends hold them, and an image upload is matched
against them too (a still taken from a video names the video and the second it shows).
"""

from functools import partial

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.analysis import ANALYSIS_VERSION, Features
from dupgate.analysis.video import (
    VIDEO_ANALYSIS_VERSION,
    InvalidVideo,
    VideoFeatures,
    read_header,
)
from dupgate.events.audit import record_event
from dupgate.matching.find import Match
from dupgate.matching.policy import Decision, Policy, decide
from dupgate.matching.registry import IndexRegistry
from dupgate.matching.score import score
from dupgate.matching.video import FRAME_CANDIDATES, Timeline, video_matches
from dupgate.store.blobs import BlobStore
from dupgate.store.models import Collection, ImageFeatures, Upload, Video, VideoFeaturesRow, utcnow
from dupgate.store.vectors import record_index_change
from dupgate.tenancy.collections import policy_of
from dupgate.uploads.commit import delete_after_commit
from dupgate.uploads.lifecycle import lock_undecided, record_decided
from dupgate.uploads.payloads import MatchPayload
from dupgate.vocabulary import Action, Outcome, Tier, UploadStatus

FRAMES = "frames"  # the index kind of videos' kept frames


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
    """Store a video's analysis: each kept frame's image features, then the video's header."""
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


def _stored_timeline(session: Session, video_id: str) -> Timeline | None:
    row = session.execute(
        select(VideoFeaturesRow.data)
        .join(Video, Video.sha256 == VideoFeaturesRow.sha256)
        .where(Video.id == video_id)
    ).first()
    if row is None:
        return None
    h = read_header(row[0])
    return Timeline(
        h["duration"],
        h["interval"],
        tuple(t for t, _, _ in h["frames"]),
        tuple(w for _, w, _ in h["frames"]),
    )


def find_video_matches(
    session: Session,
    registry: IndexRegistry,
    names: list[str],
    video: VideoFeatures,
    policy: Policy,
) -> list[Match]:
    """The committed videos of these collections that the upload copies, best first."""
    matches: list[Match] = []
    for name in names:
        same_bytes = set(
            session.scalars(
                select(Video.id).where(
                    Video.collection == name,
                    Video.sha256 == video.sha256,
                    Video.linked_to.is_(None),
                )
            )
        )
        matches += video_matches(
            registry.synced(session, name, FRAMES),
            video,
            partial(_stored_timeline, session),
            policy.exact_threshold,
            policy.near_threshold,
            same_bytes,
        )
    return sorted(matches, key=lambda m: (-m.score, m.image_id))


def frame_matches(
    session: Session, registry: IndexRegistry, names: list[str], image: Features, near: float
) -> list[Match]:
    """The committed videos one of whose frames the image is: near, at the frame's time."""
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
        timeline = _stored_timeline(session, video_id)
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
    return matches


def decide_video_upload(
    session: Session,
    store: BlobStore,
    registry: IndexRegistry,
    upload_id: str,
    video: VideoFeatures | InvalidVideo,
) -> None:
    """Under the collection lock: match, decide and commit a video upload once."""
    locked = lock_undecided(session, upload_id)
    if locked is None:
        return
    collection, upload = locked
    policy = policy_of(collection)
    if isinstance(video, InvalidVideo):
        decision = Decision(
            Action.REJECT, Tier.UNIQUE, (), f"invalid_video ({video.reason}): {video.message}"
        )
        commit_video_decision(session, store, upload, None, decision)
    else:
        names = [collection.name, *policy.check_against]
        matches = find_video_matches(session, registry, names, video, policy)
        decision = decide(matches, policy, media="video")
        commit_video_decision(session, store, upload, video, decision)
        upload.matches = describe_video_matches(session, matches)
    record_decided(session, collection, upload, policy)


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
    """Record the decision on the upload and commit the video it asks for."""
    video_id: str | None = None
    obsolete: list[str] = []
    if decision.action in (Action.ACCEPT, Action.LINK, Action.OVERWRITE):
        assert video is not None
        row = Video(
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
        if decision.action == Action.LINK or decision.action == Action.OVERWRITE:
            # A video is linked, never overwritten in place: its frames stay those of its bytes.
            assert decision.target is not None
            row.linked_to = decision.target
        else:
            row.blob_key = video_blob_key(row.id, video.sha256)
            assert upload.staging_key is not None
            store.copy(upload.staging_key, row.blob_key)
        session.add(row)
        if row.linked_to is None:
            for number, frame in enumerate(video.frames):
                record_index_change(
                    session,
                    collection=row.collection,
                    image_id=frame_entry(row.id, number),
                    op="add",
                    sha256=frame.features.sha256,
                    kind=FRAMES,
                    vector=(frame.features.phash, frame.features.embedding),
                )
        video_id = row.id
    upload.status = UploadStatus.DECIDED
    upload.action = Outcome.LINKED if decision.action == Action.OVERWRITE else decision.outcome
    upload.tier = decision.tier
    upload.video_id = video_id
    upload.reason = decision.reason
    upload.decided_at = upload.updated_at = utcnow()
    if decision.action != Action.HOLD and upload.staging_key:
        obsolete.append(upload.staging_key)
        upload.staging_key = None
    delete_after_commit(session, store, obsolete)


def delete_video(session: Session, store: BlobStore, video: Video, actor: str) -> None:
    """Remove a video, and the link records that point at it, from storage, database and index."""
    if video.linked_to is None:
        header = session.get(VideoFeaturesRow, video.sha256)
        count = len(read_header(header.data)["frames"]) if header is not None else 0
        for number in range(count):
            record_index_change(
                session,
                collection=video.collection,
                image_id=frame_entry(video.id, number),
                op="remove",
                sha256=None,
                kind=FRAMES,
            )
    links = list(session.scalars(select(Video.id).where(Video.linked_to == video.id)))
    for link in links:
        linked = session.get(Video, link)
        if linked is not None:
            session.delete(linked)
    keys = [video.blob_key] if video.blob_key else []
    collection = session.get_one(Collection, video.collection)
    record_event(
        session,
        "video.deleted",
        tenant=collection.tenant,
        actor=actor,
        collection=video.collection,
        data={
            "video_id": video.id,
            "collection": video.collection,
            "external_id": video.external_id,
            "links_deleted": links,
        },
    )
    session.delete(video)
    delete_after_commit(session, store, keys)


def describe_video_matches(session: Session, matches: list[Match]) -> list[MatchPayload]:
    """Video matches as JSON-ready dicts, with each video's collection and external id."""
    ids = [m.image_id for m in matches]
    rows = session.execute(
        select(Video.id, Video.collection, Video.external_id).where(Video.id.in_(ids))
    ).all()
    known = {video_id: (collection, external_id) for video_id, collection, external_id in rows}
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
