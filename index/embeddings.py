"""Nearest neighbours over SSCD embeddings: exact below a size bound, hnswlib above it."""

import threading
from collections.abc import Sequence

import hnswlib
import numpy as np

# Up to this many live vectors a query is exact: a float32 matrix-vector product over them all.
# Verification accepts candidates down to SSCD cosine ~0.2, and on real SSCD vectors at 10^5
# hnswlib (M=16, ef=128) kept 61% of planted neighbours at cosine 0.3 in the 20 candidates where
# exact search kept 74% (25% vs 43% at 0.2; benchmarks/index/RESULTS.md). An exact query of a
# whole image and a view took ~10 ms at 30,000 vectors and ~16 ms at 50,000 on one core.
EXACT_SEARCH_MAX = 30_000
# Above the bound, hnswlib's search breadth: ef=512 instead of 128 kept 72% at 0.3 (36% at 0.2)
# for ~4 ms per query vector at 10^5 instead of ~1 ms.
HNSW_EF = 512
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
# Exact query_many works through queries in blocks of about this many scores (64 MiB).
_SCORE_BLOCK = 16 * 2**20
_FEW_VECTORS = 8


class EmbeddingIndex:
    """Integer labels to vectors, searched by inner product; grows as needed, supports removal.

    hnswlib holds every vector at any size, so that crossing the bound costs no build. While
    there are at most `exact_max` live vectors, a contiguous matrix holds them too (~2 KiB each)
    and answers queries exactly; past the bound it is dropped, and it is rebuilt from hnswlib
    once removals bring the index to half the bound (half, so that a collection hovering at
    the bound does not rebuild it on every change).
    """

    def __init__(
        self,
        dim: int = 512,
        *,
        initial_capacity: int = 1024,
        ef: int = HNSW_EF,
        exact_max: int = EXACT_SEARCH_MAX,
    ) -> None:
        self.dim = dim
        self._ef = ef
        self._exact_max = exact_max
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(
            max_elements=initial_capacity, ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M
        )
        self._index.set_ef(ef)
        self._live: set[int] = set()
        # The exact side: row r of _matrix[:_rows] is the vector of label _label_at[r].
        self._matrix: np.ndarray | None = np.empty(
            (min(initial_capacity, max(exact_max, 1)), dim), dtype=np.float32
        )
        self._label_at = np.empty(len(self._matrix), dtype=np.int64)
        self._row_of: dict[int, int] = {}
        self._rows = 0
        # hnswlib is not safe for concurrent add and query from several threads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._live)

    @property
    def exact(self) -> bool:
        """Whether queries are answered by exact search now."""
        return self._matrix is not None

    def add(self, label: int, vector: np.ndarray) -> None:
        """Insert (or replace) the vector for `label`."""
        vector = np.asarray(vector, dtype=np.float32).reshape(1, self.dim)
        with self._lock:
            if label in self._live:
                self._index.mark_deleted(label)
                self._live.discard(label)
            capacity = self._index.get_max_elements()
            if self._index.element_count >= capacity:
                self._index.resize_index(capacity * 2)
            self._index.add_items(vector, [label], replace_deleted=False)
            self._live.add(label)
            self._exact_put([label], vector)

    def remove(self, label: int) -> None:
        """Forget `label`; unknown labels are ignored."""
        with self._lock:
            if label in self._live:
                self._index.mark_deleted(label)
                self._live.discard(label)
                self._exact_drop(label)

    def query(self, vectors: np.ndarray, k: int) -> dict[int, float]:
        """The best inner product per label over the k nearest of each query vector."""
        labels, similarities = self.query_many(vectors, k, num_threads=1)
        best: dict[int, float] = {}
        for label, similarity in zip(labels.ravel(), similarities.ravel(), strict=True):
            key = int(label)
            if similarity > best.get(key, -2.0):
                best[key] = float(similarity)
        return best

    def add_many(
        self, labels: Sequence[int], vectors: np.ndarray, *, num_threads: int = -1
    ) -> None:
        """Insert (or replace) many vectors in one multi-threaded call (-1: every core).

        Building 100,000 entries one `add` at a time runs on one core and resizes the graph
        about seven times; here it grows once and hnswlib inserts on every core.
        """
        if len(labels) != len(vectors):
            raise ValueError(f"{len(labels)} labels for {len(vectors)} vectors")
        if len(labels) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(labels), self.dim)
        with self._lock:
            for label in labels:
                if label in self._live:
                    self._index.mark_deleted(label)
                    self._live.discard(label)
            needed = self._index.element_count + len(labels)
            capacity = self._index.get_max_elements()
            if needed > capacity:
                self._index.resize_index(max(needed, capacity * 2))
            self._index.add_items(
                vectors,
                np.asarray(labels, dtype=np.int64),
                num_threads=num_threads,
                replace_deleted=False,
            )
            self._live.update(int(label) for label in labels)
            self._exact_put(labels, vectors)

    def query_many(
        self, vectors: np.ndarray, k: int, *, num_threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest labels of each vector and their inner products, (n, k') each, k' <= k.

        Nearest first. One call for the whole batch; callers holding many queries should pass
        a few thousand at a time, so that the lock is not held for long. num_threads is
        hnswlib's; exact search runs on numpy's BLAS threads.
        """
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            k = min(k, len(self._live))
            if k == 0 or len(vectors) == 0:
                empty = np.zeros((len(vectors), 0))
                return empty.astype(np.int64), empty.astype(np.float32)
            if self._matrix is not None:
                return self._exact_query(vectors, k)
            self._index.set_ef(max(self._ef, k))
            labels, distances = self._index.knn_query(vectors, k=k, num_threads=num_threads)
        # hnswlib's "ip" distance is 1 - inner product.
        return labels.astype(np.int64), (1.0 - distances).astype(np.float32)

    # The exact side; callers hold the lock.

    def _exact_put(self, labels: Sequence[int], vectors: np.ndarray) -> None:
        if self._matrix is None:
            return
        if len(self._live) > self._exact_max:
            self._matrix = None
            self._label_at = np.empty(0, dtype=np.int64)
            self._row_of.clear()
            self._rows = 0
            return
        for label, vector in zip(labels, vectors, strict=True):
            label = int(label)
            row = self._row_of.get(label)
            if row is None:
                row = self._rows
                if row == len(self._matrix):
                    self._grow(max(2 * row, 1))
                self._row_of[label] = row
                self._label_at[row] = label
                self._rows += 1
            self._matrix[row] = vector

    def _grow(self, capacity: int) -> None:
        assert self._matrix is not None
        matrix = np.empty((capacity, self.dim), dtype=np.float32)
        matrix[: self._rows] = self._matrix[: self._rows]
        label_at = np.empty(capacity, dtype=np.int64)
        label_at[: self._rows] = self._label_at[: self._rows]
        self._matrix, self._label_at = matrix, label_at

    def _exact_drop(self, label: int) -> None:
        if self._matrix is None:
            if len(self._live) <= self._exact_max // 2:
                self._rebuild_exact()
            return
        row = self._row_of.pop(label)
        last = self._rows - 1
        if row != last:  # the last row fills the gap, so that the live rows stay contiguous
            moved = int(self._label_at[last])
            self._matrix[row] = self._matrix[last]
            self._label_at[row] = moved
            self._row_of[moved] = row
        self._rows = last

    def _rebuild_exact(self) -> None:
        labels = sorted(self._live)
        self._matrix = np.empty((max(2 * len(labels), 1), self.dim), dtype=np.float32)
        self._label_at = np.empty(len(self._matrix), dtype=np.int64)
        self._row_of = {label: row for row, label in enumerate(labels)}
        self._rows = len(labels)
        if labels:
            self._matrix[: self._rows] = np.asarray(self._index.get_items(labels), np.float32)
            self._label_at[: self._rows] = labels

    def _exact_query(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self._matrix is not None
        matrix = self._matrix[: self._rows]
        labels = np.empty((len(vectors), k), dtype=np.int64)
        similarities = np.empty((len(vectors), k), dtype=np.float32)
        block = max(1, _SCORE_BLOCK // self._rows)
        for start in range(0, len(vectors), block):
            scores = _scores(vectors[start : start + block], matrix)
            if k < self._rows:
                top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            else:
                top = np.broadcast_to(np.arange(self._rows), scores.shape)
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            rows = np.take_along_axis(top, order, axis=1)
            labels[start : start + block] = self._label_at[rows]
            similarities[start : start + block] = np.take_along_axis(top_scores, order, axis=1)
        return labels, similarities


def _scores(vectors: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(q, n) inner products of q vectors with the n rows of the matrix.

    For an upload's few vectors, one matrix-vector product each: OpenBLAS's matrix product
    with 2 rows took ~2.5x the time of one matrix-vector product, not 2x.
    """
    if len(vectors) <= _FEW_VECTORS:
        return np.stack([matrix @ vector for vector in vectors])
    scores: np.ndarray = vectors @ matrix.T
    return scores
