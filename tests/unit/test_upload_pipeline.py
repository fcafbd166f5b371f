"""The upload pipeline in the domain, without HTTP or Celery: analyse once, decide once, replay."""

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, text

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features, analyze, load_embedder
from dupgate.matching.indexes import IndexBackend
from dupgate.matching.pgvector import VectorIndexMissing, check_vector_index
from dupgate.matching.registry import IndexRegistry
from dupgate.store.blobs import LocalBlobStore
from dupgate.store.db import get_engine, session_scope
from dupgate.store.models import Event, Image, ImageFeatures, IndexChange, Upload
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP
from dupgate.uploads.duplicates import decide_upload, save_features, stored_features
from dupgate.uploads.intake import NewUpload, create_upload, new_upload_id
from dupgate.uploads.lifecycle import begin_processing, requeue_lost_uploads
from dupgate.uploads.pipeline import run_upload
from tests.conftest import photo
from tests.images import resized_jpeg
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder("onnx")


@pytest.fixture(params=["hnswlib", "pgvector"])
def backend(request: pytest.FixtureRequest, database_url: str) -> IndexBackend:
    """Each index backend the database can hold (pgvector: PostgreSQL with the extension)."""
    if request.param == "pgvector":
        try:
            check_vector_index(database_url)
        except VectorIndexMissing:
            pytest.skip("the pgvector backend needs PostgreSQL with pgvector")
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> LocalBlobStore:
    """A blob store, next to a database that has the collection "shop"."""
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), BOOTSTRAP)
    return LocalBlobStore(tmp_path / "blobs")


def stage(
    database_url: str,
    store: LocalBlobStore,
    content: bytes,
    collection: str = "shop",
    media: str = "image",
) -> str:
    upload_id = new_upload_id()
    key = f"staging/{upload_id}"
    store.put(key, iter([content]))
    sha256 = hashlib.sha256(content).hexdigest()
    new = NewUpload(collection, key, sha256, len(content), media=media)
    with session_scope(database_url) as s:
        create_upload(s, upload_id, new)
    return upload_id


def process(
    database_url: str,
    store: LocalBlobStore,
    embedder: Embedder,
    registry: IndexRegistry,
    upload_id: str,
) -> Upload:
    """What a worker does with one delivery of the task."""
    transaction = partial(session_scope, database_url)
    run_upload(
        transaction,
        store,
        lambda: embedder,
        registry,
        upload_id,
        max_attempts=3,
        max_pixels=64_000_000,
    )
    with session_scope(database_url) as s:
        done = s.get(Upload, upload_id)
        assert done is not None
        return done


def test_identical_bytes_are_analysed_once(
    database_url: str, store: LocalBlobStore, embedder: Embedder
) -> None:
    content = photo("n01440764").read_bytes()
    first = stage(database_url, store, content)
    second = stage(database_url, store, content)
    process(database_url, store, embedder, IndexRegistry(), first)

    # The second upload's staged bytes are gone, so its features can only come from the database.
    store.delete(f"staging/{second}")
    decided = process(database_url, store, embedder, IndexRegistry(), second)

    assert (decided.status, decided.action, decided.tier) == ("decided", "rejected", "exact")
    with session_scope(database_url) as s:
        assert s.query(ImageFeatures).count() == 1


