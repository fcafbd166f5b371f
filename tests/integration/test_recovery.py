"""Ordinary faults against a real dupgate: nothing lost or decided twice, recovered in seconds.

Each test runs its own Redis, gateway and workers (benchmarks/chaos/cluster.py) with the
recovery settings shortened to seconds (`FAST`); the broker's visibility timeout keeps its
600 s default, so what recovers the uploads here is the lease and the sweep, not redelivery.
The longer scenarios, with the shipped defaults, are in `python -m benchmarks.chaos`.

The Redis restart and the killed worker host run on SQLite with local blobs and hnswlib and
on PostgreSQL with blobs in S3 and pgvector (`tests.servers.combination`); the full disk on
SQLite, whose database and blobs are on that disk; the database outage on PostgreSQL.
"""

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import create_engine, text

from benchmarks.chaos import cluster as chaos
from benchmarks.chaos.cluster import FAST, Cluster, wait_decided
from tests.databases import (
    admin_url,
    database_backends,
    drop_migrated_postgres,
    drop_postgres_database,
    fresh_postgres_database,
    migrated_postgres,
)
from tests.servers import combination, combination_id, combination_settings
from tests.waiting import wait_until


def photos(count: int, start: int = 0) -> list[bytes]:
    """Real photos of the shared dataset; the test is skipped where it is not here."""
    try:
        return chaos.photos(count, start)
    except FileNotFoundError as e:
        pytest.skip(str(e))


def create_cluster(backend: str, database_url: str | None = None) -> Cluster:
    """A cluster with the FAST recovery settings on `backend`'s combination (not started)."""
    cluster = Cluster.create(database_url, settings=FAST | combination_settings(backend))
    cluster.log.write_text(f"tests: on {combination(backend)}\n")
    return cluster


@pytest.fixture(params=database_backends(), ids=combination_id)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    database_url = pg_name = None
    if request.param == "postgres":
        # A copy of the migrated template: the cluster's `dupgate migrate` finds nothing to do.
        database_url, pg_name = migrated_postgres()
    cluster = create_cluster(request.param, database_url)
    yield cluster
    cluster.close()
    if pg_name:
        drop_migrated_postgres(pg_name)


def test_after_a_redis_restart_every_upload_is_decided_once_within_seconds(
    cluster: Cluster,
) -> None:
    cluster.start(workers=1, concurrency=1)
    collection = f"redis-{uuid.uuid4().hex[:6]}"
    cluster.put_collection(collection)
    sent = [cluster.upload(collection, content) for content in photos(10, start=200)]

    # The embedded Redis keeps nothing on disk: the queued messages die with it.
    cluster.stop_redis()
    ready = cluster.client.get("/readyz")
    refused = cluster.post(collection, photos(1, start=230)[0])
    assert cluster.client.get("/healthz").status_code == 200
    cluster.start_redis()
    fault_end = datetime.now(UTC)

    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"]["ok"] is False
    assert ready.json()["checks"]["database"]["ok"] is True
    assert refused.status_code == 503
    assert refused.json()["code"] == "broker_unavailable"
    assert refused.headers["Retry-After"] == "1"
    outcome = wait_decided(cluster, sent, timeout=60)
    assert not outcome.lost and not outcome.undecided and not outcome.decided_twice
    assert not outcome.failed
    assert outcome.last_decided_after(fault_end) < 30
    assert cluster.client.get("/readyz").status_code == 200


def test_uploads_of_a_killed_worker_host_are_taken_over_by_lease(cluster: Cluster) -> None:
    cluster.start(workers=0)
    survivor = cluster.start_worker(concurrency=1, beat=True)
    doomed = cluster.start_worker(concurrency=1)
    collection = f"host-{uuid.uuid4().hex[:6]}"
    cluster.put_collection(collection)
    sent = [cluster.upload(collection, content) for content in photos(12, start=300)]

    # Kill the doomed worker (and its pool) while it holds an upload, as a host that dies.
    engine = cluster.engine()
    deadline = time.monotonic() + 60
    held: list[str] = []
    while not held:
        assert time.monotonic() < deadline, "the doomed worker never took an upload"
        with engine.connect() as c:
            rows = c.execute(
                text("SELECT id, lease_owner FROM uploads WHERE status = 'processing'")
            ).all()
        held = [i for i, owner in rows if _pgid(owner) == doomed.pid]
        time.sleep(0.005)
    cluster.kill(doomed)
    fault_end = datetime.now(UTC)
    engine.dispose()

    outcome = wait_decided(cluster, sent, timeout=60)
    assert survivor.poll() is None
    assert not outcome.lost and not outcome.undecided and not outcome.decided_twice
    assert not outcome.failed
    assert outcome.rows[held[0]][2] == 2  # the killed run and the one that took over
    assert outcome.last_decided_after(fault_end) < 30


