"""The in-memory indexes: hnswlib embeddings and hash lookups."""

import numpy as np

from dupgate.index.embeddings import EmbeddingIndex
from dupgate.index.hashes import HashIndex


def unit(rng: np.random.Generator, n: int, dim: int = 512) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_embedding_index_finds_the_nearest_and_forgets_removed() -> None:
    rng = np.random.default_rng(0)
    vectors = unit(rng, 3000)  # past the initial capacity, so the index must grow
    index = EmbeddingIndex(512, initial_capacity=1024)
    for label, v in enumerate(vectors):
        index.add(label, v)

    found = index.query(vectors[[7]], k=5)
    assert max(found, key=lambda label: found[label]) == 7
    assert abs(found[7] - 1.0) < 1e-4

    index.remove(7)
    assert 7 not in index.query(vectors[[7]], k=5)
    assert len(index) == 2999


def test_embedding_index_with_fewer_items_than_k() -> None:
    index = EmbeddingIndex(4)
    assert index.query(np.ones((1, 4), dtype=np.float32), k=10) == {}
    index.add(1, np.array([1, 0, 0, 0], dtype=np.float32))
    assert set(index.query(np.array([[1, 0, 0, 0]], dtype=np.float32), k=10)) == {1}


def test_hash_index_by_bytes_and_by_hamming_distance() -> None:
    index = HashIndex()
    index.add(1, "aa", 0b1111)
    index.add(2, "bb", 0b1111 ^ (1 << 63))
    index.add(3, "aa", 2**64 - 1)

    assert index.same_bytes("aa") == {1, 3}
    assert index.near_phash(0b1111, 0) == {1}
    assert index.near_phash(0b1111, 1) == {1, 2}
    index.remove(1, "aa")
    assert index.same_bytes("aa") == {3}
    assert index.near_phash(0b1111, 1) == {2}