def test_another_tenants_bytes_are_analysed_afresh_not_reused(
    database_url: str, store: LocalBlobStore, embedder: Embedder
) -> None:
    # Reusing another tenant's analysis answered in a tenth of the time: a tenant could time
    # /check to learn whether anyone holds a file. Their bytes must cost a full analysis.
    with session_scope(database_url) as s:
        put_collection(s, "other-shop", PolicyChange(tenant="acme"), BOOTSTRAP)
    content = photo("n01440764").read_bytes()
    sha256 = hashlib.sha256(content).hexdigest()
    ours = process(
        database_url, store, embedder, IndexRegistry(), stage(database_url, store, content)
    )
    assert ours.action == "accepted"

    with session_scope(database_url) as s:
        assert stored_features(s, sha256, ANALYSIS_VERSION, tenant="default") is not None
        assert stored_features(s, sha256, ANALYSIS_VERSION, tenant="acme") is None
    # Without its staged bytes the other tenant's upload cannot be analysed: it was not
    # decided from the features the first tenant's upload left behind.
    theirs = stage(database_url, store, content, collection="other-shop")
    store.delete(f"staging/{theirs}")
    failed = process(database_url, store, embedder, IndexRegistry(), theirs)
    assert failed.status == "failed" and (failed.reason or "").startswith("analysis_failed")
    # With them, it is analysed and decided as unique in its own collection.
    again = process(
        database_url,
        store,
        embedder,
        IndexRegistry(),
        stage(database_url, store, content, collection="other-shop"),
    )
    assert (again.action, again.tier) == ("accepted", "unique")


def test_a_second_worker_sees_the_first_workers_commit_and_retries_commit_nothing(
    database_url: str, store: LocalBlobStore, embedder: Embedder, backend: IndexBackend
) -> None:
    worker_a, worker_b = IndexRegistry(backend), IndexRegistry(backend)
    original = stage(database_url, store, photo("n01518878").read_bytes())
    copy = stage(database_url, store, resized_jpeg(photo("n01518878"), scale=0.5))

    accepted = process(database_url, store, embedder, worker_a, original)
    rejected = process(database_url, store, embedder, worker_b, copy)

    assert (accepted.action, rejected.action, rejected.tier) == ("accepted", "rejected", "exact")
    assert rejected.matches[0]["image_id"] == accepted.image_id
    assert not store.exists(f"staging/{copy}")
    # A redelivered task for a decided upload changes nothing.
    again = process(database_url, store, embedder, worker_a, original)
    assert again.decided_at == accepted.decided_at
    with session_scope(database_url) as s:
        assert s.query(Image).count() == 1
        assert s.query(IndexChange).count() == 1

    # A fresh process rebuilds its index from the database alone (pgvector: reads it there).
    rebuilt = IndexRegistry(backend)
    with session_scope(database_url) as s:
        assert len(rebuilt.synced(s, "shop")) == 1


def test_an_upload_whose_worker_keeps_dying_ends_failed_with_a_reason(
    database_url: str, store: LocalBlobStore
) -> None:
    upload_id = stage(database_url, store, photo("n01440764").read_bytes())
    # Each run takes a lease and counts an attempt; a worker killed mid-task never finishes,
    # so the next run comes once the lease has run out.
    lease, now = timedelta(seconds=30), datetime.now(UTC)
    for run in range(3):
        with session_scope(database_url) as s:
            taken = begin_processing(
                s, upload_id, 3, owner=f"run-{run}", lease=lease, now=now + run * 2 * lease
            )
            assert taken is not None

    with session_scope(database_url) as s:
        assert begin_processing(s, upload_id, 3, owner="run-3", now=now + 6 * lease) is None
    with session_scope(database_url) as s:
        upload = s.get(Upload, upload_id)
        assert upload is not None
        assert upload.status == "failed"
        assert upload.reason is not None and "gave up after 3 attempts" in upload.reason


def test_a_redelivered_message_does_nothing_while_its_first_run_holds_the_upload(
    database_url: str, store: LocalBlobStore
) -> None:
    upload_id = stage(database_url, store, photo("n01440764").read_bytes())
    with session_scope(database_url) as s:
        assert begin_processing(s, upload_id, 3, owner="first") is not None
    with session_scope(database_url) as s:
        assert begin_processing(s, upload_id, 3, owner="second") is None
    # The first run, retrying after a database fault, takes it again: not another attempt.
    with session_scope(database_url) as s:
        again = begin_processing(s, upload_id, 3, owner="first")
        assert again is not None and again.attempts == 1


