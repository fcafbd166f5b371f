"""Index benchmark: does the embedding index find a planted neighbour at SSCD cosine 0.2-0.5?

    .venv/bin/python -m benchmarks.index [--sizes 100000,1000000] [--queries 500]
                                         [--efs 128,256,512] [--ms 16,32] [--all-ms-up-to 100000]
                                         [--hnsw-up-to N] [--threads 2]
                                         [--build-budget 480] [--output RESULTS.md]

Real SSCD vectors of 2,900 photos, 500 of them held out as queries, each with a planted
neighbour at cosine 0.2, 0.3, 0.4 and 0.5 in an index filled to each size with distractors
(dataset.py says how). For each size: recall@20 (EMBEDDING_CANDIDATES) and per-query time of
exact search (float32 matrix product) and of hnswlib at each M and ef; then the time of one
exact query against 10k-100k vectors, which sets EXACT_SEARCH_MAX in index/embeddings.py.

Built indexes are cached in /tmp/dupgate-index-bench. A build that would pass --build-budget
seconds is saved where it stopped and continued by the next run; that size's hnswlib rows are
then reported as skipped. Timings are on one thread (BLAS included): an upload's query runs alone.
"""

import os

# One BLAS thread: the per-query times are those of one upload on one core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import hnswlib  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.index.dataset import CACHE, COSINES, HERE, collection, real_embeddings  # noqa: E402
from benchmarks.index.measure import (  # noqa: E402
    K,
    Row,
    exact_latency,
    hnsw_index,
    measure_exact,
    measure_hnsw,
)
from dupgate.index.embeddings import EXACT_SEARCH_MAX, HNSW_EF  # noqa: E402

LATENCY_SIZES = [10_000, 20_000, 30_000, 50_000, 75_000, 100_000]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def table(rows: list[Row]) -> list[str]:
    head = " | ".join(f"cos {c}" for c in COSINES)
    lines = [
        f"| search | {head} | ms / query | memory | build |",
        "|---|" + "---:|" * (len(COSINES) + 3),
    ]
    for row in rows:
        name = "exact (numpy)" if row.method == "exact" else f"hnswlib M={row.m} ef={row.ef}"
        cells = " | ".join(f"{row.recall[c]:.1%}" for c in COSINES)
        build = f"{row.build_seconds:,.0f} s" if row.build_seconds is not None else "–"
        lines.append(
            f"| {name} | {cells} | {row.ms_per_query:.2f} | {mib(row.memory_bytes)} | {build} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.index")
    parser.add_argument("--sizes", type=ints, default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--efs", type=ints, default=[128, 256, 512])
    parser.add_argument("--ms", type=ints, default=[16, 32])
    parser.add_argument(
        "--all-ms-up-to", type=int, default=100_000, help="larger sizes: first M only"
    )
    parser.add_argument(
        "--hnsw-up-to", type=int, default=10**9, help="larger sizes: exact search only"
    )
    parser.add_argument("--threads", type=int, default=2, help="hnswlib build threads")
    parser.add_argument(
        "--build-budget", type=float, default=480.0, help="seconds of building per run"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    started = time.monotonic()
    deadline = started + args.build_budget
    real = real_embeddings()
    print(f"{len(real):,} real SSCD vectors", flush=True)
    sections: list[str] = []
    skipped: list[str] = []
    latency_vectors: np.ndarray | None = None
    latency_queries: np.ndarray | None = None
    for size in args.sizes:
        coll = collection(real, size, args.queries, seed=args.seed)
        if latency_vectors is None:
            latency_vectors, latency_queries = coll.vectors[: max(LATENCY_SIZES)], coll.queries
        rows = [measure_exact(coll)]
        print(f"n={size:,} exact: {rows[-1].recall}", flush=True)
        if size > args.hnsw_up_to:
            skipped.append(f"hnswlib at {size:,}: not built (--hnsw-up-to {args.hnsw_up_to:,})")
            sections += [f"### {size:,} vectors", "", *table(rows), ""]
            continue
        for m in args.ms if size <= args.all_ms_up_to else args.ms[:1]:
            index, seconds, memory = hnsw_index(coll, m, args.seed, args.threads, deadline)
            if index is None:
                skipped.append(
                    f"hnswlib M={m} at {size:,}: not built within --build-budget "
                    f"({args.build_budget:,.0f} s); {seconds:,.0f} s of building so far, saved in "
                    f"{CACHE}: rerun (with a larger budget) to continue it"
                )
                continue
            for ef in args.efs:
                rows.append(measure_hnsw(coll, index, m, ef, seconds, memory))
                print(
                    f"n={size:,} M={m} ef={ef}: {rows[-1].recall} {rows[-1].ms_per_query:.2f} ms",
                    flush=True,
                )
            del index
        sections += [f"### {size:,} vectors", "", *table(rows), ""]
        del coll

    lines = [
        "# Index benchmark: recall of planted neighbours at low SSCD cosine",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores "
        f"(shared), numpy {np.__version__}, hnswlib {getattr(hnswlib, '__version__', '?')}; "
        f"`python -m benchmarks.index {' '.join(sys.argv[1:])}` (see README.md). {args.queries} queries (real photos held "
        f"out of the index), each with one planted neighbour per cosine; recall@{K} "
        f"(EMBEDDING_CANDIDATES). Times: one query vector at a time on one thread. Memory: "
        f"exact = the float32 matrix; hnswlib = its saved index (vectors and graph). "
        f"Build: hnswlib, ef_construction=200, {args.threads} threads.",
        "",
        *sections,
    ]
    if skipped:
        lines += ["Skipped:", "", *(f"- {s}" for s in skipped), ""]
    if latency_vectors is not None and latency_queries is not None:
        lines += [
            "### Exact search time against the index size",
            "",
            "One query (a matrix product over the contiguous float32 matrix, then a top-20), one thread:",
            "",
            "| vectors | 1 query vector | 2 (whole + a view) | matrix |",
            "|---:|---:|---:|---:|",
        ]
        for n, one, two in exact_latency(latency_vectors, latency_queries, LATENCY_SIZES):
            lines.append(f"| {n:,} | {one:.2f} ms | {two:.2f} ms | {mib(n * 512 * 4)} |")
        lines += [
            "",
            f"index/embeddings.py as committed: EXACT_SEARCH_MAX = {EXACT_SEARCH_MAX:,}, "
            f"HNSW_EF = {HNSW_EF} above it.",
            "",
        ]
    text = "\n".join(lines)
    print(text)
    args.output.write_text(text)
    print(f"wrote {args.output} in {time.monotonic() - started:,.0f} s")


if __name__ == "__main__":
    main()
