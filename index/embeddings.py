"""Approximate nearest neighbours over SSCD embeddings (hnswlib, inner product)."""

import threading

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
