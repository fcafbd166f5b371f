"""A database made before tenants existed upgrades without losing what it had."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from dupgate.db import alembic_config, get_engine, migrate, session_scope
from dupgate.keys import authenticate, hash_key
from dupgate.models import PolicyVersion
from tests.conftest import database_backends, drop_postgres_database, fresh_postgres_database


@pytest.fixture(params=database_backends())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url, name = fresh_postgres_database()
    yield url
    get_engine(url).dispose()
    drop_postgres_database(name)


def test_collections_and_keys_of_0001_keep_working_after_0002(empty_database: str) -> None:
    url = empty_database
    command.upgrade(alembic_config(url), "0001")
    with get_engine(url).begin() as c:
        c.execute(
            text(
                "INSERT INTO collections (name, exact_threshold, near_threshold, action_exact, "
                "action_near, action_unique, decisions, created_at, updated_at) VALUES "
                "('shop', 0.96, 0.5, 'reject', 'hold', 'accept', 7, :t, :t)"
            ),
            {"t": "2026-11-01 10:00:00"},
        )
        c.execute(
            text("INSERT INTO api_keys (id, key_hash, name, created_at) VALUES (:i, :h, 'ci', :t)"),
            {"i": str(uuid.uuid4()), "h": hash_key("dg_old"), "t": "2026-11-01 10:00:00"},
        )
        c.execute(
            text(
                "INSERT INTO index_changes (collection, image_id, op, created_at) "
                "VALUES ('shop', 'img-1', 'remove', :t)"
            ),
            {"t": "2026-11-01 10:00:00"},
        )
    get_engine(url).dispose()

    migrate(url)

    with session_scope(url) as s:
        caller = authenticate(s, "dg_old", None)
        assert caller is not None and caller.all_tenants and caller.can("admin")
        row = s.execute(text("SELECT tenant, policy_version FROM collections")).one()
        assert tuple(row) == ("default", 1)
        (version,) = s.query(PolicyVersion).all()
        assert (version.collection, version.version, version.near_threshold) == ("shop", 1, 0.5)
        assert version.actions == {"exact": "reject", "near": "hold", "unique": "accept"}
        # What the index replays stays the collection's images, not its blocklist.
        assert s.execute(text("SELECT kind FROM index_changes")).scalar() == "images"
