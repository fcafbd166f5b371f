"""Engine and session factory, and the check that the schema is migrated."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class NotMigrated(RuntimeError):
    """The database schema is older than this code."""


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL and process."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # We emit BEGIN ourselves (below); pysqlite's implicit BEGIN comes too late.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets the gateway read while a worker writes; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            # Every transaction takes the write lock first (waiting on busy_timeout) and reads
            # the newest snapshot after. A deferred one that reads, then writes, fails at once
            # with SQLITE_BUSY when another process committed in between. Transactions here are
            # short, so serializing them costs little on the single-host embedded default.
            # A read-only session (read_scope) never writes, so it needs no write lock
            # and must not hold up the writers: hundreds of long-polls read beside them.
            # query_only makes a write there fail loudly instead of taking the lock.
            if connection.get_execution_options().get("dupgate_read_only"):
                connection.exec_driver_sql("PRAGMA query_only=ON")
                connection.exec_driver_sql("BEGIN")
            else:
                connection.exec_driver_sql("PRAGMA query_only=OFF")
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def get_sessionmaker(url: str) -> sessionmaker[Session]:
    """A session factory bound to the engine for `url`."""
    return sessionmaker(get_engine(url), expire_on_commit=False)


@lru_cache(maxsize=8)
def _read_only_sessionmaker(url: str) -> sessionmaker[Session]:
    # PostgreSQL refuses writes in it too (SET TRANSACTION READ ONLY), so none is lost unseen.
    options = {} if url.startswith("sqlite") else {"postgresql_readonly": True}
    return sessionmaker(
        get_engine(url).execution_options(dupgate_read_only=True, **options),
        expire_on_commit=False,
    )


@contextmanager
def read_scope(url: str) -> Iterator[Session]:
    """A short read-only snapshot, closed when the block ends; it never writes or locks."""
    session = _read_only_sessionmaker(url)()
    try:
        yield session
    finally:
        session.close()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    """Alembic's config for `url`, without an alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the schema at `url` to the newest revision."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def check_migrated(url: str) -> None:
    """Raise NotMigrated, naming the command to run, unless the schema is at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with get_engine(url).connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current != head:
        raise NotMigrated(
            f"The database is at revision {current or 'none (empty)'}, this dupgate needs {head}. "
            "Run `dupgate migrate` (with the same DUPGATE_DATABASE_URL) and start again."
        )