def test_uploads_whose_worker_or_message_was_lost_are_requeued_once_per_interval(
    database_url: str, store: LocalBlobStore
) -> None:
    waiting = stage(database_url, store, photo("n01440764").read_bytes())
    working = stage(database_url, store, photo("n01443537").read_bytes())
    now = datetime.now(UTC)
    with session_scope(database_url) as s:
        begin_processing(s, working, 3, owner="run", lease=timedelta(seconds=30), now=now)

    def requeue(at: datetime) -> list[str]:
        with session_scope(database_url) as s:
            return sorted(requeue_lost_uploads(s, timedelta(seconds=60), now=at))

    assert requeue(now + timedelta(seconds=20)) == []
    # The lease ran out (the worker is gone) long before a queued upload counts as lost.
    assert requeue(now + timedelta(seconds=31)) == [working]
    assert requeue(now + timedelta(seconds=61)) == [waiting]
    # Enqueued again, neither is found again before another interval has passed.
    assert requeue(now + timedelta(seconds=80)) == []
    assert requeue(now + timedelta(seconds=125)) == sorted([waiting, working])
    with session_scope(database_url) as s:
        assert s.get_one(Upload, working).status == "queued"


def test_two_deliveries_deciding_at_once_commit_once(
    database_url: str, store: LocalBlobStore, embedder: Embedder
) -> None:
    # Two workers got the same message (a redelivery while the first still ran) and both
    # analysed it. The second reaches the decision while the first holds the collection lock.
    upload_id = stage(database_url, store, photo("n01443537").read_bytes())
    features = analyze(store.get(f"staging/{upload_id}"), embedder)
    with session_scope(database_url) as s:
        save_features(s, features)
    second_done = threading.Event()

    with session_scope(database_url) as first:
        decide_upload(first, store, IndexRegistry(), upload_id, features)
        waiting = threading.Thread(
            target=deliver, args=(database_url, store, upload_id, features, second_done)
        )
        with lock_waiters(database_url) as blocked:
            waiting.start()
            wait_until(blocked, timeout=30, what="the second delivery waits for the lock")
        # The first commits when this block ends.
    waiting.join(timeout=30)

    assert second_done.is_set()
    with session_scope(database_url) as s:
        decided = s.scalars(select(Event).where(Event.type == "upload.decided")).all()
        assert len(decided) == 1, "the second decision did nothing"
        upload = s.get(Upload, upload_id)
        assert upload is not None
        assert (upload.action, upload.image_id) == ("accepted", upload_id)
        assert s.query(Image).count() == 1


def deliver(
    database_url: str,
    store: LocalBlobStore,
    upload_id: str,
    features: Features,
    done: threading.Event,
) -> None:
    with session_scope(database_url) as s:
        decide_upload(s, store, IndexRegistry(), upload_id, features)
    done.set()


@contextmanager
def lock_waiters(database_url: str) -> Iterator[Callable[[], bool]]:
    """A condition: another transaction waits for a lock that this thread's transaction holds.

    PostgreSQL shows a backend waiting for a row lock. SQLite's wait is inside the library
    (BEGIN IMMEDIATE, see dupgate.db): the condition is that another thread has begun it.
    """
    engine = get_engine(database_url)
    if engine.dialect.name == "postgresql":
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )

        def waits_in_postgres() -> bool:
            with engine.connect() as c:
                return bool(c.execute(query).scalar_one())

        yield waits_in_postgres
        return
    me = threading.current_thread()
    begun = threading.Event()

    def note(_: object, __: object, statement: str, *___: object) -> None:
        if statement.startswith("BEGIN IMMEDIATE") and threading.current_thread() is not me:
            begun.set()

    sa_event.listen(engine, "before_cursor_execute", note)
    try:
        yield begun.is_set
    finally:
        sa_event.remove(engine, "before_cursor_execute", note)
