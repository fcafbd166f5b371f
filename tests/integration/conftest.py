"""A real `dupgate serve` (gateway, Celery worker processes, embedded Redis) for HTTP tests."""

import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, database_backends, drop_postgres_database, fresh_postgres_database
from tests.receiver import RECEIVER_NETWORKS

KEY = "test-bootstrap-key"
BODY_IDLE_TIMEOUT = 4


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
    log: Path
    # Clients made for other keys, closed with the server's.
    clients: list[httpx.Client] = field(default_factory=list)

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
        client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        self.clients.append(client)
        return Server(self.url, self.data_dir, self.database_url, client, self.log, self.clients)

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


@pytest.fixture(scope="session", params=database_backends())
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """`dupgate serve` with 2 worker processes, on SQLite or a fresh PostgreSQL database."""
    with running_server(request.param) as served:
        yield served


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


@contextmanager
def running_server(backend: str, **settings: str) -> Iterator[Server]:
    """Start `dupgate serve` (2 worker processes) on "sqlite" or a fresh "postgres" database,
    with the test defaults and these extra DUPGATE_* settings."""
    data_dir = short_tmp_dir()
    database_url = pg_name = None
    if backend == "postgres":
        database_url, pg_name = fresh_postgres_database()
        subprocess.run(
            [sys.executable, "-m", "dupgate.cli", "migrate"],
            env=base_env(data_dir, database_url),
            check=True,
            cwd=ROOT,
        )
    port = free_port()
    log = data_dir / "serve.log"
    defaults = {
        "DUPGATE_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
        # Webhook retries within seconds, not minutes, so a test sees several attempts.
        "DUPGATE_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "DUPGATE_WEBHOOK_SWEEP_SECONDS": "0.5",
        "DUPGATE_WEBHOOK_ALLOWED_NETWORKS": RECEIVER_NETWORKS,
        # A stalled body is refused within seconds, so a test can wait for it.
        "DUPGATE_BODY_IDLE_TIMEOUT_SECONDS": str(BODY_IDLE_TIMEOUT),
    }
    env = base_env(data_dir, database_url, **(defaults | settings))
    with log.open("wb") as out:
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
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        ) as client:
            served = Server(url, data_dir, database_url, client, log)
            yield served
            for other in served.clients:
                other.close()
    finally:
        process.send_signal(2)  # Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if pg_name:
            drop_postgres_database(pg_name)
        shutil.rmtree(data_dir, ignore_errors=True)
