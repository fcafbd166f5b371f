"""One score in [0, 1] for "the query is a copy of the candidate's picture", and its tiers.

The scale has three bands, so that one number means the same in every collection:
- [EXACT_FLOOR, 1]: the same picture, re-encoded or resized. SSCD agrees (cosine >= 0.5), the
  aspect ratio is unchanged, the pHashes are within a few bits and the 32x32 colour thumbnails
  differ only by compression or resampling noise. Closer thumbnails score higher; identical
  bytes score exactly 1.
- [VERIFIED_FLOOR, EXACT_FLOOR): the same picture, edited. SSCD proposed it (cosine at least
  RETRIEVAL_FLOOR) and verification (dupgate/matching/verify.py) found the two pictures aligned
  and agreeing: the score rises from VERIFIED_FLOOR at strength MIN_STRENGTH to just under
  EXACT_FLOOR at strength 1.
- [0, VERIFIED_FLOOR): not shown to be the same picture: the SSCD cosine, scaled into the band.
  Look-alikes land here however similar SSCD finds them: two garments on one bed, two photos in
  one screenshot frame.

So the near threshold is a verification threshold: at the default (VERIFIED_FLOOR) a pair is
near exactly when verification passed. A threshold below it also takes unverified pairs by
their SSCD cosine (the behaviour of analysis version 1); one above it asks for stronger
verification. Candidates whose features predate verification (analysis version 1, until
`dupgate reanalyze` has run) are scored by their cosine alone, as they were.

MIN_STRENGTH and RETRIEVAL_FLOOR are calibrated on the `calibration` split of
benchmarks/quality (see its RESULTS.md), with its clothing and template negatives.
"""

import numpy as np

from dupgate.analysis import Features
from dupgate.analysis.hashes import phash_distance
from dupgate.matching.verify import Verification, verify
from dupgate.vocabulary import Tier

EXACT_FLOOR = 0.95
VERIFIED_FLOOR = 0.40
DEFAULT_EXACT = 0.95
DEFAULT_NEAR = VERIFIED_FLOOR

# Candidates below this SSCD cosine are not verified: copies score far above it.
RETRIEVAL_FLOOR = 0.2
# Verification strength (coverage x agreement) from which a pair is the same picture. On the
# calibration half of the clothing pairs (cosine >= 0.35, 8,942 pairs) no two garments reached
# 0.33; AugLy copies of calibration photos were found at 99.2% (near) and 91.0% (screenshots
# and memes).
MIN_STRENGTH = 0.4

EXACT_MIN_COSINE = 0.5
_EXACT_MAX_ASPECT_CHANGE = 0.03
_EXACT_MAX_PHASH_DISTANCE = 12
# Thumbnail differences (0-255, max over channels): the largest of any pixel, and the mean.
# On the benchmark's calibration split re-encodes and upscales stayed <= 23 (all but 2 of 40
# tiny photos shrunk to 0.35x, too), while every text, logo and emoji overlay reached >= 37:
# one differing pixel is enough, since an overlay changes a small area a lot.
_EXACT_MAX_PIXEL = 36.0
_EXACT_MAX_MEAN = 12.0


def cosine(query: Features, candidate: Features) -> float:
    """The best SSCD similarity of the query (whole or a view) to the candidate's whole."""
    vectors = np.vstack([query.embedding[None], query.views.reshape(-1, query.embedding.shape[0])])
    return float((vectors @ candidate.embedding).max())


def thumb_difference(a: Features, b: Features) -> tuple[float, float]:
    """Largest and mean per-pixel colour difference of the two thumbnails."""
    diff = np.abs(a.thumb.astype(np.int16) - b.thumb.astype(np.int16)).max(axis=2)
    return float(diff.max()), float(diff.mean())


def same_picture(query: Features, candidate: Features, cos: float) -> float | None:
    """How close to identical (0..1] the query is when it is the candidate re-encoded, else None."""
    if cos < EXACT_MIN_COSINE:
        return None
    aspect_change = (query.width * candidate.height) / (query.height * candidate.width)
    if abs(aspect_change - 1) > _EXACT_MAX_ASPECT_CHANGE:
        return None
    if phash_distance(query.phash, candidate.phash) > _EXACT_MAX_PHASH_DISTANCE:
        return None
    largest, mean = thumb_difference(query, candidate)
    if largest > _EXACT_MAX_PIXEL or mean > _EXACT_MAX_MEAN:
        return None
    return 1.0 - largest / (2 * _EXACT_MAX_PIXEL)


def score(query: Features, candidate: Features) -> float:
    """The combined score in [0, 1]; identical bytes score 1.0 (see the module docstring)."""
    if query.sha256 == candidate.sha256:
        return 1.0
    cos = cosine(query, candidate)
    closeness = same_picture(query, candidate, cos)
    if closeness is not None:
        # 0.99: only identical bytes reach 1.0.
        return EXACT_FLOOR + (1.0 - EXACT_FLOOR) * closeness * 0.99
    if query.local is None or candidate.local is None:
        return float(np.clip(cos, 0.0, EXACT_FLOOR - 0.001))
    unverified = VERIFIED_FLOOR * float(np.clip(cos, 0.0, 0.999))
    if cos < RETRIEVAL_FLOOR:
        return unverified
    strength = verification(query, candidate, enough=MIN_STRENGTH).strength
    if strength < MIN_STRENGTH:
        return unverified
    share = (strength - MIN_STRENGTH) / (1.0 - MIN_STRENGTH)
    return VERIFIED_FLOOR + (EXACT_FLOOR - VERIFIED_FLOOR) * min(share, 0.999)


def verification(query: Features, candidate: Features, enough: float = 1.0) -> Verification:
    """The verification of the query as the candidate's picture (both need local features)."""
    assert query.local is not None and candidate.local is not None
    return verify(query.local, candidate.local, enough)


def min_cosine(threshold: float) -> float:
    """The SSCD cosine below which no pair other than identical bytes reaches `threshold`.

    Scans use it to skip pairs without scoring them: the exact band needs EXACT_MIN_COSINE,
    the verified band RETRIEVAL_FLOOR, and the unverified band threshold / VERIFIED_FLOOR, or the
    threshold itself for features without local features (the lower of the two).
    """
    return min(EXACT_MIN_COSINE, RETRIEVAL_FLOOR, threshold) if threshold > 0 else -1.0


def tier_of(score: float, exact: float, near: float) -> Tier:
    """The tier of a score under a collection's thresholds."""
    if score >= exact:
        return Tier.EXACT
    if score >= near:
        return Tier.NEAR
    return Tier.UNIQUE
