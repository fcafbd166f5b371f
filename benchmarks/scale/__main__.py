"""Scale benchmark: upload decisions on one collection of 10^5 / 10^6 images, pgvector and hnswlib.

    .venv/bin/python -m benchmarks.scale [--sizes 100000,1000000] [--photos 50]

For each size: a PostgreSQL database holding the collection (database.py, built once and kept
under /tmp), exact search's candidates for the queries (numpy), then for each backend a fresh
process that decides every query as a worker does (measure.py). Writes
benchmarks/scale/RESULTS.md; raw figures go to /tmp/dupgate-scale-bench/results-<size>.json.
"""

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.scale import database, measure
from benchmarks.scale.data import queries as pick_queries
from benchmarks.scale.data import real_set
from benchmarks.scale.report import report

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
# The hnswlib worker is not started where it would not fit: its replay holds every stored
# feature of the collection, decoded (~3.2x their bytes on disk, measured at 2x10^4).
HNSWLIB_MEMORY_SHARE = 0.8


def resident(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def in_process(
    target: Callable[..., None], args: tuple[Any, ...], timeout: float, max_rss: float
) -> str:
    """Run target(*args, out) in a fresh (spawned) process and return what it wrote to `out`.

    The process is stopped (TimeoutError) past `timeout` seconds or `max_rss` bytes resident:
    the machine is shared, and running out of memory would take others' work down with it.
    """
    with tempfile.TemporaryDirectory(prefix="dg-scale-") as folder:
        out = os.path.join(folder, "out.json")
        process = multiprocessing.get_context("spawn").Process(target=target, args=(*args, out))
        process.start()
        assert process.pid is not None
        deadline = time.monotonic() + timeout
        reason = None
        while process.is_alive():
            process.join(1.0)
            rss = resident(process.pid)
            if rss > max_rss:
                reason = f"stopped at {rss / 2**30:.1f} GiB resident (the cap)"
            elif time.monotonic() > deadline:
                reason = f"stopped after {timeout / 60:.0f} min"
            if reason and process.is_alive():
                process.terminate()
                process.join()
                raise TimeoutError(reason)
        if process.exitcode != 0:
            raise RuntimeError(f"exit code {process.exitcode}")
        return Path(out).read_text()


def available_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable")


def hnswlib_estimate(size: int, meta: dict[str, Any], measured: list[dict[str, Any]]) -> int:
    """Bytes an hnswlib worker is expected to peak at: scaled from a smaller size of this run
    if one was measured, else twice the stored features plus 2.5 KiB per image."""
    done = [m for m in measured if m.get("peak")]
    if done:
        base = max(done, key=lambda m: m["size"])
        return int(base["peak"] * size / base["size"])
    return int(3.2 * meta["sizes"]["image_features_total"])


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory:.1f} GiB memory, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", default="pgvector,hnswlib")
    parser.add_argument("--photos", type=int, default=50, help="originals whose copies are queried")
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the queries")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--timeout", type=float, default=30, help="minutes one backend's measurement may take"
    )
    parser.add_argument(
        "--max-rss", type=float, default=18, help="GiB resident at which a measurement is stopped"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the databases afresh")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--add-to-previous",
        action="store_true",
        help="keep the last run's figures of each size and add these (labelled as a rerun)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report from the figures the last run of each size left under /tmp",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.report_only:
        saved = [json.loads((database.CACHE / f"results-{s}.json").read_text()) for s in sizes]
        args.output.write_text(
            report([run for size in saved for run in size["runs"]], **saved[0]["context"])
        )
        return
    started = datetime.now(UTC)
    real = real_set(args.workers)
    server = database.start_server()
    backends = [b for b in args.backends.split(",") if b]
    with psycopg.connect(server.get_uri()) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'),"
            " (SELECT default_version FROM pg_available_extensions WHERE name = 'vector')"
        ).fetchone()
    assert row is not None
    context: dict[str, Any] = {
        "command": ("python -m benchmarks.scale " + shlex.join(argv)).strip(),
        "started": f"{started:%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "photos": args.photos,
        "passes": args.passes,
        "server": {"postgres": f"PostgreSQL {row[0]}", "pgvector": str(row[1])},
    }
    results: list[dict[str, Any]] = []
    cap = args.max_rss * 2**30
    for size in sizes:
        print(f"== {size:,} images", flush=True)
        meta = database.ensure_database(server, real, size, rebuild=args.rebuild)
        url = database.database_url(server, size)
        measured, warmup = pick_queries(real, size, args.photos)
        queries_file = database.CACHE / f"queries-{size}.pkl"
        measure.save_queries(queries_file, measured, warmup)
        print(f"  exact search for {len(measured)} queries", flush=True)
        exact = json.loads(
            in_process(
                measure.exact_candidates,
                (size, args.workers, str(queries_file), 20),
                args.timeout * 60,
                cap,
            )
        )
        runs: list[dict[str, Any]] = []
        for backend in backends:
            run: dict[str, Any] = {"backend": backend, "size": size}
            if backend == "hnswlib":
                measured_hnswlib = [
                    r["run"] for r in results if r["run"].get("backend") == "hnswlib"
                ]
                need = hnswlib_estimate(size, meta, measured_hnswlib)
                have = available_memory()
                if need > min(HNSWLIB_MEMORY_SHARE * have, cap):
                    run["skipped"] = (
                        f"not run: an hnswlib worker would need about {need / 2**30:.0f} GiB "
                        f"(estimated from {'the smaller size measured' if measured_hnswlib else 'the stored features'}), "
                        f"where {have / 2**30:.0f} GiB of memory was available and "
                        f"measurements are stopped at {cap / 2**30:.0f} GiB"
                    )
                    print(f"  hnswlib {run['skipped']}", flush=True)
                    runs.append(run)
                    continue
            print(f"  {backend}: a fresh worker process", flush=True)
            began = time.perf_counter()
            try:
                text = in_process(
                    measure.measure_backend,
                    (backend, url, size, str(queries_file), args.passes),
                    args.timeout * 60,
                    cap,
                )
                run.update(json.loads(text))
            except (TimeoutError, RuntimeError) as e:
                run["failed"] = f"did not finish: {e}"
                print(f"  {backend} {run['failed']}", flush=True)
            run["wall_s"] = time.perf_counter() - began
            runs.append(run)
        if "hnswlib" in backends:
            # The hnswlib index alone, on the same images: where the whole worker was not run,
            # the only hnswlib figures; where it was, a check that the two agree.
            print("  hnswlib's index alone: a fresh process", flush=True)
            run = {"backend": "hnswlib-index", "size": size}
            try:
                text = in_process(
                    measure.measure_hnswlib_index,
                    (url, size, args.workers, str(queries_file), args.passes),
                    args.timeout * 60,
                    cap,
                )
                run.update(json.loads(text))
            except (TimeoutError, RuntimeError) as e:
                run["failed"] = f"did not finish: {e}"
                print(f"  hnswlib-index {run['failed']}", flush=True)
            runs.append(run)
        for run in runs:
            results.append({"size": size, "meta": meta, "exact": exact, "run": run})
        saved_file = database.CACHE / f"results-{size}.json"
        mine = [r for r in results if r["size"] == size]
        if args.add_to_previous and saved_file.exists():
            previous = json.loads(saved_file.read_text())
            for r in mine:
                r["run"]["label"] = f"{r['run']['backend']}, rerun {context['started'][11:16]}"
            reruns = [*previous["context"].get("reruns", []), context["command"]]
            merged = {"context": previous["context"] | {"reruns": reruns}}
            merged["runs"] = previous["runs"] + mine
            saved_file.write_text(json.dumps(merged))
        else:
            saved_file.write_text(json.dumps({"context": context, "runs": mine}))
    if args.add_to_previous:
        saved_runs = [json.loads((database.CACHE / f"results-{s}.json").read_text()) for s in sizes]
        results = [run for size in saved_runs for run in size["runs"]]
        context = saved_runs[0]["context"]
    text = report(results, **context)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
