"""Scan benchmark, server path: a full scan job of a stored collection, as a worker runs it.

    .venv/bin/python -m benchmarks.scan.server [--sizes 10000,100000] [--postgres URL]

The __main__ benchmark times the engine alone. This one times what `POST
/v1/collections/{c}/scans` costs a worker: `dupgate.scans.jobs.run_scan` on a fresh process
with an empty index cache, so it reads every image's stored features from the database,
rebuilds the collection's index, groups, and writes the groups back. The collection is put in
the database beforehand (untimed) with the same features as the engine benchmark (dataset.py:
10k real, larger sizes synthetic), as rows that uploads would have committed. Each size runs in
a fresh process on a fresh database: SQLite in a temporary folder, and each PostgreSQL database
named by --postgres (its tables are dropped before each size: give it an empty database of its
own). Writes benchmarks/scan/RESULTS-server.md.
"""

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from benchmarks.scan.dataset import HERE, real_collection
from benchmarks.scan.measure import collection, gib, provenance, quality, seconds
from dupgate.matching.registry import IndexRegistry
from dupgate.scans.jobs import create_scan, run_scan
from dupgate.scans.scope import ScanFilter
from dupgate.store.db import get_engine, migrate, session_scope
from dupgate.store.models import Base, Image, ImageFeatures, IndexChange, Scan, ScanGroup
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP

RESULTS = HERE / "RESULTS-server.md"
COLLECTION = "bench"
BATCH = 5_000


def store_collection(url: str, size: int, workers: int, name: str = COLLECTION) -> list[str]:
    """Put the benchmark collection into the database as committed images; their ids in order."""
    items = collection(size, workers)
    ids = [str(uuid.uuid4()) for _ in items]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(url) as session:
        put_collection(session, name, PolicyChange(tenant="bench"), BOOTSTRAP)
    for first in range(0, len(items), BATCH):
        chunk = range(first, min(first + BATCH, len(items)))
        with session_scope(url) as session:
            session.execute(
                insert(ImageFeatures),
                [
                    {
                        "sha256": items[p].features.sha256,
                        "version": items[p].features.version,
                        "data": items[p].features.to_bytes(),
                    }
                    for p in chunk
                ],
            )
            session.execute(
                insert(Image),
                [
                    {
                        "id": ids[p],
                        "collection": name,
                        "sha256": items[p].features.sha256,
                        "blob_key": f"images/{ids[p]}",
                        "external_id": items[p].key,
                        "labels": [],
                        "width": items[p].features.width,
                        "height": items[p].features.height,
                        "format": items[p].features.format,
                        "size": items[p].size,
                        "created_at": start + timedelta(seconds=p),
                        "updated_at": start + timedelta(seconds=p),
                    }
                    for p in chunk
                ],
            )
            session.execute(
                insert(IndexChange),
                [
                    {
                        "collection": name,
                        "kind": "images",
                        "image_id": ids[p],
                        "op": "add",
                        "sha256": items[p].features.sha256,
                    }
                    for p in chunk
                ],
            )
    return ids


def measure_server(url: str, size: int, workers: int, out: str) -> None:
    """In a fresh process: store the collection, then time one scan job; figures to `out`."""
    migrate(url)
    ids = store_collection(url, size, workers)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with session_scope(url) as session:
        scan_id = create_scan(
            session,
            put_collection(session, COLLECTION, PolicyChange(), BOOTSTRAP),
            None,
            ScanFilter(),
            BOOTSTRAP,
        ).id
    started = time.perf_counter()
    run_scan(lambda: session_scope(url), IndexRegistry(), scan_id, stale_after=timedelta(minutes=5))
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with session_scope(url) as session:
        scan = session.get_one(Scan, scan_id)
        assert scan.status == "done", (scan.status, scan.error)
        rows = session.scalars(select(ScanGroup.images).where(ScanGroup.scan_id == scan_id)).all()
    position = {image_id: p for p, image_id in enumerate(ids)}
    groups = [[position[image_id] for image_id in images] for images in rows]
    items = collection(size, workers)
    result = {
        "size": size,
        "scan_job_s": elapsed,
        "peak_bytes": peak,
        "bytes_before_scan": rss_before,
        "done": scan.done,
        "total": scan.total,
        **quality(items, groups),
    }
    Path(out).write_text(json.dumps(result))


def clear(url: str) -> None:
    """Drop every table (and alembic's) of a PostgreSQL benchmark database."""
    engine = get_engine(url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def run_size(size: int, workers: int, postgres_url: str | None) -> dict[str, Any]:
    """One size on a fresh SQLite database, or on the PostgreSQL one emptied."""
    with tempfile.TemporaryDirectory(prefix="dg-scan-server-") as folder:
        url = postgres_url or f"sqlite:///{folder}/dupgate.db"
        if postgres_url:
            clear(postgres_url)
        out = os.path.join(folder, "result.json")
        process = multiprocessing.get_context("spawn").Process(
            target=measure_server, args=(url, size, workers, out)
        )
        process.start()
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"the {size:,}-image scan job failed (exit {process.exitcode})")
        result: dict[str, Any] = json.loads(Path(out).read_text())
    result["database"] = "PostgreSQL" if postgres_url else "SQLite"
    return result


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Scan benchmark: the scan job, as a worker runs it",
        "",
        *provenance("benchmarks.scan.server"),
        "",
        "What is timed: `run_scan` of a full-collection scan in a fresh process with an empty",
        "index cache, from claiming the scan to its groups written: reading every image's stored",
        "features from the database, rebuilding the index, grouping at the collection's near",
        "threshold (0.40), writing the groups. Images and features are the engine benchmark's",
        "(RESULTS.md: 10k real, 100k synthetic), stored beforehand as committed images (untimed).",
        "Peak memory is the process's, which made and stored the collection first.",
        "",
        "| images | database | scan job | peak memory | groups | copies grouped with their original | groups mixing photos |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['size']:,} | {row['database']} | {seconds(row['scan_job_s'])} | "
            f"{gib(row['peak_bytes'])} | {row['groups']:,} | {row['copies_found']:.1%} | "
            f"{row['mixing']:,} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scan.server", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--postgres",
        action="append",
        default=[],
        help="also run on this PostgreSQL database (its tables are dropped first!)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    real_collection(args.workers)  # analyse (or load) the 10k set once, before timing anything
    rows = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        print(f"scan job on {size:,} images", flush=True)
        for postgres_url in [None, *args.postgres]:
            rows.append(run_size(size, args.workers, postgres_url))
            print(f"  {json.dumps(rows[-1])}", flush=True)
    text = report(rows)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