def test_a_full_disk_answers_507_and_every_upload_is_decided_once_it_is_freed() -> None:
    # A real ENOSPC without root: every part runs in a user and mount namespace whose data
    # directory is a 48 MiB tmpfs, filled from outside through /proc/<pid>/root.
    settings = dict(FAST, DUPGATE_MAX_UPLOAD_BYTES=str(8 << 20))  # /readyz wants room for one
    cluster = Cluster.create(settings=settings, tmpfs_mib=48)
    try:
        cluster.start(concurrency=1)
        collection = f"disk-{uuid.uuid4().hex[:6]}"
        cluster.put_collection(collection)
        sent = [cluster.upload(collection, content) for content in photos(8, start=400)]
        before = faults_met(cluster)
        filler = cluster.visible_data_dir / "filler"
        with filler.open("wb") as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        refused = cluster.post(collection, photos(1, start=430)[0])
        ready = cluster.client.get("/readyz")
        # The workers meet the full disk too, and wait (unless they had decided everything).
        wait_until(
            lambda: faults_met(cluster, before) or not cluster.outcome(sent).undecided,
            timeout=60,
            interval=0.5,  # reading the outcome copies the database
            what="a worker met the full disk",
        )
        filler.unlink()
        fault_end = datetime.now(UTC)

        assert_refused_then_decided(
            cluster, sent, refused, ready, (507, "insufficient_storage", "storage"), fault_end
        )
        assert cluster.post(collection, photos(1, start=430)[0]).status_code == 202
    finally:
        cluster.close()


@pytest.mark.parametrize("backend", ["postgres"], ids=combination_id)
def test_a_postgres_outage_answers_503_and_every_upload_is_decided_once_it_ends(
    backend: str,
) -> None:
    url, name = fresh_postgres_database()
    cluster = create_cluster(backend, url)
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    try:
        cluster.start(workers=1, concurrency=2)
        collection = f"pg-{uuid.uuid4().hex[:6]}"
        cluster.put_collection(collection)
        sent = [cluster.upload(collection, content) for content in photos(10, start=500)]
        before = faults_met(cluster)
        # The database goes away: no new connections, and every open one is cut.
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            c.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        refused = cluster.post(collection, photos(1, start=530)[0])
        ready = cluster.client.get("/readyz")
        # The outage lasts until a worker has met it (it holds uploads it cannot decide).
        wait_until(lambda: faults_met(cluster, before), timeout=60, what="a worker met it")
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        fault_end = datetime.now(UTC)

        assert_refused_then_decided(
            cluster, sent, refused, ready, (503, "database_unavailable", "database"), fault_end
        )
    finally:
        cluster.close()
        admin.dispose()
        drop_postgres_database(name)


def assert_refused_then_decided(
    cluster: Cluster,
    sent: list[str],
    refused: httpx.Response,
    ready: httpx.Response,
    fault: tuple[int, str, str],
    fault_end: datetime,
) -> None:
    """What a user sees of a fault: an upload during it refused with `fault`'s status and code
    and a Retry-After, /readyz failing `fault`'s check; and every upload sent before it decided,
    once, within 30 s of its end."""
    status, code, check = fault
    assert refused.status_code == status, refused.text
    assert refused.json()["code"] == code
    assert "Retry-After" in refused.headers
    assert ready.status_code == 503 and ready.json()["checks"][check]["ok"] is False
    outcome = wait_decided(cluster, sent, timeout=60)
    assert not outcome.lost and not outcome.undecided and not outcome.decided_twice
    assert not outcome.failed
    assert outcome.last_decided_after(fault_end) < 30


def faults_met(cluster: Cluster, before: int = 0) -> int:
    """How many transient faults the workers have met (and retry) beyond `before`."""
    return cluster.log.read_text(errors="replace").count("transient fault (") - before


def _pgid(owner: str | None) -> int | None:
    # A lease owner is "<run>@<host>:<pid>"; the test's workers each lead a process group.
    try:
        return os.getpgid(int((owner or "").rsplit(":", 1)[1]))
    except (IndexError, ValueError, ProcessLookupError):
        return None
