"""Dupgate for HTTP tests: a real `dupgate serve` (gateway, Celery worker processes, embedded
Redis), or, where no worker is needed, the real app in this process, driven with Starlette's
TestClient (or served by uvicorn in a thread, where a real connection is). All are driven
through the same `Server`."""

import asyncio
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from dupgate.cli import embedded_redis
from dupgate.settings import embedded_redis_url
from dupgate.store.blobs import BlobStore, LocalBlobStore
from dupgate.store.s3 import S3BlobStore, s3_client
from tests.databases import (
    POSTGRES_URL,
    drop_migrated_postgres,
    migrated_postgres,
    migrated_sqlite,
    postgres_has_pgvector,
)
from tests.receiver import RECEIVER_NETWORKS
from tests.s3 import session_s3
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent

KEY = "test-bootstrap-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running dupgate and an HTTP client for it."""

    url: str
    data_dir: Path
    database_url: str | None
    client: httpx.Client
    # The spawned server's output; None for the app in this process.
    log: Path | None
    # Clients made for other keys, closed with the server's.
    clients: list[httpx.Client] = field(default_factory=list)
    # A client of the app in this process for a key (None: clients call `url`).
    connect: Callable[[str], httpx.Client] | None = None
    # What a spawned server runs on, as database-blobs-index (as `combination` names them);
    # None for the app in this process.
    combination: str | None = None
    # The DUPGATE_* settings a spawned server was given beyond the test defaults.
    settings: dict[str, str] = field(default_factory=dict)

    def blobs(self) -> BlobStore:
        """The server's blob store, reached from the test: its local folder, or its bucket."""
        if self.settings.get("DUPGATE_BLOB_STORE", "local") == "local":
            return LocalBlobStore(self.data_dir / "blobs")
        client = s3_client(
            self.settings["DUPGATE_S3_ENDPOINT_URL"],
            self.settings.get("DUPGATE_S3_REGION", "us-east-1"),
            self.settings["DUPGATE_S3_ACCESS_KEY_ID"],
            self.settings["DUPGATE_S3_SECRET_ACCESS_KEY"],
        )
        bucket = self.settings["DUPGATE_S3_BUCKET"]
        return S3BlobStore(client, bucket, self.settings.get("DUPGATE_S3_PREFIX", ""))

    def put_collection(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.client.put(f"/v1/collections/{name}", json=body or {})
        assert r.status_code == 200, r.text
        return r.json()

    def post_image(
        self, collection: str, content: bytes, filename: str = "photo.jpg", **fields: str
    ) -> httpx.Response:
        return self.client.post(
            f"/v1/collections/{collection}/images",
            files={"file": (filename, io.BytesIO(content))},
            data=fields,
        )

    def upload(self, collection: str, content: bytes, **fields: str) -> str:
        r = self.post_image(collection, content, **fields)
        assert r.status_code == 202, r.text
        return str(r.json()["upload_id"])

    def decided(self, upload_id: str, timeout: float = 120) -> dict[str, Any]:
        """Long-poll the upload until it is decided or failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.client.get(f"/v1/uploads/{upload_id}", params={"wait": 10})
            assert r.status_code == 200, r.text
            view: dict[str, Any] = r.json()
            if view["status"] in ("decided", "failed"):
                return view
        raise AssertionError(f"upload {upload_id} not decided after {timeout}s; log: {self.log}")

    def decision(self, collection: str, content: bytes, **fields: str) -> dict[str, Any]:
        view = self.decided(self.upload(collection, content, **fields))
        assert view["status"] == "decided", view
        return dict(view["decision"])

    def with_key(self, key: str) -> "Server":
        """The same server, called with another API key."""
        if self.connect is not None:
            client = self.connect(key)
        else:
            client = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            )
        self.clients.append(client)
        return replace(self, client=client)

    def new_key(self, tenant: str, *scopes: str) -> tuple[str, str]:
        """A fresh key of `tenant` with these scopes: (key id, key)."""
        r = self.client.post("/v1/keys", json={"tenant": tenant, "scopes": list(scopes)})
        assert r.status_code == 201, r.text
        return r.json()["id"], r.json()["key"]

    def as_tenant(self, *scopes: str) -> "Server":
        """The server as seen by a key of a fresh tenant (admin unless scopes are given)."""
        _, key = self.new_key(f"t-{uuid.uuid4().hex[:8]}", *(scopes or ("admin",)))
        return self.with_key(key)


def short_tmp_dir() -> Path:
    # The embedded Redis listens on a unix socket, whose path must stay short.
    return Path(tempfile.mkdtemp(prefix="dg-", dir="/tmp"))


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dupgate exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"dupgate did not answer in {timeout}s:\n{log.read_text()}")


def base_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPGATE_")}
    env.update(DUPGATE_DATA_DIR=str(data_dir), DUPGATE_BOOTSTRAP_KEY=KEY, PYTHONPATH=str(ROOT))
    if database_url:
        env["DUPGATE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def server_pids(server: Server, *words: bytes) -> list[int]:
    """The processes of `server` (those started with its data dir) whose command line has
    every one of `words`."""
    mine = f"DUPGATE_DATA_DIR={server.data_dir.resolve()}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(word in argv for word in words) and mine in environ:
            found.append(int(proc.name))
    assert found, f"no process {words} of the server in {server.data_dir}"
    return found


# What every test server runs with, spawned or in this process.
TEST_SETTINGS = {
    "DUPGATE_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
    # Webhook retries within seconds, not minutes, so a test sees several attempts.
    "DUPGATE_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "DUPGATE_WEBHOOK_SWEEP_SECONDS": "0.5",
    "DUPGATE_WEBHOOK_ALLOWED_NETWORKS": RECEIVER_NETWORKS,
}


# What a backend's servers run on, as database-blobs-index: SQLite with local blobs and the
# hnswlib index (the defaults), or PostgreSQL with blobs in S3 and the pgvector index where the
# PostgreSQL has pgvector (the embedded one does), else the defaults on PostgreSQL.
SQLITE_LOCAL_HNSWLIB = "sqlite-local-hnswlib"
POSTGRES_S3_PGVECTOR = "postgres-s3-pgvector"
POSTGRES_LOCAL_HNSWLIB = "postgres-local-hnswlib"


def combination(backend: str) -> str:
    """What the servers of `backend` ("sqlite" or "postgres") run on (starts the session's
    embedded PostgreSQL to ask it, if it is the one)."""
    if backend == "sqlite":
        return SQLITE_LOCAL_HNSWLIB
    if postgres_has_pgvector():
        return POSTGRES_S3_PGVECTOR
    # The test ids (`combination_id`) take the embedded PostgreSQL's pgvector for granted.
    assert POSTGRES_URL, "the embedded PostgreSQL has no pgvector extension"
    return POSTGRES_LOCAL_HNSWLIB


def combination_id(backend: str) -> str:
    """`combination` as a test id, without starting anything: the embedded PostgreSQL bundles
    pgvector; a DUPGATE_TEST_POSTGRES_URL's server is asked."""
    if backend == "postgres" and not POSTGRES_URL:
        return POSTGRES_S3_PGVECTOR
    try:
        return combination(backend)
    except Exception:  # it does not answer now: its tests will say so
        return backend


def combination_settings(backend: str) -> dict[str, str]:
    """The DUPGATE_* settings, besides the database, of `backend`'s combination: on
    postgres-s3-pgvector blobs in a fresh bucket of the session's S3 server and the pgvector
    index; none on the others (local blobs and hnswlib are the defaults)."""
    if combination(backend) != POSTGRES_S3_PGVECTOR:
        return {}
    s3 = session_s3()
    return s3.settings(s3.new_bucket()) | {"DUPGATE_INDEX_BACKEND": "pgvector"}


@contextmanager
def serving(
    url: str, data_dir: Path, database_url: str | None, log: Path | None
) -> Iterator[Server]:
    """A Server for a gateway answering at `url`, with the admin key's client; every client it
    made is closed after."""
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as client:
        served = Server(url, data_dir, database_url, client, log)
        yield served
        for other in served.clients:
            other.close()


@contextmanager
def running_server(backend: str, **settings: str) -> Iterator[Server]:
    """Start `dupgate serve` (2 worker processes) on "sqlite" or a fresh "postgres" database,
    with its `combination`'s blob store and index, the test defaults and these extra DUPGATE_*
    settings.

    The database is a copy of the session's migrated template, as a database that an earlier
    `dupgate migrate` (or `dupgate serve`, on SQLite) left; tests/integration/test_cli.py
    starts one on a fresh data directory."""
    data_dir = short_tmp_dir()
    database_url = pg_name = None
    if backend == "postgres":
        database_url, pg_name = migrated_postgres()
    else:
        migrated_sqlite(data_dir / "dupgate.db")
    port = free_port()
    log = data_dir / "serve.log"
    given = combination_settings(backend) | settings
    env = base_env(data_dir, database_url, **(TEST_SETTINGS | given))
    # The server's log says what it runs on (the settings given can change the combination).
    runs_on = "-".join(
        (
            backend,
            given.get("DUPGATE_BLOB_STORE", "local"),
            given.get("DUPGATE_INDEX_BACKEND", "hnswlib"),
        )
    )
    shown = {k: v for k, v in given.items() if "SECRET" not in k}
    log.write_text(f"tests: dupgate serve on {runs_on} {shown}\n")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dupgate.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        with serving(url, data_dir, database_url, log) as served:
            served.combination, served.settings = runs_on, given
            yield served
    finally:
        process.send_signal(2)  # Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if pg_name:
            drop_migrated_postgres(pg_name)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def embedded_broker() -> Iterator[str]:
    """An embedded Redis of its own (as `dupgate serve` starts one): its broker URL."""
    data_dir = short_tmp_dir()
    process = embedded_redis.start(data_dir)
    try:
        yield embedded_redis_url(data_dir)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def _app_in_process(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    data_dir: Path,
    broker_url: str,
    **settings: str,
) -> Iterator[FastAPI]:
    """The real gateway app, made in this process for `database_url` (migrated) and a real
    broker that no worker consumes, with the test defaults and these extra DUPGATE_* settings.

    The settings and services a process reads once are read again for it, and what the app
    keeps per process (its long-polls' subscription, its rate-limit clients, the callbacks it
    registers after commits) is its own and undone when it ends; `_close_loop_clients` closes
    what it made in the event loop that served it.
    """
    from dupgate.events import audit as events
    from dupgate.services import get_services
    from dupgate.settings import get_settings

    for name in list(os.environ):
        if name.startswith("DUPGATE_") and not name.startswith("DUPGATE_TEST_"):
            monkeypatch.delenv(name)
    env = {
        "DUPGATE_DATA_DIR": str(data_dir),
        "DUPGATE_DATABASE_URL": database_url,
        "DUPGATE_REDIS_URL": broker_url,
        "DUPGATE_BOOTSTRAP_KEY": KEY,
    }
    for name, value in (env | TEST_SETTINGS | settings).items():
        monkeypatch.setenv(name, value)
    # The broker too starts empty: no queued task, rate-limit bucket or message of another test.
    with redis.Redis.from_url(broker_url.replace("redis+socket://", "unix://", 1)) as broker:
        broker.flushall()
    # The app registers callbacks that run after every commit in this process: only its own.
    monkeypatch.setattr(events, "_callbacks", [])
    monkeypatch.setattr(events, "_decided_callbacks", [])
    get_settings.cache_clear()
    get_services.cache_clear()
    # The Celery app reads its broker once, when it is first imported: the same for all.
    workers_app = sys.modules.get("dupgate.workers.app")
    if workers_app is not None:
        assert workers_app.app.conf.broker_url == broker_url, "one broker per test session"

    from dupgate.gateway import rate_limits
    from dupgate.gateway.app import create_app
    from dupgate.gateway.routes import uploads

    # Made on first use inside the event loop that serves the app: new for each app.
    monkeypatch.setattr(uploads, "_waiters", None)
    monkeypatch.setattr(rate_limits, "_clients", {})
    try:
        yield create_app()
    finally:
        get_settings.cache_clear()
        get_services.cache_clear()


async def _close_loop_clients() -> None:
    from dupgate.gateway import rate_limits
    from dupgate.gateway.routes import uploads

    if uploads._waiters is not None:
        await uploads._waiters.close()
    for client in rate_limits._clients.values():
        await client.aclose()


@contextmanager
def in_process_server(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    data_dir: Path,
    broker_url: str,
    **settings: str,
) -> Iterator[Server]:
    """The real gateway app in this process (see `_app_in_process`), driven through
    Starlette's TestClient. For what needs no worker: what is accepted stays queued."""
    from starlette import testclient

    with (
        _app_in_process(monkeypatch, database_url, data_dir, broker_url, **settings) as app,
        testclient.TestClient(
            app,
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {KEY}"},
            follow_redirects=False,  # as httpx, and so the spawned server's clients
        ) as client,
    ):

        def connect(key: str) -> httpx.Client:
            # Another key's client on the same app, event loop and transport.
            other = httpx.Client(
                base_url=client.base_url,
                headers={"Authorization": f"Bearer {key}"},
                transport=client._transport,
            )
            return other

        served = Server(
            str(client.base_url).rstrip("/"), data_dir, database_url, client, None, connect=connect
        )
        try:
            yield served
        finally:
            for other in served.clients:
                other.close()
            client.portal.call(_close_loop_clients)  # type: ignore[union-attr]


@contextmanager
def in_process_http_server(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    data_dir: Path,
    broker_url: str,
    **settings: str,
) -> Iterator[Server]:
    """The real gateway app in this process (see `_app_in_process`), served by uvicorn (as
    `dupgate serve` runs it) in a thread: for what needs a real connection but no worker."""
    import uvicorn

    with _app_in_process(monkeypatch, database_url, data_dir, broker_url, **settings) as app:
        port = free_port()
        # log_config=None: the test process's logging stays as pytest set it.
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
        )

        async def serve() -> None:
            try:
                await server.serve()
            finally:
                await _close_loop_clients()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), name="uvicorn")
        thread.start()
        try:
            wait_until(lambda: server.started or not thread.is_alive(), timeout=30)
            assert server.started, "uvicorn did not start"
            url = f"http://127.0.0.1:{port}"
            with serving(url, data_dir, database_url, None) as served:
                yield served
        finally:
            server.should_exit = True
            thread.join(timeout=30)
