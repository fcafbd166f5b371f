"""The `dupgate` command: serve, run the parts separately, migrate, and manage API keys."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from dupgate.cli import embedded_redis
from dupgate.cli.supervisor import (
    gateway_argv,
    start_parts,
    stop_all,
    supervise,
    threads_per_process,
    worker_argv,
)
from dupgate.matching.pgvector import VectorIndexMissing, check_vector_index
from dupgate.settings import QUEUES, Settings, get_settings
from dupgate.store.db import NotMigrated, check_migrated, migrate, session_scope
from dupgate.tenancy.keys import DEFAULT_TENANT, OPERATOR, InvalidKeyRequest, issue_key

app = typer.Typer(help="dupgate: an ingestion gatekeeper for images.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="where SQLite, blobs and the embedded Redis live")
]


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["DUPGATE_DATA_DIR"] = str(data_dir.resolve())
        get_settings.cache_clear()
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _ready_database(settings: Settings) -> None:
    """Migrate the embedded SQLite; refuse an unmigrated external database, saying what to run."""
    url = settings.resolved_database_url
    if settings.uses_embedded_sqlite:
        migrate(url)
    try:
        check_migrated(url)
        if settings.index_backend == "pgvector":
            check_vector_index(url)
    except (NotMigrated, VectorIndexMissing) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e


def _require_redis(settings: Settings) -> None:
    """The separate parts need a Redis that someone else started."""
    if settings.redis_url is None and not embedded_redis.is_running(settings.data_dir):
        typer.echo(
            "error: no Redis to connect to. Set DUPGATE_REDIS_URL (e.g. redis://127.0.0.1:6379/0), "
            "or run `dupgate serve`, which starts an embedded one.",
            err=True,
        )
        raise typer.Exit(2)


@app.command("migrate")
def migrate_command(data_dir: DataDir = None) -> None:
    """Create or upgrade the database schema (DUPGATE_DATABASE_URL, else SQLite in the data dir)."""
    settings = _settings(data_dir)
    migrate(settings.resolved_database_url)
    typer.echo(f"database at the newest schema: {settings.resolved_database_url}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[
        str, typer.Option(help='the tenant the key acts for; "*" for every tenant')
    ] = DEFAULT_TENANT,
    scopes: Annotated[
        str,
        typer.Option(help="comma-separated: upload (send, check, read own uploads), read, admin"),
    ] = "admin",
    name: Annotated[str | None, typer.Option(help="a label for the key")] = None,
    data_dir: DataDir = None,
) -> None:
    """Make an API key and print it (it is stored hashed and cannot be shown again)."""
    settings = _settings(data_dir)
    _ready_database(settings)
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    try:
        with session_scope(settings.resolved_database_url) as session:
            _, key = issue_key(session, OPERATOR, tenant, wanted, name)
    except InvalidKeyRequest as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(key)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="Celery worker processes")] = 2,
    data_dir: DataDir = None,
) -> None:
    """Start the gateway, a worker pool and (unless DUPGATE_REDIS_URL is set) an embedded Redis."""
    settings = _settings(data_dir)
    _ready_database(settings)
    children: list[subprocess.Popen[bytes]] = []
    try:
        start_parts(settings, children, host, port, workers)
    except BaseException:  # Ctrl-C while starting, or a part that could not start
        stop_all(children)
        raise
    supervise(children)


@app.command()
def web(host: str = "127.0.0.1", port: int = 8000, data_dir: DataDir = None) -> None:
    """Run only the gateway (set DUPGATE_REDIS_URL to the workers' Redis)."""
    settings = _settings(data_dir)
    _ready_database(settings)
    _require_redis(settings)
    os.execv(sys.executable, gateway_argv(host, port))


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="worker processes")] = 2,
    beat: Annotated[
        bool, typer.Option(help="also run the periodic sweeps (stale uploads, due webhooks)")
    ] = False,
    queues: Annotated[
        str, typer.Option(help="comma-separated queues to consume (uploads run on 'celery')")
    ] = ",".join(QUEUES),
    data_dir: DataDir = None,
) -> None:
    """Run only a Celery worker pool (set DUPGATE_REDIS_URL to the gateway's Redis)."""
    settings = _settings(data_dir)
    _ready_database(settings)
    _require_redis(settings)
    os.environ.setdefault("DUPGATE_ANALYSIS_THREADS", str(threads_per_process(concurrency)))
    os.execv(sys.executable, worker_argv(concurrency, beat, queues))


@app.command()
def reanalyze(data_dir: DataDir = None) -> None:
    """Re-analyse committed images and videos whose features are of an older analysis version.

    Safe to run while dupgate serves: each picture or video is re-analysed from its blob and
    committed on its own, and the workers' indexes take the new features on their next catch-up.
    """
    from functools import partial

    from tqdm import tqdm

    from dupgate.analysis.video import VideoLimits
    from dupgate.services import get_services
    from dupgate.uploads.reanalysis import reanalyze as run
    from dupgate.uploads.reanalysis import stale_count

    settings = _settings(data_dir)
    _ready_database(settings)
    services = get_services()
    transaction = partial(session_scope, services.database_url)
    with transaction() as session:
        total = stale_count(session)
    with tqdm(total=total, unit="file", desc="re-analysing") as bar:
        result = run(
            transaction,
            services.store,
            services.embedder,
            max_pixels=settings.max_pixels,
            video_limits=VideoLimits(
                settings.max_video_seconds, settings.max_video_pixels, settings.max_video_frames
            ),
            progress=bar.update,
        )
    images = f"{result.images} image{'' if result.images == 1 else 's'}"
    videos = f"{result.videos} video{'' if result.videos == 1 else 's'}"
    typer.echo(f"re-analysed {images} and {videos}; {result.failed} could not be read")


@app.command()
def scan(
    directory: Annotated[Path, typer.Argument(help="the folder to scan, recursively")],
    threshold: Annotated[
        float | None, typer.Option(help="lowest score of a duplicate (default 0.40, as uploads)")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="write the HTML report here")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the groups here")] = None,
) -> None:
    """Group the duplicate images of a local folder: no server, Redis or database needed."""
    from dupgate.cli.folder import run_scan
    from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR

    if not directory.is_dir():
        typer.echo(f"error: {directory} is not a folder", err=True)
        raise typer.Exit(2)
    near = DEFAULT_NEAR if threshold is None else threshold
    typer.echo(
        run_scan(directory, threshold=near, exact=DEFAULT_EXACT, report=report, json_path=json_path)
    )


@app.command()
def ingest(
    directory: Annotated[Path, typer.Argument(help="the folder to upload, recursively")],
    collection: Annotated[str, typer.Option(help="the collection to upload into")],
    url: Annotated[str, typer.Option(envvar="DUPGATE_URL")] = "http://127.0.0.1:8000",
    key: Annotated[str | None, typer.Option(envvar="DUPGATE_API_KEY", help="API key")] = None,
) -> None:
    """Send every image of a folder through a running dupgate and count the decisions."""
    from dupgate.cli.ingest import IngestError, ingest_folder, summary

    try:
        typer.echo(summary(ingest_folder(directory, collection, url=url, key=key)))
    except IngestError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e


if __name__ == "__main__":
    app()
