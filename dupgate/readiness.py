"""Whether this process can do its work now: the database, the broker and the blob storage."""

import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import redis
from sqlalchemy import text

from dupgate.settings import Settings, embedded_redis_url
from dupgate.store.blobs import BlobStore
from dupgate.store.db import get_engine
from dupgate.store.s3 import S3BlobStore


@dataclass(frozen=True)
class Check:
    """One dependency's state: up or not, why not, and how long asking took."""

    ok: bool
    ms: float
    error: str | None = None


def broker_url(settings: Settings) -> str:
    """The Redis the workers consume from (the embedded one unless DUPGATE_REDIS_URL is set)."""
    return settings.redis_url or embedded_redis_url(settings.data_dir)


@lru_cache(maxsize=4)
def broker_client(url: str, timeout: float = 1.0) -> redis.Redis:
    """A client of the broker at `url` (redis:// or Celery's redis+socket://), one per URL."""
    # Celery spells a unix socket redis+socket://; redis-py spells it unix://.
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def check_broker(url: str, timeout: float = 1.0) -> Check:
    """Whether the broker answers a PING within `timeout` seconds."""
    return _timed(lambda: broker_client(url, timeout).ping())


def check_database(url: str) -> Check:
    """Whether the database answers a query."""

    def ask() -> None:
        with get_engine(url).connect() as connection:
            connection.execute(text("SELECT 1"))

    return _timed(ask)


def check_storage(root: Path, min_free_bytes: int) -> Check:
    """Whether a blob can be written under `root`: it is writable and has room for one upload."""

    def ask() -> None:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".ready-{uuid.uuid4().hex}"
        try:
            with probe.open("wb") as f:
                f.write(b"ready")
                f.flush()
                os.fsync(f.fileno())
        finally:
            probe.unlink(missing_ok=True)
        free = shutil.disk_usage(root).free
        if free < min_free_bytes:
            raise OSError(f"{free} bytes free, less than one upload ({min_free_bytes})")

    return _timed(ask)


def check_bucket(store: S3BlobStore) -> Check:
    """Whether the bucket answers (a HEAD on it) with these credentials."""
    return _timed(store.check_bucket)


def readiness(settings: Settings, store: BlobStore) -> dict[str, Check]:
    """Every dependency of the gateway and the workers, checked now (`store`: the process's
    own blob store, whose client is made once)."""
    return {
        "database": check_database(settings.resolved_database_url),
        "broker": check_broker(broker_url(settings)),
        "storage": (
            check_bucket(store)
            if isinstance(store, S3BlobStore)
            else check_storage(settings.blob_dir, settings.max_upload_bytes)
        ),
    }


def _timed(ask: Callable[[], object]) -> Check:
    started = time.perf_counter()
    try:
        ask()
    except Exception as e:
        return Check(False, (time.perf_counter() - started) * 1000, f"{type(e).__name__}: {e}")
    return Check(True, (time.perf_counter() - started) * 1000)
