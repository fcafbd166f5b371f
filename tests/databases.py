"""Test databases: SQLite, and PostgreSQL: the server DUPGATE_TEST_POSTGRES_URL names, or else
the session's embedded PostgreSQL (tests/postgres.py), started on first use.

The schema is migrated once per test session, into a template of each backend; every test then
gets a copy of its own instead of a migration: a copied SQLite file, or a database made with
`CREATE DATABASE ... TEMPLATE` ahead of the test. tests/unit/test_migrations.py still migrates
from scratch.
"""

import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.postgres import session_postgres, stop_session_postgres

# Read once: what a test does to the environment cannot lose the databases made under it.
POSTGRES_URL = os.environ.get("DUPGATE_TEST_POSTGRES_URL")

# The migrated templates of this test session, made on first use (see `drop_templates`).
_sqlite_template: Path | None = None
_postgres_template: str | None = None


def database_backends() -> list[str]:
    return ["sqlite", "postgres"]


def admin_url() -> str:
    """A superuser's URL on the PostgreSQL of the tests: DUPGATE_TEST_POSTGRES_URL, or the
    session's embedded PostgreSQL (started now if it is not running yet)."""
    return POSTGRES_URL or session_postgres().url


@functools.cache
def postgres_has_pgvector() -> bool:
    """Whether the PostgreSQL of the tests can make the `vector` extension (pgvector)."""
    admin = create_engine(make_url(admin_url()))
    try:
        with admin.connect() as c:
            found = c.execute(
                text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            ).first()
    finally:
        admin.dispose()
    return found is not None


def _admin_execute(statement: str) -> None:
    admin = create_engine(make_url(admin_url()), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(statement))
    finally:
        admin.dispose()


def fresh_postgres_database(template: str | None = None) -> tuple[str, str]:
    """Create a PostgreSQL database on the tests' server (`admin_url`), empty or a copy of
    `template`; returns (url, name)."""
    base = make_url(admin_url())
    name = f"dupgate_test_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return base.set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(name: str) -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_template() -> Path:
    """This session's migrated SQLite file (made on first use)."""
    global _sqlite_template
    if _sqlite_template is None:
        from dupgate.store.db import migrate

        path = Path(tempfile.mkdtemp(prefix="dupgate-template-")) / "template.db"
        migrate(f"sqlite:///{path}")  # its engine is disposed: the file is complete
        _sqlite_template = path
    return _sqlite_template


def migrated_sqlite(path: Path) -> str:
    """A migrated SQLite database at `path` (a copy of the session's template); its URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template(), path)
    return f"sqlite:///{path}"


def postgres_template() -> str:
    """The name of this session's migrated PostgreSQL template database (made on first use)."""
    global _postgres_template
    if _postgres_template is None:
        from dupgate.store.db import migrate

        url, name = fresh_postgres_database()
        try:
            migrate(url)  # its engine is disposed: no session is left on the template
        except BaseException:
            drop_postgres_database(name)
            raise
        _postgres_template = name
    return _postgres_template


class _PostgresCopies:
    """Copies of the template, a few made ahead and the used ones dropped in the background:
    creating and dropping a database each take a good part of a second, mostly waiting on the
    disk, which a test need not wait for."""

    ahead = 3

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._ready: deque[Future[tuple[str, str]]] = deque()
        self._drops: list[Future[None]] = []

    def take(self) -> tuple[str, str]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.ahead, thread_name_prefix="test-databases")
        template = postgres_template()
        while len(self._ready) <= self.ahead:
            self._ready.append(self._pool.submit(fresh_postgres_database, template))
        return self._ready.popleft().result()

    def drop(self, name: str) -> None:
        if self._pool is None:
            drop_postgres_database(name)
        else:
            self._drops.append(self._pool.submit(drop_postgres_database, name))

    def close(self) -> None:
        if self._pool is None:
            return
        for unused in self._ready:
            with contextlib.suppress(Exception):
                self.drop(unused.result()[1])
        for dropped in self._drops:
            dropped.result()
        self._pool.shutdown()
        self._pool, self._ready, self._drops = None, deque(), []


_copies = _PostgresCopies()


def migrated_postgres() -> tuple[str, str]:
    """A new migrated PostgreSQL database (a copy of the session's template): (url, name);
    give it back with `drop_migrated_postgres`."""
    return _copies.take()


def drop_migrated_postgres(name: str) -> None:
    """Drop a database of `migrated_postgres` (in the background; done by `drop_templates`)."""
    _copies.drop(name)


def drop_templates() -> None:
    """Remove the session's templates, wait for the copies to be dropped, and stop the
    session's embedded PostgreSQL (if it was started)."""
    global _postgres_template, _sqlite_template
    try:
        _copies.close()
        if _postgres_template is not None:
            drop_postgres_database(_postgres_template)
    finally:
        stop_session_postgres()
        if _sqlite_template is not None:
            shutil.rmtree(_sqlite_template.parent, ignore_errors=True)
        _postgres_template = _sqlite_template = None
