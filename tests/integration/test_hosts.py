"""Stateless workers, shown: two worker "hosts" and two gateway "hosts", each with a data
directory of its own, that share only PostgreSQL (with pgvector: the index), Redis and the S3
bucket. Nothing a decision needs is in a process or on a host's disk, so copies sent at once
to any gateway are decided once, a worker host killed mid-upload loses nothing, and any
gateway serves any image's bytes.

Runs where the PostgreSQL of the tests has pgvector: the embedded one always does.
"""

import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from dupgate.cli import embedded_redis
from dupgate.settings import embedded_redis_url
from tests.conftest import PHOTOS, photo
from tests.databases import drop_migrated_postgres, migrated_postgres, postgres_has_pgvector
from tests.images import resized_jpeg
from tests.s3 import session_s3
from tests.servers import KEY, ROOT, base_env, free_port, short_tmp_dir, wait_healthy


@dataclass
class Hosts:
    """The shared servers' settings, and the dupgate processes started on "hosts"."""

    database_url: str
    shared: dict[str, str]
    bucket: str
    root: Path
    log: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self, host: str) -> dict[str, str]:
        data_dir = self.root / host
        data_dir.mkdir(exist_ok=True)
        return base_env(data_dir, self.database_url, **self.shared)

    def start(self, host: str, *argv: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            out.write(f"--- {host}: dupgate {' '.join(argv)}\n".encode())
            out.flush()
            # A session of its own: a host and its children are killed together.
            process = subprocess.Popen(
                [sys.executable, "-m", "dupgate.cli", *argv],
                env=self.env(host),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.processes[host] = process
        return process

    def gateway(self, host: str) -> httpx.Client:
        port = free_port()
        process = self.start(host, "web", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, self.log)
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)

    def kill(self, host: str) -> None:
        """SIGKILL a host's processes at once, as when the machine dies."""
        process = self.processes.pop(host)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def engine(self) -> Engine:
        # Autocommit: each read sees what the hosts have committed by then.
        return create_engine(self.database_url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if not postgres_has_pgvector():
        pytest.skip("the PostgreSQL of the tests has no pgvector (DUPGATE_TEST_POSTGRES_URL)")
    root = short_tmp_dir()
    redis_dir = root / "redis-host"
    redis = embedded_redis.start(redis_dir)
    database_url, pg_name = migrated_postgres()
    s3 = session_s3()
    bucket = s3.new_bucket()
    shared = s3.settings(bucket) | {
        "DUPGATE_INDEX_BACKEND": "pgvector",
        "DUPGATE_REDIS_URL": embedded_redis_url(redis_dir),
        # A killed host's uploads are taken over within seconds, not minutes.
        "DUPGATE_TASK_VISIBILITY_TIMEOUT": "5",
        "DUPGATE_STALE_UPLOAD_SECONDS": "3",
        "DUPGATE_UPLOAD_LEASE_SECONDS": "2",
        "DUPGATE_REQUEUE_SWEEP_SECONDS": "1",
        "DUPGATE_ANALYSIS_THREADS": "1",
    }
    cluster = Hosts(database_url, shared, bucket, root, root.with_suffix(".log"))
    cluster.log.write_text("tests: hosts sharing PostgreSQL (pgvector), Redis and S3\n")
    try:
        yield cluster
    finally:
        for process in cluster.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in cluster.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        redis.terminate()
        redis.wait()
        drop_migrated_postgres(pg_name)
        shutil.rmtree(root, ignore_errors=True)


def _process_group(owner: str | None) -> int | None:
    # A lease owner is "<run>@<host>:<pid>"; each host's worker leads a process group.
    try:
        return os.getpgid(int((owner or "").rsplit(":", 1)[1]))
    except (IndexError, ValueError, ProcessLookupError):
        return None


def decided(client: httpx.Client, upload_id: str, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view: dict[str, object] = client.get(f"/v1/uploads/{upload_id}", params={"wait": 10}).json()
        if view["status"] in ("decided", "failed"):
            return view
    raise AssertionError(f"upload {upload_id} not decided after {timeout}s")


def upload(client: httpx.Client, collection: str, content: bytes) -> str:
    r = client.post(f"/v1/collections/{collection}/images", files={"file": ("photo.jpg", content)})
    assert r.status_code == 202, r.text
    return str(r.json()["upload_id"])


def test_workers_on_two_hosts_decide_copies_once_survive_a_killed_host_and_any_gateway_serves(
    hosts: Hosts,
) -> None:
    front, back = hosts.gateway("gateway-a"), hosts.gateway("gateway-b")
    hosts.start("worker-a", "worker", "--concurrency", "1", "--beat")
    hosts.start("worker-b", "worker", "--concurrency", "1")
    try:
        # Eight copies of one photo at once, half through each gateway: one is accepted.
        collection = f"hosts-{uuid.uuid4().hex[:6]}"
        assert front.put(f"/v1/collections/{collection}", json={}).status_code == 200
        eagle = photo("n01614925_bald_eagle")
        copies = [resized_jpeg(eagle, scale=0.5 + 0.05 * i, quality=75 + i) for i in range(8)]
        gateways = [front, back] * 4
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            ids = list(
                pool.map(
                    lambda pair: upload(pair[0], collection, pair[1]),
                    zip(gateways, copies, strict=True),
                )
            )
        decisions = [decided(front, i)["decision"] for i in ids]
        accepted = [d for d in decisions if d["action"] == "accepted"]  # type: ignore[index]
        assert len(accepted) == 1, decisions
        original = accepted[0]["image_id"]  # type: ignore[index]
        for d in decisions:
            if d is not accepted[0]:
                assert d["action"] == "rejected" and d["matches"][0]["image_id"] == original  # type: ignore[index]

        # Both gateways serve the image, whichever host staged and committed it.
        bodies = [g.get(f"/v1/images/{original}/content") for g in (front, back)]
        assert [b.status_code for b in bodies] == [200, 200]
        assert bodies[0].content == bodies[1].content and bodies[0].content in copies

        # Kill worker host B, beat-less, while it holds an upload; host A takes it over.
        photos = sorted(PHOTOS.glob("*.JPEG"))[400:412]
        sent = [upload(back, collection, p.read_bytes()) for p in photos]
        doomed = hosts.processes["worker-b"].pid
        engine = hosts.engine()
        held: list[str] = []
        deadline = time.monotonic() + 60
        with engine.connect() as database:
            while not held:
                assert time.monotonic() < deadline, "worker host B never took an upload"
                rows = database.execute(
                    text("SELECT id, lease_owner FROM uploads WHERE status = 'processing'")
                ).all()
                held = [i for i, owner in rows if _process_group(owner) == doomed]
                time.sleep(0.005)
        hosts.kill("worker-b")

        outcomes = [decided(front, i) for i in sent]
        assert [o["status"] for o in outcomes] == ["decided"] * len(sent)
        assert all(o["decision"]["action"] == "accepted" for o in outcomes)  # type: ignore[index]
        with engine.connect() as database:
            images = database.execute(
                text("SELECT id FROM images WHERE collection = :c"), {"c": collection}
            ).scalars()
            indexed = database.execute(
                text("SELECT image_id FROM index_entries WHERE collection = :c"),
                {"c": collection},
            ).scalars()
            assert sorted(images) == sorted(indexed) == sorted([original, *sent])
            taken_over = database.execute(
                text("SELECT attempts FROM uploads WHERE id = :id"), {"id": held[0]}
            ).scalar_one()
        engine.dispose()
        assert taken_over == 2
        # No host wrote a blob to its own disk: every byte is in the bucket.
        for host in ("gateway-a", "gateway-b", "worker-a", "worker-b"):
            blobs = hosts.root / host / "blobs"
            assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*")), host
        for image_id in sent[:3]:
            assert back.get(f"/v1/images/{image_id}/content").status_code == 200
        # Each picture stored once, the rejected copies not at all, nothing staged left over.
        with engine.connect() as database:
            keys = database.execute(text("SELECT blob_key FROM images")).scalars().all()
        engine.dispose()
        bucket = session_s3().store(hosts.bucket)
        assert sorted(b.key for b in bucket.list("images/")) == sorted(keys)
        assert len(keys) == 1 + len(sent)
        assert not list(bucket.list("staging/"))
    finally:
        front.close()
        back.close()
