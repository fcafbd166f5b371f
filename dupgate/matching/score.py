"""One score in [0, 1] for "the query is a copy of the candidate", and its tiers.

The scale has two bands, so that one number carries both "how likely a copy" and "how close":
- [EXACT_FLOOR, 1]: the same picture, re-encoded or resized. SSCD agrees (cosine >= 0.5), the
  aspect ratio is unchanged, the pHashes are within a few bits and the 32x32 colour thumbnails
  differ only by compression or resampling noise. Closer thumbnails score higher; identical
  bytes score exactly 1.
- [0, EXACT_FLOOR): everything else scores its SSCD cosine similarity (the best of the query's
  whole and its views against the candidate's whole), clipped to [0, 1) and capped just under
  EXACT_FLOOR. SSCD cannot tell a re-encode from a logo overlay (both ~0.95), which is why the
  exact band needs the pixel-level evidence above.

Seen on ImageNet photos (analysis v1): distinct pairs <= 0.30 (max of 124,750 pairs of 500
photos; 99.9th percentile 0.18); edited copies of 50 photos (crop, caption, logo, colour change,
flip, padding, meme bands, phone screenshot, 5 degree rotation) median 0.57-0.95, 10th
percentile >= 0.70 except a 50% centre crop (0.50); resized or re-encoded copies >= 0.97.

The defaults are calibrated on the `calibration` split of benchmarks/quality (see its
RESULTS.md): DEFAULT_EXACT is the floor of the exact band, so a copy is `exact` only with
pixel-level evidence. DEFAULT_NEAR = 0.40 is the highest threshold that still finds at least 75%
of copies placed inside screenshots and memes there (81%); it lies 0.10 above the highest score
of any of the ~500,000 pairs of distinct photos (0.30). At 0.45 that recall fell to 66%, at
0.50 to 59%. Collections of millions of images should raise it towards 0.5: the distinct-pair
tail grows about 0.05 per tenfold more pairs, so 0.40 is likely reached by about one pair in
10^8, i.e. roughly one upload in a hundred into a collection of a million unrelated images.
"""

import numpy as np

from dupgate.analysis import Features
from dupgate.analysis.hashes import phash_distance

EXACT_FLOOR = 0.95
DEFAULT_EXACT = 0.95
DEFAULT_NEAR = 0.40

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
    return float(np.clip(cos, 0.0, EXACT_FLOOR - 0.001))


def tier_of(score: float, exact: float, near: float) -> str:
    """ "exact", "near" or "unique" for a score and a collection's thresholds."""
    if score >= exact:
        return "exact"
    if score >= near:
        return "near"
    return "unique"
