"""A real dupgate of separate processes (Redis, gateway, workers) that a fault can be done to.

Used by the chaos script and by the recovery tests: each part is its own process (group), so
one can be killed, restarted or starved of disk while the others go on.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from dupgate.cli import embedded_redis
from dupgate.settings import embedded_redis_url

ROOT = Path(__file__).resolve().parents[2]
KEY = "chaos-bootstrap-key"
PHOTOS = ROOT.parent / "shared" / "datasets" / "imagenet-sample"

# Recovery settings a fault test can wait for: seconds, not the shipped minutes.
FAST = {
    "DUPGATE_UPLOAD_LEASE_SECONDS": "3",
    "DUPGATE_STALE_UPLOAD_SECONDS": "4",
    "DUPGATE_REQUEUE_SWEEP_SECONDS": "1",
    "DUPGATE_RETRY_AFTER_SECONDS": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def photos(count: int, start: int = 0) -> list[bytes]:
    """Real, different photos from the shared ImageNet sample."""
    found = sorted(PHOTOS.glob("*.JPEG"))[start : start + count]
    if len(found) < count:
        raise FileNotFoundError(f"need {count} photos in {PHOTOS}")
    return [p.read_bytes() for p in found]


@dataclass
class Cluster:
    """Processes of one dupgate sharing a data directory and a database."""

    data_dir: Path
    database_url: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    # Run every part in a user and mount namespace with the data directory on a tmpfs of
    # this many MiB, so that the disk can really fill up (no root needed).
    tmpfs_mib: int | None = None
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis: subprocess.Popen[bytes] | None = None
    web: subprocess.Popen[bytes] | None = None
    _client: httpx.Client | None = None

    @classmethod
    def create(cls, database_url: str | None = None, **kwargs: Any) -> "Cluster":
        # The embedded Redis listens on a unix socket, whose path must stay short.
        data_dir = Path(tempfile.mkdtemp(prefix="dgc-", dir="/tmp"))
        return cls(data_dir, database_url, **kwargs)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir.with_suffix(".log")

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUPGATE_")}
        env.update(
            DUPGATE_DATA_DIR=str(self.data_dir),
            DUPGATE_BOOTSTRAP_KEY=KEY,
            DUPGATE_ANALYSIS_THREADS="1",
            PYTHONPATH=str(ROOT),
        )
        if self.tmpfs_mib is None:  # else `dupgate serve` starts its own, inside
            env["DUPGATE_REDIS_URL"] = embedded_redis_url(self.data_dir)
        if self.database_url:
            env["DUPGATE_DATABASE_URL"] = self.database_url
        env.update(self.settings)
        return env

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            # A session of its own, so that a part and its children are killed together.
            process = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def dupgate(self, *args: str) -> subprocess.Popen[bytes]:
        return self._spawn([sys.executable, "-m", "dupgate.cli", *args])

    # -- the parts -----------------------------------------------------------------------

    def start(self, workers: int = 1, concurrency: int = 1) -> "Cluster":
        """Redis, the schema, the gateway and `workers` worker processes (the first runs beat)."""
        if self.tmpfs_mib is not None:
            return self._start_on_tmpfs(concurrency)
        self.start_redis()
        subprocess.run(
            [sys.executable, "-m", "dupgate.cli", "migrate"], env=self.env, cwd=ROOT, check=True
        )
        self.web = self.dupgate("web", "--port", str(self.port))
        for n in range(workers):
            self.start_worker(concurrency, beat=n == 0)
        self.wait_ready()
        return self

    def _start_on_tmpfs(self, concurrency: int) -> "Cluster":
        # `dupgate serve` starts Redis, a worker with beat and the gateway, all inside.
        mount = f'mount -t tmpfs -o size={self.tmpfs_mib}m tmpfs "$0" && exec "$@"'
        serve = [sys.executable, "-m", "dupgate.cli", "serve", "--port", str(self.port)]
        argv = ["unshare", "-rm", "sh", "-c", mount, str(self.data_dir), *serve]
        argv += ["--workers", str(concurrency)]
        with self.log.open("ab") as out:
            self.web = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(self.web)
        self.wait_ready()
        return self

    @property
    def visible_data_dir(self) -> Path:
        """The data directory as this process can reach it (inside the namespace, if any)."""
        if self.tmpfs_mib is None:
            return self.data_dir
        assert self.web is not None
        return Path(f"/proc/{self.web.pid}/root{self.data_dir}")

    def start_redis(self) -> None:
        self.redis = embedded_redis.start(self.data_dir)

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()  # nothing kept on disk: every queued message is lost
        self.redis.wait()
        self.redis = None

    def start_worker(self, concurrency: int = 1, beat: bool = False) -> subprocess.Popen[bytes]:
        argv = ["worker", "--concurrency", str(concurrency)] + (["--beat"] if beat else [])
        return self.dupgate(*argv)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL a part and its children at once, as when its host dies."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web is not None and self.web.poll() is not None:
                raise RuntimeError(f"the gateway exited; see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"dupgate was not ready in {timeout}s; see {self.log}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir.with_suffix(".copy"), ignore_errors=True)

    # -- the API and the database ----------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"Authorization": f"Bearer {KEY}"}
            self._client = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        return self._client

    def put_collection(self, name: str) -> None:
        r = self.client.put(f"/v1/collections/{name}", json={})
        r.raise_for_status()

    def post(self, collection: str, content: bytes, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.client.post(
            f"/v1/collections/{collection}/images",
            files={"file": ("photo.jpg", content)},
            headers=headers,
        )

    def upload(self, collection: str, content: bytes) -> str:
        r = self.post(collection, content)
        assert r.status_code == 202, r.text
        return str(r.json()["upload_id"])

    def engine(self) -> Engine:
        if self.database_url:
            return create_engine(self.database_url)
        path = self.visible_data_dir / "dupgate.db"
        if self.tmpfs_mib is not None:
            # SQLite resolves /proc/<pid>/root to this namespace's "/": read a copy instead
            # (the database and its write-ahead log; SQLite rebuilds the index of the log).
            copy = self.data_dir.with_suffix(".copy")
            copy.mkdir(exist_ok=True)
            for suffix in ("", "-wal"):
                shutil.copyfile(f"{path}{suffix}", copy / f"dupgate.db{suffix}")
            (copy / "dupgate.db-shm").unlink(missing_ok=True)
            path = copy / "dupgate.db"
        return create_engine(f"sqlite:///{path}")

    def outcome(self, upload_ids: Iterable[str]) -> "Outcome":
        """What the database says about these uploads now."""
        ids = set(upload_ids)
        engine = self.engine()
        try:
            with engine.connect() as c:
                rows = c.execute(text("SELECT id, status, decided_at, attempts FROM uploads"))
                uploads = {r[0]: (r[1], r[2], r[3]) for r in rows if r[0] in ids}
                decided_events: dict[str, int] = {}
                events = c.execute(text("SELECT data FROM events WHERE type = 'upload.decided'"))
                for (data,) in events:
                    found = (json.loads(data) if isinstance(data, str) else data)["upload_id"]
                    decided_events[found] = decided_events.get(found, 0) + 1
                images = c.execute(text("SELECT upload_id FROM images")).scalars().all()
        finally:
            engine.dispose()
        committed: dict[str, int] = {}
        for upload_id in images:
            committed[upload_id] = committed.get(upload_id, 0) + 1
        return Outcome(ids, uploads, decided_events, committed)


@dataclass
class Outcome:
    """Uploads sent, and what became of each."""

    sent: set[str]
    rows: dict[str, tuple[str, Any, int]]  # id -> (status, decided_at, attempts)
    decided_events: dict[str, int]
    committed: dict[str, int]

    @property
    def lost(self) -> set[str]:
        """Sent (answered 202) but not in the database at all."""
        return self.sent - set(self.rows)

    @property
    def undecided(self) -> set[str]:
        return {i for i, (status, _, _) in self.rows.items() if status not in ("decided", "failed")}

    @property
    def decided_twice(self) -> set[str]:
        twice = {i for i in self.sent if self.decided_events.get(i, 0) > 1}
        return twice | {i for i in self.sent if self.committed.get(i, 0) > 1}

    def last_decided_after(self, moment: datetime) -> float:
        """Seconds from `moment` to the last decision (0 if all came before it)."""
        times = [as_utc(d) for status, d, _ in self.rows.values() if d is not None]
        return max([(t - moment).total_seconds() for t in times] + [0.0])

    @property
    def failed(self) -> set[str]:
        return {i for i, (status, _, _) in self.rows.items() if status == "failed"}


def wait_decided(cluster: Cluster, upload_ids: list[str], timeout: float) -> Outcome:
    """Wait until every upload is decided (or failed), or `timeout` passes; the outcome then."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = cluster.outcome(upload_ids)
        if not outcome.undecided and not outcome.lost or time.monotonic() > deadline:
            return outcome
        time.sleep(0.5)


def as_utc(value: Any) -> datetime:
    """A time read back from SQLite (text, no zone) or PostgreSQL (aware) as aware UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
