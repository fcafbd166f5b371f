"""Features of an older analysis version are brought up to date from the committed blobs."""

from dataclasses import replace
from functools import partial

from sqlalchemy import select

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features
from dupgate.analysis.video import VideoFeatures, frame_sha256, read_prints
from dupgate.curation.blocklist import block_video, unblock
from dupgate.matching.registry import IndexRegistry
from dupgate.matching.score import VERIFIED_FLOOR
from dupgate.store.blobs import LocalBlobStore
from dupgate.store.db import session_scope
from dupgate.store.models import (
    Collection,
    Image,
    ImageFeatures,
    IndexChange,
    Upload,
    Video,
    VideoFeaturesRow,
)
from dupgate.tenancy.keys import BOOTSTRAP
from dupgate.uploads.reanalysis import reanalyze, stale_pictures, stale_videos
from dupgate.uploads.videos import load_video_features, video_version
from tests.conftest import photo
from tests.images import with_caption
from tests.unit.test_upload_pipeline import embedder, process, stage, store  # noqa: F401
from tests.videos import clip, transcode

PHOTO = "n01440764_tench"


def as_version_1(database_url: str, sha256: str) -> None:
    """Store the picture's features as analysis version 1 wrote them: no local features."""
    with session_scope(database_url) as s:
        row = s.get(ImageFeatures, sha256)
        assert row is not None
        old = replace(Features.from_bytes(row.data), version=1, local=None)
        row.version, row.data = 1, old.to_bytes()


def committed_as_version_1(
    database_url: str, blobs: LocalBlobStore, analyser: Embedder, registry: IndexRegistry
) -> Upload:
    """The photo uploaded and accepted, its stored features then set back to version 1."""
    upload_id = stage(database_url, blobs, photo(PHOTO).read_bytes())
    original = process(database_url, blobs, analyser, registry, upload_id)
    assert original.action == "accepted"
    as_version_1(database_url, original.sha256)
    return original


def test_reanalyze_restores_local_features_and_tells_the_index(
    database_url: str,
    store: LocalBlobStore,  # noqa: F811
    embedder: Embedder,  # noqa: F811
) -> None:
    registry = IndexRegistry()
    original = committed_as_version_1(database_url, store, embedder, registry)
    transaction = partial(session_scope, database_url)
    with transaction() as s:
        assert stale_pictures(s) == [(original.sha256, s.scalars(select(Image.blob_key)).one())]
        changes_before = len(s.scalars(select(IndexChange)).all())

    done: list[int] = []
    result = reanalyze(transaction, store, embedder, max_pixels=64_000_000, progress=done.append)

    assert (result.images, result.videos, result.failed, done) == (1, 0, 0, [1])
    with transaction() as s:
        row = s.get(ImageFeatures, original.sha256)
        assert row is not None and row.version == ANALYSIS_VERSION
        assert Features.from_bytes(row.data).local is not None
        assert stale_pictures(s) == []
        assert len(s.scalars(select(IndexChange)).all()) == changes_before + 1
        (entry,) = registry.synced(s, "shop").candidates(Features.from_bytes(row.data))
    assert entry.image_id == original.image_id and entry.features.local is not None


def test_a_version_1_candidate_is_matched_by_its_cosine_until_reanalysed(
    database_url: str,
    store: LocalBlobStore,  # noqa: F811
    embedder: Embedder,  # noqa: F811
) -> None:
    original = committed_as_version_1(database_url, store, embedder, IndexRegistry())
    fresh_worker = IndexRegistry()  # replays the change log: the candidate has version 1 features
    upload_id = stage(database_url, store, with_caption(photo(PHOTO)))
    copy = process(database_url, store, embedder, fresh_worker, upload_id)
    assert (copy.action, copy.tier) == ("linked", "near")
    assert copy.matches[0]["image_id"] == original.image_id
    assert copy.matches[0]["score"] >= VERIFIED_FLOOR


def test_reanalyze_gives_an_old_video_its_prints_and_indexes_its_frames_again(
    database_url: str,
    store: LocalBlobStore,  # noqa: F811
    embedder: Embedder,  # noqa: F811
) -> None:
    chair = transcode(clip("chair-orig-22-sd-bar"), seconds=10.0)
    registry = IndexRegistry()
    original = process(
        database_url, store, embedder, registry, stage(database_url, store, chair, media="video")
    )
    assert original.action == "accepted" and original.video_id is not None
    transaction = partial(session_scope, database_url)
    with transaction() as s:
        video = s.get(Video, original.video_id)
        assert video is not None
        block = block_video(s, video, "taken down", BOOTSTRAP)
        # As analysis version 4 stored it: the same frames, and no prints.
        row = s.get(VideoFeaturesRow, original.sha256)
        assert row is not None
        old = load_video_features(s, row.data)
        frames = len(old.frames)
        row.version, row.data = video_version() - 1, _without_prints(row.data, old)
        assert stale_videos(s) == [(original.sha256, video.blob_key)]
        seq = s.scalar(select(IndexChange.seq).order_by(IndexChange.seq.desc()).limit(1))

    result = reanalyze(transaction, store, embedder, max_pixels=64_000_000)

    assert (result.images, result.videos, result.failed) == (0, 1, 0)
    with transaction() as s:
        row = s.get(VideoFeaturesRow, original.sha256)
        assert row is not None and row.version == video_version()
        assert len(read_prints(row.data)[1]) > 200  # every frame of 10 s at 30 frames a second
        assert stale_videos(s) == []
        # The committed video and the blocklist entry hold the same bytes: both are indexed
        # again, each frame taken out and put back under its new analysis.
        changes = s.scalars(select(IndexChange).where(IndexChange.seq > seq)).all()
        for kind, owner in [("frames", video.id), ("blocked_frames", block.id)]:
            mine = [c for c in changes if c.kind == kind and c.image_id.startswith(owner)]
            assert [c.op for c in mine] == ["remove"] * frames + ["add"] * frames
            assert {c.sha256 for c in mine if c.op == "add"} == {
                frame_sha256(original.sha256, n) for n in range(frames)
            }
        collection = s.get(Collection, "shop")
        assert collection is not None
        unblock(s, collection, block.id, BOOTSTRAP)

    # With prints, a cut that starts between two samples is lined up with it: a worker that
    # starts now replays the index changes and finds it as a clip of the video.
    cut = transcode(clip("chair-orig-22-sd-bar"), start=2.5, seconds=6.0)
    found = process(
        database_url,
        store,
        embedder,
        IndexRegistry(),
        stage(database_url, store, cut, media="video"),
    )
    assert (found.action, found.tier) == ("linked", "near"), found.matches
    (match,) = found.matches
    assert match["video_id"] == original.video_id
    assert match["relation"] == "upload_within_match"
    assert abs(match["offset_seconds"] - 2.5) < 0.3


def _without_prints(header: bytes, video: VideoFeatures) -> bytes:
    """The header with no prints, as analysis version 4 wrote it."""
    empty = VideoFeatures(
        version=video.version - 1,
        sha256=video.sha256,
        width=video.width,
        height=video.height,
        duration=video.duration,
        format=video.format,
        interval=video.interval,
        frames=video.frames,
    )
    return empty.header()
