"""Approximate nearest neighbours over SSCD embeddings (hnswlib, inner product)."""

import threading
from collections.abc import Sequence

import hnswlib
import numpy as np


class EmbeddingIndex:
    """An hnswlib index with integer labels; grows as needed and supports removal."""

    def __init__(self, dim: int = 512, *, initial_capacity: int = 1024, ef: int = 128) -> None:
        self.dim = dim
        self._ef = ef
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(max_elements=initial_capacity, ef_construction=200, M=16)
        self._index.set_ef(ef)
        self._live: set[int] = set()
        # hnswlib is not safe for concurrent add and query from several threads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._live)

    def add(self, label: int, vector: np.ndarray) -> None:
        """Insert (or replace) the vector for `label`."""
        with self._lock:
            if label in self._live:
                self._index.mark_deleted(label)
                self._live.discard(label)
            capacity = self._index.get_max_elements()
            if self._index.element_count >= capacity:
                self._index.resize_index(capacity * 2)
            self._index.add_items(
                vector.reshape(1, -1).astype(np.float32), [label], replace_deleted=False
            )
            self._live.add(label)

    def remove(self, label: int) -> None:
        """Forget `label`; unknown labels are ignored."""
        with self._lock:
            if label in self._live:
                self._index.mark_deleted(label)
                self._live.discard(label)

    def query(self, vectors: np.ndarray, k: int) -> dict[int, float]:
        """The best inner product per label over the k nearest of each query vector."""
        with self._lock:
            k = min(k, len(self._live))
            if k == 0 or len(vectors) == 0:
                return {}
            self._index.set_ef(max(self._ef, k))
            labels, distances = self._index.knn_query(vectors.astype(np.float32), k=k)
        best: dict[int, float] = {}
        # hnswlib's "ip" distance is 1 - inner product.
        for label, similarity in zip(labels.ravel(), 1.0 - distances.ravel(), strict=True):
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
                np.asarray(vectors, dtype=np.float32).reshape(len(labels), self.dim),
                np.asarray(labels, dtype=np.int64),
                num_threads=num_threads,
                replace_deleted=False,
            )
            self._live.update(int(label) for label in labels)

    def query_many(
        self, vectors: np.ndarray, k: int, *, num_threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest labels of each vector and their inner products, (n, k') each, k' <= k.

        One multi-threaded call for the whole batch; callers holding many queries should pass
        a few thousand at a time, so that the lock is not held for long.
        """
        with self._lock:
            k = min(k, len(self._live))
            if k == 0 or len(vectors) == 0:
                empty = np.zeros((len(vectors), 0))
                return empty.astype(np.int64), empty.astype(np.float32)
            self._index.set_ef(max(self._ef, k))
            labels, distances = self._index.knn_query(
                np.asarray(vectors, dtype=np.float32), k=k, num_threads=num_threads
            )
        # hnswlib's "ip" distance is 1 - inner product.
        return labels.astype(np.int64), (1.0 - distances).astype(np.float32)
