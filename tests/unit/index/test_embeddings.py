"""EmbeddingIndex: exact search below EXACT_SEARCH_MAX, hnswlib above, one set of semantics."""

import threading

import numpy as np
import pytest

from dupgate.index.embeddings import EXACT_SEARCH_MAX, EmbeddingIndex


def unit(rng: np.random.Generator, n: int, dim: int = 512) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def at_cosine(rng: np.random.Generator, query: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector whose inner product with the unit vector `query` is exactly `cosine`."""
    other = unit(rng, 1, len(query))[0]
    other -= (other @ query) * query
    other /= np.linalg.norm(other)
    return (cosine * query + np.sqrt(1 - cosine**2) * other).astype(np.float32)


def test_a_neighbour_at_cosine_0_3_is_always_found_below_the_bound() -> None:
    # Each query has 20 planted neighbours: one at 0.3 and 19 nearer (0.31-0.49), so the one at
    # 0.3 is exactly the 20th nearest (EMBEDDING_CANDIDATES): an approximate search loses it
    # whenever it misses any of the 20.
    rng = np.random.default_rng(0)
    queries = unit(rng, 100)
    planted, vectors = [], [unit(rng, 2000)]
    for query in queries:
        planted.append(2000 + sum(len(v) for v in vectors[1:]))
        vectors.append(np.stack([at_cosine(rng, query, c) for c in np.linspace(0.3, 0.49, 20)]))
    matrix = np.concatenate(vectors)
    assert len(matrix) <= EXACT_SEARCH_MAX
    index = EmbeddingIndex(512)
    index.add_many(list(range(len(matrix))), matrix, num_threads=2)

    assert index.exact
    labels, similarities = index.query_many(queries, k=20)
    found = [label in row for label, row in zip(planted, labels, strict=True)]
    assert np.mean(found) == 1.0
    assert np.allclose(similarities[:, -1], 0.3, atol=1e-5)
    assert all(index.query(queries[[i]], k=20).get(planted[i]) for i in range(len(queries)))


def test_results_come_nearest_first_with_their_inner_products() -> None:
    rng = np.random.default_rng(1)
    vectors = unit(rng, 500)
    index = EmbeddingIndex(512)
    index.add_many(list(range(100, 600)), vectors)
    queries = unit(rng, 3)

    labels, similarities = index.query_many(queries, k=7)

    truth = queries @ vectors.T
    expected = np.argsort(-truth, axis=1)[:, :7] + 100
    assert labels.shape == similarities.shape == (3, 7)
    assert (labels == expected).all()
    assert np.allclose(similarities, np.sort(truth, axis=1)[:, ::-1][:, :7], atol=1e-5)


def test_removal_and_replacement_hold_across_the_bound() -> None:
    rng = np.random.default_rng(2)
    index = EmbeddingIndex(16, initial_capacity=8, exact_max=40)
    vectors = unit(rng, 60, 16)
    for label, v in enumerate(vectors[:40]):
        index.add(label, v)
    assert index.exact and len(index) == 40

    index.add_many(list(range(40, 60)), vectors[40:])  # past the bound: hnswlib answers
    assert not index.exact and len(index) == 60
    index.add(3, vectors[59])  # label 3 now holds another picture
    assert index.query(vectors[[59]], k=2) == pytest.approx({3: 1.0, 59: 1.0})

    for label in range(20, 60):  # back to half the bound: exact again, from hnswlib's vectors
        index.remove(label)
    assert index.exact and len(index) == 20
    index.remove(1000)  # unknown: ignored
    index.remove(7)
    index.add(8, vectors[50])

    live = [label for label in range(20) if label != 7]
    expected = {label: vectors[label] for label in live} | {3: vectors[59], 8: vectors[50]}
    labels, similarities = index.query_many(vectors, k=25)
    assert labels.shape == (60, 19)
    for query, row, sims in zip(vectors, labels, similarities, strict=True):
        assert set(row.tolist()) == set(live)
        assert np.allclose(sims, [expected[int(label)] @ query for label in row], atol=1e-5)


def test_exact_and_hnswlib_agree_on_the_nearest() -> None:
    rng = np.random.default_rng(3)
    vectors = unit(rng, 1000, 64)
    exact, approximate = EmbeddingIndex(64), EmbeddingIndex(64, exact_max=0)
    exact.add_many(list(range(1000)), vectors)
    approximate.add_many(list(range(1000)), vectors)
    assert exact.exact and not approximate.exact

    for index in (exact, approximate):
        labels, similarities = index.query_many(vectors[:50], k=1)
        assert (labels[:, 0] == np.arange(50)).all()
        assert np.allclose(similarities[:, 0], 1.0, atol=1e-5)


def test_concurrent_adds_removals_and_queries_keep_the_index_consistent() -> None:
    rng = np.random.default_rng(4)
    vectors = unit(rng, 400, 32)
    index = EmbeddingIndex(32, initial_capacity=16, exact_max=150)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for label in range(offset, 400, 4):
                index.add(label, vectors[label])
                if label % 3 == 0:
                    index.remove(label)
        except BaseException as error:  # reported below; a thread's exception is otherwise lost
            errors.append(error)

    def reader() -> None:
        try:
            for i in range(200):
                index.query_many(vectors[[i % 400]], k=5)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    live = [label for label in range(400) if label % 3]
    assert len(index) == len(live)
    labels, _ = index.query_many(vectors[live[:20]], k=1)
    assert (labels[:, 0] == live[:20]).all()
