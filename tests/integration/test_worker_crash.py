"""A worker killed with SIGKILL mid-task loses no upload, and none is committed twice."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dupgate.cli import embedded_redis
from dupgate.settings import embedded_redis_url
from tests.conftest import PHOTOS
from tests.servers import KEY, ROOT, Server, base_env, free_port, short_tmp_dir, wait_healthy
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


def test_sigkilled_worker_loses_no_upload() -> None:
    data_dir = short_tmp_dir()
    redis = embedded_redis.start(data_dir)
    env = base_env(
        data_dir,
        None,
        DUPGATE_REDIS_URL=embedded_redis_url(data_dir),
        DUPGATE_TASK_VISIBILITY_TIMEOUT="5",
        DUPGATE_STALE_UPLOAD_SECONDS="3",
        DUPGATE_UPLOAD_LEASE_SECONDS="2",
    )
    log = data_dir / "processes.log"
    subprocess.run([sys.executable, "-m", "dupgate.cli", "migrate"], env=env, cwd=ROOT, check=True)
    port = free_port()
    web = start(["web", "--port", str(port)], env, log)
    worker = start(["worker", "--concurrency", "1"], env, log)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    try:
        wait_healthy(url, web, log)
        server = Server(url, data_dir, None, client, log)
        collection = f"crash-{uuid.uuid4().hex[:6]}"
        server.put_collection(collection)
        photos = sorted(PHOTOS.glob("*.JPEG"))[100:112]
        if len(photos) < 12:
            pytest.skip(f"the shared dataset {PHOTOS} is not here")
        ids = [server.upload(collection, p.read_bytes()) for p in photos]

        # A task takes a fraction of a second, too short to catch through HTTP polling: read
        # the database directly to kill the worker while an upload is being processed.
        database = sqlite3.connect(data_dir / "dupgate.db")
        deadline = time.monotonic() + 60
        while not database.execute("SELECT 1 FROM uploads WHERE status = 'processing'").fetchone():
            assert time.monotonic() < deadline, "the worker never started an upload"
            time.sleep(0.002)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        interrupted = database.execute(
            "SELECT id, lease_until FROM uploads WHERE status = 'processing'"
        ).fetchall()
        database.close()
        assert interrupted, "the worker finished its task before it was killed"

        # The restarted worker finds the interrupted upload's lease expired and enqueues it
        # again (the broker would also redeliver the unacknowledged message after its
        # visibility timeout). Nobody extends the dead worker's lease: it runs out at
        # lease_until (stored in UTC, without its zone).
        lease_until = datetime.fromisoformat(interrupted[0][1]).replace(tzinfo=UTC)
        wait_until(lambda: datetime.now(UTC) > lease_until, timeout=30, what="lease ran out")

        worker = start(["worker", "--concurrency", "1"], env, log)
        decisions = [server.decided(i, timeout=120)["decision"] for i in ids]

        assert [d["action"] for d in decisions] == ["accepted"] * len(ids)
        database = sqlite3.connect(data_dir / "dupgate.db")
        committed = [row[0] for row in database.execute("SELECT upload_id FROM images")]
        (changes,) = database.execute("SELECT count(*) FROM index_changes").fetchone()
        (retried,) = database.execute(
            "SELECT attempts FROM uploads WHERE id = ?", (interrupted[0][0],)
        ).fetchone()
        database.close()
        assert sorted(committed) == sorted(ids)
        assert changes == len(ids)
        assert retried == 2
    finally:
        client.close()
        for process in (web, worker):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        redis.terminate()
        redis.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
