"""dupgate's score over unordered pairs of different images, with a cosine prefilter.

Either image of a pair may be uploaded second, so a pair's score is the larger of score(a, b)
and score(b, a). Scoring millions of pairs one by one is slow, so only the pairs whose best
SSCD cosine (whole or a view, either direction) reaches COSINE_FLOOR are passed to score();
the others count as unique. The floor is set well below any threshold because a matcher may
raise a pair above its cosine after a verification step; `check_below_floor` scores a random
sample of the pairs under it to show how safe that is.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.quality import dupgate_api as dg

COSINE_FLOOR = 0.2


def directed_cosines(features: Sequence[dg.Features]) -> np.ndarray:
    """(n, n) matrix: entry [a, b] is the best cosine of a (whole or a view) to b's whole."""
    embeddings = np.stack([f.embedding for f in features]).astype(np.float32)
    best = embeddings @ embeddings.T
    for i, f in enumerate(features):
        views = f.views.reshape(-1, embeddings.shape[1])
        if len(views):
            best[i] = np.maximum(best[i], (views @ embeddings.T).max(axis=0))
    return best


def best_cosines(features: Sequence[dg.Features]) -> np.ndarray:
    """(n, n) symmetric matrix: the best cosine of either image (whole or a view) to the other."""
    best = directed_cosines(features)
    return np.maximum(best, best.T)


def pair_score(a: dg.Features, b: dg.Features) -> float:
    """The larger of the two directions: either image may arrive second."""
    return max(dg.score(a, b), dg.score(b, a))


@dataclass(frozen=True)
class ScoredPairs:
    """Every unordered pair (i < j); `scores` is 0 for pairs under the floor (not scored)."""

    i: np.ndarray
    j: np.ndarray
    scores: np.ndarray
    scored: np.ndarray  # bool: whether score() was called for the pair
    floor: float

    @property
    def n_scored(self) -> int:
        return int(self.scored.sum())


def score_all_pairs(features: Sequence[dg.Features], floor: float = COSINE_FLOOR) -> ScoredPairs:
    """score() for every pair whose best cosine reaches `floor` or whose bytes are identical."""
    i, j = np.triu_indices(len(features), k=1)
    cos = best_cosines(features)[i, j]
    shas = np.array([f.sha256 for f in features])
    scored = (cos >= floor) | (shas[i] == shas[j])
    scores = np.zeros(len(i), dtype=np.float32)
    for k in np.flatnonzero(scored):
        scores[k] = pair_score(features[i[k]], features[j[k]])
    return ScoredPairs(i, j, scores, scored, floor)


@dataclass(frozen=True)
class FloorCheck:
    checked: int
    reaching_near: int
    max_score: float


def check_below_floor(
    features: Sequence[dg.Features], pairs: ScoredPairs, sample: int, near: float
) -> FloorCheck:
    """score() on a random sample of the pairs the prefilter skipped."""
    skipped = np.flatnonzero(~pairs.scored)
    picked = np.random.default_rng(0).permutation(skipped)[:sample]
    values = [pair_score(features[pairs.i[k]], features[pairs.j[k]]) for k in picked]
    return FloorCheck(
        len(values), sum(v >= near for v in values), max(values, default=float("nan"))
    )
