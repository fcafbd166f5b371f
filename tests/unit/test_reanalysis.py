"""Features of an older analysis version are brought up to date from the committed blobs."""

from dataclasses import replace
from functools import partial

from sqlalchemy import select

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features
from dupgate.analysis.reanalysis import reanalyze, stale_pictures
from dupgate.matching.registry import IndexRegistry
from dupgate.matching.score import VERIFIED_FLOOR
from dupgate.store.blobs import LocalBlobStore
from dupgate.store.db import session_scope
from dupgate.store.models import Image, ImageFeatures, IndexChange, Upload
from tests.conftest import photo
from tests.images import with_caption
from tests.unit.test_upload_pipeline import embedder, process, stage, store  # noqa: F401

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

    assert (result.done, result.failed, done) == (1, 0, [1])
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
