"""Shared fixtures: real photos from ../shared/datasets, and databases (SQLite, PostgreSQL)."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.browser import browser  # noqa: F401 - the report tests open pages in it

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
PHOTOS = DATASETS / "imagenet-sample"


def photo(name: str) -> Path:
    """A real photo from the shared ImageNet sample, by the start of its file name."""
    found = sorted(PHOTOS.glob(f"{name}*"))
    if not found:
        pytest.skip(f"the shared dataset {PHOTOS} is not here")
    return found[0]


def database_backends() -> list[str]:
    return ["sqlite", "postgres"] if os.environ.get("DUPGATE_TEST_POSTGRES_URL") else ["sqlite"]


def fresh_postgres_database() -> tuple[str, str]:
    """Create an empty PostgreSQL database next to DUPGATE_TEST_POSTGRES_URL; returns (url, name)."""
    base = make_url(os.environ["DUPGATE_TEST_POSTGRES_URL"])
    name = f"dupgate_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(name: str) -> None:
    admin = create_engine(
        make_url(os.environ["DUPGATE_TEST_POSTGRES_URL"]), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=database_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database: SQLite always, PostgreSQL where DUPGATE_TEST_POSTGRES_URL is set."""
    from dupgate.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dupgate.db'}"
        migrate(url)
        yield url
    else:
        url, name = fresh_postgres_database()
        migrate(url)
        yield url
        from dupgate.db import get_engine

        get_engine(url).dispose()
        drop_postgres_database(name)
