"""Recall of planted neighbours and query time: exact search and hnswlib at several settings."""

import time
from dataclasses import dataclass

import hnswlib
import numpy as np

from benchmarks.index.dataset import CACHE, COSINES, Collection

K = 20  # index/collection.py's EMBEDDING_CANDIDATES
# Each query has a planted neighbour per cosine; recall() sets the other three aside.
QUERY_K = K + len(COSINES) - 1
EF_CONSTRUCTION = 200  # as index/embeddings.py builds
_BUILD_CHUNK = 50_000


@dataclass
class Row:
    """One search setting at one size: recall@K per planted cosine, time and memory."""

    size: int
    method: str  # "exact" or "hnsw"
    m: int | None
    ef: int | None
    recall: dict[float, float]
    ms_per_query: float
    memory_bytes: int
    build_seconds: float | None = None


def recall(labels: np.ndarray, collection: Collection) -> dict[float, float]:
    """Share of queries whose planted neighbour at each cosine is among their first K results.

    `labels` are nearest first, K + 3 per query: a query's planted neighbours at the other
    cosines are taken out before the first K are kept, so that each is measured as a
    query's only planted neighbour, as a real upload's duplicate would be.
    """
    out = {}
    for cosine, planted in collection.planted.items():
        others = np.stack([p for c, p in collection.planted.items() if c != cosine], axis=1)
        counted = ~np.any(labels[:, :, None] == others[:, None, :], axis=2)
        kept = counted & (np.cumsum(counted, axis=1) <= K)
        out[cosine] = float(np.mean(np.any(kept & (labels == planted[:, None]), axis=1)))
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, chunk: int = 100_000) -> np.ndarray:
    """(q, k) labels of the k largest inner products, a running top-k over chunks of rows."""
    best_labels = np.zeros((len(queries), 0), dtype=np.int64)
    best_sims = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        sims = np.concatenate([best_sims, queries @ vectors[start : start + chunk].T], axis=1)
        labels = np.concatenate(
            [
                best_labels,
                np.broadcast_to(
                    np.arange(start, start + min(chunk, len(vectors) - start)),
                    (len(queries), min(chunk, len(vectors) - start)),
                ),
            ],
            axis=1,
        )
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        best_sims = np.take_along_axis(sims, top, axis=1)
        best_labels = np.take_along_axis(labels, top, axis=1)
    order = np.argsort(-best_sims, axis=1, kind="stable")
    return np.take_along_axis(best_labels, order, axis=1)


def exact_ms(
    vectors: np.ndarray, queries: np.ndarray, per_query: int = 1, repeats: int = 40
) -> float:
    """Mean ms of one query of `per_query` vectors: a matrix product and a top-K, one at a time."""
    times = []
    for i in range(repeats):
        q = queries[[(i + j) % len(queries) for j in range(per_query)]]
        t = time.perf_counter()
        sims = np.stack([vectors @ v for v in q])  # as index/embeddings.py does for few vectors
        np.argpartition(-sims, K - 1, axis=1)[:, :K]
        times.append(time.perf_counter() - t)
    return 1000 * float(np.mean(times[2:]))  # the first runs warm the caches


def measure_exact(collection: Collection) -> Row:
    """Exact search: the ceiling every approximate setting is compared with."""
    labels = exact_top(collection.vectors, collection.queries, QUERY_K)
    return Row(
        size=len(collection.vectors),
        method="exact",
        m=None,
        ef=None,
        recall=recall(labels, collection),
        ms_per_query=exact_ms(collection.vectors, collection.queries),
        memory_bytes=collection.vectors.nbytes,
    )


def hnsw_index(
    collection: Collection, m: int, seed: int, threads: int, deadline: float
) -> tuple[hnswlib.Index | None, float, int]:
    """The built index (cached under /tmp), build seconds and its size; None if past deadline.

    A build stopped at the deadline is saved as it stands and continued by the next run.
    """
    size, dim = collection.vectors.shape
    done = CACHE / f"hnsw-n{size}-m{m}-seed{seed}.bin"
    partial = CACHE / f"hnsw-n{size}-m{m}-seed{seed}.partial.bin"
    seconds_file = CACHE / f"hnsw-n{size}-m{m}-seed{seed}.seconds"
    index = hnswlib.Index(space="ip", dim=dim)
    if done.exists():
        index.load_index(str(done), max_elements=size)
        return index, float(seconds_file.read_text()), done.stat().st_size
    spent = float(seconds_file.read_text()) if seconds_file.exists() else 0.0
    if partial.exists():
        index.load_index(str(partial), max_elements=size)
    else:
        index.init_index(max_elements=size, ef_construction=EF_CONSTRUCTION, M=m, random_seed=seed)
    start = index.element_count
    while start < size:
        if time.monotonic() > deadline:
            if start:
                index.save_index(str(partial))
                seconds_file.write_text(str(spent))
            return None, spent, 0
        stop = min(start + _BUILD_CHUNK, size)
        t = time.perf_counter()
        index.add_items(collection.vectors[start:stop], np.arange(start, stop), num_threads=threads)
        spent += time.perf_counter() - t
        start = stop
        print(f"  hnsw M={m} n={size:,}: {start:,} inserted, {spent:.0f} s", flush=True)
    index.save_index(str(done))
    seconds_file.write_text(str(spent))
    partial.unlink(missing_ok=True)
    return index, spent, done.stat().st_size


def measure_hnsw(
    collection: Collection, index: hnswlib.Index, m: int, ef: int, build_seconds: float, memory: int
) -> Row:
    """hnswlib at one ef, queried one thread at a time (per-query latency, as an upload sees)."""
    index.set_ef(ef)
    index.knn_query(collection.queries[:20], k=K, num_threads=1)  # warm-up
    t = time.perf_counter()
    labels, _ = index.knn_query(collection.queries, k=QUERY_K, num_threads=1)
    seconds = time.perf_counter() - t
    return Row(
        size=len(collection.vectors),
        method="hnsw",
        m=m,
        ef=ef,
        recall=recall(labels.astype(np.int64), collection),
        ms_per_query=1000 * seconds / len(collection.queries),
        memory_bytes=memory,
        build_seconds=build_seconds,
    )


def exact_latency(
    vectors: np.ndarray, queries: np.ndarray, sizes: list[int]
) -> list[tuple[int, float, float]]:
    """ms of one exact query of 1 and of 2 vectors (an upload: the whole and one view) per size."""
    out = []
    for size in sizes:
        matrix = np.ascontiguousarray(vectors[:size])
        out.append((size, exact_ms(matrix, queries, 1), exact_ms(matrix, queries, 2)))
    return out


__all__ = ["COSINES", "K", "Row"]
