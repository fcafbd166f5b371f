"""The safety margin: dupgate's score over every pair of distinct photos of the sample.

No two photos of the ImageNet sample are duplicates, so the top of this distribution is what an
unrelated upload can reach; the near threshold must sit clearly above it. Calling score() on a
million pairs one by one is slow, so `pair_scores` recomputes the same maths on whole matrices;
`check_against_score` compares it with score() itself on a sample of pairs.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.quality import dupgate_api as dg
from benchmarks.quality.pairs import directed_cosines
from dupgate.matching.score import EXACT_FLOOR, VERIFIED_FLOOR, min_cosine

CHECK_PAIRS = 2000
CHECK_TOLERANCE = 1e-4


def directed_scores(features: Sequence[dg.Features]) -> np.ndarray:
    """(n, n) matrix: entry [a, b] is score(query=a, candidate=b).

    Unless verification or the exact rule raises it, score() is the best cosine of the query
    (whole or a view) against the candidate, scaled under VERIFIED_FLOOR (capped under
    EXACT_FLOOR for features without local features): that part is computed on whole matrices.
    Both raising steps need at least `min_cosine(VERIFIED_FLOOR)`, so every pair from there up
    is scored with score() itself.
    """
    best = directed_cosines(features)
    verified = all(f.local is not None for f in features)
    if verified:
        directed = VERIFIED_FLOOR * np.clip(best, 0.0, 0.999)
    else:
        directed = np.clip(best, 0.0, EXACT_FLOOR - 0.001)
    for i, j in zip(*np.nonzero(best >= min_cosine(VERIFIED_FLOOR)), strict=True):
        directed[i, j] = dg.score(features[i], features[j])
    return directed


@dataclass(frozen=True)
class Margin:
    n_photos: int
    n_pairs: int
    scores: np.ndarray  # one per unordered pair: the larger of the two directions
    top: list[tuple[float, str, str]]
    check_max_error: float
    check_pairs: int


def distinct_pairs(features: Sequence[dg.Features], names: Sequence[str], top: int = 10) -> Margin:
    """Scores of all unordered pairs of distinct photos; either may arrive second."""
    directed = directed_scores(features)
    error, checked = check_against_score(features, directed)
    if error > CHECK_TOLERANCE:
        raise AssertionError(f"vectorised score differs from score() by {error:.2g}")
    symmetric = np.maximum(directed, directed.T)
    upper = np.triu_indices(len(features), k=1)
    scores = symmetric[upper]
    order = np.argsort(-scores)[:top]
    pairs = [(float(scores[i]), names[upper[0][i]], names[upper[1][i]]) for i in order]
    return Margin(len(features), len(scores), scores, pairs, error, checked)


def check_against_score(features: Sequence[dg.Features], directed: np.ndarray) -> tuple[float, int]:
    """The largest difference from score() itself over random pairs plus the top-scoring ones."""
    n = len(features)
    rng = np.random.default_rng(0)
    a = rng.integers(0, n, CHECK_PAIRS)
    b = rng.integers(0, n, CHECK_PAIRS)
    masked = directed.copy()
    np.fill_diagonal(masked, -np.inf)
    top = np.argsort(-masked, axis=None)[:200]  # the tail is what matters most
    a = np.concatenate([a, top // n])
    b = np.concatenate([b, top % n])
    keep = a != b
    errors = [
        abs(dg.score(features[i], features[j]) - directed[i, j])
        for i, j in zip(a[keep], b[keep], strict=True)
    ]
    return float(max(errors)), int(keep.sum())
