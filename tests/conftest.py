"""Shared fixtures: real photos from ../shared/datasets, databases (SQLite, PostgreSQL) migrated
once per session, the session's servers, and the app in this process.

The servers a session needs are started by it, on first use, and stopped at its end: the
embedded PostgreSQL (tests/postgres.py, unless DUPGATE_TEST_POSTGRES_URL names another), the
S3 server (tests/s3.py) and embedded Redis."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import browser, chromium  # noqa: F401 - the report tests open pages in it
from tests.databases import (
    database_backends,
    drop_migrated_postgres,
    drop_templates,
    migrated_postgres,
    migrated_sqlite,
)
from tests.s3 import S3Server, session_s3, stop_session_s3
from tests.servers import (
    Server,
    combination_id,
    embedded_broker,
    in_process_server,
    running_server,
)

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
PHOTOS = DATASETS / "imagenet-sample"


def photo(name: str) -> Path:
    """A real photo from the shared ImageNet sample, by the start of its file name."""
    found = sorted(PHOTOS.glob(f"{name}*"))
    if not found:
        pytest.skip(f"the shared dataset {PHOTOS} is not here")
    return found[0]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow (CI does: .ci/run)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: runs with --run-slow, as in CI (.ci/run)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session) -> None:
    try:
        drop_templates()  # and stops the embedded PostgreSQL
    finally:
        stop_session_s3()


@pytest.fixture(params=database_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own: SQLite, and PostgreSQL (a copy of the session's
    migrated template, on DUPGATE_TEST_POSTGRES_URL's server or the embedded one)."""
    from dupgate.store.db import get_engine

    if request.param == "sqlite":
        url = migrated_sqlite(tmp_path / "dupgate.db")
        yield url
        get_engine(url).dispose()
    else:
        url, name = migrated_postgres()
        yield url
        get_engine(url).dispose()
        drop_migrated_postgres(name)


@pytest.fixture(scope="session", params=database_backends(), ids=combination_id)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """`dupgate serve` with 2 worker processes: on SQLite with local blobs and hnswlib, and on
    PostgreSQL with blobs in S3 and the pgvector index (where it has pgvector; see
    `tests.servers.combination`, which names the test ids). One of each for the whole
    session, shared by every test that needs workers (each makes its own collections, or
    tenant)."""
    with running_server(request.param) as served:
        yield served


@pytest.fixture(scope="session")
def s3() -> S3Server:
    """The session's S3-compatible server (SeaweedFS); each test makes buckets of its own."""
    return session_s3()


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """The session's embedded Redis for the app in this process (which no worker consumes)."""
    with embedded_broker() as url:
        yield url


@pytest.fixture
def api(
    database_url: str, broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """The real app in this process, on a migrated database of its own (SQLite and PostgreSQL)
    and a real broker, but no worker: for HTTP behaviour that needs none. Driven like
    `server`, through Starlette's TestClient."""
    with in_process_server(monkeypatch, database_url, tmp_path / "data", broker) as served:
        yield served
