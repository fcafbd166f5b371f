"""`dupgate serve`: the gateway, the workers and an embedded Redis as child processes, stopped together."""

import os
import secrets
import signal
import subprocess
import sys
import time

import typer

from dupgate.cli import embedded_redis
from dupgate.settings import QUEUES, Settings, embedded_redis_url, get_settings
from dupgate.store.db import session_scope
from dupgate.tenancy.keys import ALL_TENANTS, OPERATOR, issue_key
from dupgate.vocabulary import Scope


def start_parts(
    settings: Settings,
    children: list[subprocess.Popen[bytes]],
    host: str,
    port: int,
    workers: int,
) -> None:
    """Start the embedded Redis (unless one is configured), the workers and the gateway; print
    how to use them. `children` receives each part as it starts."""
    env = dict(os.environ, DUPGATE_DATA_DIR=str(settings.data_dir.resolve()))
    if settings.redis_url is None:
        children.append(embedded_redis.start(settings.data_dir))
        env["DUPGATE_REDIS_URL"] = embedded_redis_url(settings.data_dir)
    key = settings.bootstrap_key
    if key is None:
        with session_scope(settings.resolved_database_url) as session:
            _, key = issue_key(
                session, OPERATOR, ALL_TENANTS, [Scope.ADMIN], "printed by dupgate serve"
            )
    env.setdefault("DUPGATE_ANALYSIS_THREADS", str(threads_per_process(workers)))
    children.append(subprocess.Popen(worker_argv(workers, beat=True), env=env))
    children.append(
        subprocess.Popen([*gateway_argv(host, port), "--log-level", "warning"], env=env)
    )
    url = f"http://{host}:{port}"
    typer.echo(f"dupgate is serving on {url} (data in {settings.data_dir.resolve()})")
    if settings.bootstrap_key is None:
        # A key made just now for this run: printing it is the only way to hand it over.
        typer.echo(f"API key: {key}")
        auth = f"'Authorization: Bearer {key}'"
    else:
        # The operator's own secret: logs outlive it and are read by more people; never echo it.
        typer.echo("API key: the one in DUPGATE_BOOTSTRAP_KEY")
        auth = '"Authorization: Bearer $DUPGATE_BOOTSTRAP_KEY"'
    typer.echo(
        f"try: curl -X PUT -H {auth} -H 'Content-Type: application/json' "
        f"-d '{{}}' {url}/v1/collections/demo\n"
        f"     curl -H {auth} -F file=@photo.jpg "
        f"{url}/v1/collections/demo/images\n"
        f"     curl -H {auth} -F file=@clip.mp4 "
        f"{url}/v1/collections/demo/videos\n"
        f"console: {url}/admin (sign in with the key)"
    )


def gateway_argv(host: str, port: int) -> list[str]:
    """The command line of a gateway process (uvicorn serving dupgate.gateway.app)."""
    # A factory, so that the gateway's logging is configured (DUPGATE_LOG_FORMAT) only in the
    # process that serves it, not wherever the app module is imported (tests, tools).
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "dupgate.gateway.app:serving_app",
        "--host",
        host,
        "--port",
        str(port),
    ]


def threads_per_process(processes: int) -> int:
    """Share the cores among worker processes instead of oversubscribing them."""
    return max(1, (os.cpu_count() or 1) // max(1, processes))


def worker_argv(concurrency: int, beat: bool, queues: str = ",".join(QUEUES)) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "dupgate.workers.app",
        "worker",
        "--queues",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"dupgate-{secrets.token_hex(3)}@%h",
    ]
    return argv + (
        ["--beat", "--schedule", str(get_settings().data_dir / "celerybeat-schedule")]
        if beat
        else []
    )


def supervise(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait until Ctrl-C (or SIGTERM) or until a child dies, then stop them all in reverse order."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # SIGINT too, explicitly: a shell starting `dupgate serve &` without job control makes it
    # ignore SIGINT, and Ctrl-C (or kill -INT) must still stop it.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and all(c.poll() is None for c in children):
        time.sleep(0.2)
    stop_all(children)
    failed = [str(c.args) for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stopping:
        typer.echo(f"stopped because a part exited: {failed}", err=True)
        raise typer.Exit(1)


def stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    """Stop the started parts, the last started first."""
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    for child in reversed(children):
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
