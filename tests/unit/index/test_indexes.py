"""The in-memory indexes: hnswlib embeddings and hash lookups."""

from dataclasses import replace

import numpy as np

from dupgate.collections import PolicyChange, put_collection
from dupgate.db import session_scope
from dupgate.keys import BOOTSTRAP
from dupgate.models import ImageFeatures, IndexChange
from index.embeddings import EmbeddingIndex
from index.hashes import HashIndex
from index.registry import IndexRegistry
from tests.unit.index.features import fake_features


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


def test_a_replayed_change_log_matches_the_changes_applied_one_by_one(database_url: str) -> None:
    rng = np.random.default_rng(1)
    a, b, a2 = (fake_features(rng, sha) for sha in ("a" * 64, "b" * 64, "c" * 64))
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), BOOTSTRAP)
        for f in (a, b, a2):
            s.add(ImageFeatures(sha256=f.sha256, version=f.version, data=f.to_bytes()))
        for image_id, op, f in (
            ("img-a", "add", a),
            ("img-b", "add", b),
            ("img-a", "add", a2),  # an overwrite: img-a gets new content
            ("img-b", "remove", b),
        ):
            s.add(IndexChange(collection="shop", image_id=image_id, op=op, sha256=f.sha256))

    with session_scope(database_url) as s:
        index = IndexRegistry().synced(s, "shop")

    assert len(index) == 1
    (entry,) = index.candidates(replace(a2, views=a2.views[:0]))
    assert (entry.image_id, entry.features.sha256) == ("img-a", a2.sha256)
    assert index.last_seq == 4
