"""A worker killed with SIGKILL mid-task loses no upload, and none is committed twice: on
SQLite with local blobs and hnswlib, and on PostgreSQL with blobs in S3 and pgvector (see
`tests.servers.combination`)."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from benchmarks.chaos.cluster import as_utc
from dupgate.cli import embedded_redis
from dupgate.settings import embedded_redis_url
from tests.conftest import PHOTOS
from tests.databases import database_backends, drop_migrated_postgres, migrated_postgres
from tests.servers import (
    KEY,
    POSTGRES_S3_PGVECTOR,
    ROOT,
    Server,
    base_env,
    combination,
    combination_id,
    combination_settings,
    free_port,
    short_tmp_dir,
    wait_healthy,
)
from tests.waiting import wait_until


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # A session of its own, so the worker and its pool children can be killed together.
        return subprocess.Popen(
            [sys.executable, "-m", "dupgate.cli", *argv],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )


@pytest.mark.parametrize("backend", database_backends(), ids=combination_id)
def test_sigkilled_worker_loses_no_upload(backend: str) -> None:
    data_dir = short_tmp_dir()
    database_url = pg_name = None
    if backend == "postgres":
        # A copy of the migrated template: `dupgate migrate` below finds nothing to do.
        database_url, pg_name = migrated_postgres()
    redis = embedded_redis.start(data_dir)
    env = base_env(
        data_dir,
        database_url,
        DUPGATE_REDIS_URL=embedded_redis_url(data_dir),
        DUPGATE_TASK_VISIBILITY_TIMEOUT="5",
        DUPGATE_STALE_UPLOAD_SECONDS="3",
        DUPGATE_UPLOAD_LEASE_SECONDS="2",
        **(settings := combination_settings(backend)),
    )
    log = data_dir / "processes.log"
    log.write_text(f"tests: on {combination(backend)}\n")
    subprocess.run([sys.executable, "-m", "dupgate.cli", "migrate"], env=env, cwd=ROOT, check=True)
    port = free_port()
    web = start(["web", "--port", str(port)], env, log)
    worker = start(["worker", "--concurrency", "1"], env, log)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    # Autocommit: each read sees what the server has committed by then.
    engine = create_engine(
        database_url or f"sqlite:///{data_dir / 'dupgate.db'}", isolation_level="AUTOCOMMIT"
    )
    try:
        wait_healthy(url, web, log)
        server = Server(url, data_dir, database_url, client, log, settings=settings)
        collection = f"crash-{uuid.uuid4().hex[:6]}"
        server.put_collection(collection)
        photos = sorted(PHOTOS.glob("*.JPEG"))[100:112]
        if len(photos) < 12:
            pytest.skip(f"the shared dataset {PHOTOS} is not here")
        ids = [server.upload(collection, p.read_bytes()) for p in photos]

        # A task takes a fraction of a second, too short to catch through HTTP polling: read
        # the database directly to kill the worker while an upload is being processed.
        processing = text("SELECT id, lease_until FROM uploads WHERE status = 'processing'")
        with engine.connect() as database:
            deadline = time.monotonic() + 60
            while not database.execute(processing).first():
                assert time.monotonic() < deadline, "the worker never started an upload"
                time.sleep(0.002)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            interrupted = database.execute(processing).all()
        assert interrupted, "the worker finished its task before it was killed"

        # The restarted worker finds the interrupted upload's lease expired and enqueues it
        # again (the broker would also redeliver the unacknowledged message after its
        # visibility timeout). Nobody extends the dead worker's lease: it runs out at
        # lease_until (in UTC: without its zone on SQLite).
        lease_until = as_utc(interrupted[0][1])
        wait_until(lambda: datetime.now(UTC) > lease_until, timeout=30, what="lease ran out")

        worker = start(["worker", "--concurrency", "1"], env, log)
        decisions = [server.decided(i, timeout=120)["decision"] for i in ids]

        assert [d["action"] for d in decisions] == ["accepted"] * len(ids)
        with engine.connect() as database:
            committed = database.execute(text("SELECT upload_id FROM images")).scalars().all()
            changes = database.execute(text("SELECT count(*) FROM index_changes")).scalar_one()
            retried = database.execute(
                text("SELECT attempts FROM uploads WHERE id = :id"), {"id": interrupted[0][0]}
            ).scalar_one()
        assert sorted(committed) == sorted(ids)
        assert changes == len(ids)
        assert retried == 2
        if combination(backend) == POSTGRES_S3_PGVECTOR:
            # The index is in PostgreSQL, each image in it once.
            with engine.connect() as database:
                indexed = database.execute(
                    text("SELECT image_id FROM index_entries WHERE kind = 'images'")
                ).scalars()
                assert sorted(indexed) == sorted(ids)
        # No orphan: the store holds each image's blob and preview, and nothing staged is left.
        with engine.connect() as database:
            rows = database.execute(text("SELECT blob_key, sha256 FROM images")).all()
        blobs = server.blobs()
        assert {b.key for b in blobs.list("images/")} == {key for key, _ in rows}
        assert {b.key for b in blobs.list("previews/")} == {
            f"previews/{sha256}.jpg" for _, sha256 in rows
        }
        assert not list(blobs.list("staging/"))
    finally:
        engine.dispose()
        client.close()
        for process in (web, worker):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        redis.terminate()
        redis.wait()
        if pg_name:
            drop_migrated_postgres(pg_name)
        shutil.rmtree(data_dir, ignore_errors=True)
