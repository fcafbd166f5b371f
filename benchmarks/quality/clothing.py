"""Clothing negatives: every pair of the 1,900 marketplace photos of ../shared/datasets/clothing/.

Many contributors photographed many different garments on the same bed or floor: the hard
negatives of a real marketplace. A pair of photos from different contributors is a false match
unless the two files are byte-identical (those are counted apart). Pairs from one contributor
may be re-shoots of one garment, so they are listed, with a contact sheet, for a person to judge.
"""

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.quality import contact_sheet
from benchmarks.quality import dupgate_api as dg
from benchmarks.quality import methods as m
from benchmarks.quality import pairs as p
from benchmarks.quality.dataset import PHOTO_SEED
from benchmarks.quality.paths import CACHE, CLOTHING

THRESHOLDS = (0.30, 0.40, 0.50, 0.60)
QUICK_PHOTOS = 150  # the first photos in (contributor, file) order: a few contributors in full
BELOW_FLOOR_SAMPLE = {"full": 2000, "quick": 200}
LISTED_MAX = 60


@dataclass(frozen=True)
class Photo:
    path: Path
    sender: str
    label: str


@dataclass(frozen=True)
class Flagged:
    score: float
    a: Photo
    b: Photo

    @property
    def tier(self) -> str:
        return dg.tier_of(self.score, dg.DEFAULT_EXACT, dg.DEFAULT_NEAR)


@dataclass(frozen=True)
class ClothingResult:
    n_photos: int
    n_contributors: int
    n_pairs: int
    n_across: int  # pairs from different contributors, identical bytes excluded
    n_within: int  # pairs from one contributor, identical bytes excluded
    n_scored: int
    floor: float
    # threshold -> pairs at or above it: across contributors, within one, identical bytes
    counts: dict[float, tuple[int, int, int]]
    across_scores: np.ndarray  # every pair across contributors (0 under the floor)
    within: list[Flagged]  # within one contributor, at or above the near threshold
    top_across: list[Flagged]
    identical: list[Flagged]
    floor_check: p.FloorCheck
    sheet: Path | None
    seconds: float

    def rate(self, threshold: float) -> tuple[int, int]:
        """Pairs across contributors at or above `threshold`, and such pairs."""
        return int((self.across_scores >= threshold).sum()), len(self.across_scores)


def photos(quick: bool, split: str | None = None) -> list[Photo]:
    """The set's photos in (contributor, file) order; the quick run takes a prefix.

    A split takes half of the contributors, every photo of each: `calibration` those with an
    even contributor id, `heldout` those with an odd one. Verification was tuned on the
    calibration half only; the held-out half's pairs were never looked at while tuning.
    """
    with open(CLOTHING / "images.csv") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (int(r["sender_id"]), r["image"]))
    if split is not None:
        parity = 0 if split == "calibration" else 1
        rows = [r for r in rows if int(r["sender_id"]) % 2 == parity]
    found = [
        Photo(CLOTHING / "images" / f"{r['image']}.jpg", r["sender_id"], r["label"]) for r in rows
    ]
    if not found:
        raise SystemExit(f"no photos in {CLOTHING}: is ../shared/datasets/ next to the repository?")
    return found[:QUICK_PHOTOS] if quick else found


def split_pool(split: str) -> list[Path]:
    """Half of the clothing photos (a fixed permutation) for one split's template negatives."""
    every = [ph.path for ph in photos(quick=False)]
    perm = [every[i] for i in np.random.default_rng(PHOTO_SEED).permutation(len(every))]
    half = len(perm) // 2
    return perm[:half] if split == "calibration" else perm[half:]


def evaluate(quick: bool, embedder: dg.Embedder, sheet_name: str, split: str) -> ClothingResult:
    started = time.perf_counter()
    every = photos(quick, split)
    feats = m.compute_dupgate_features([ph.path for ph in every], embedder)
    kept = [ph for ph in every if feats[ph.path] is not None]
    features = m.every_known((feats[ph.path] for ph in kept), "clothing photos")
    scored = p.score_all_pairs(features)
    senders = np.array([ph.sender for ph in kept])
    shas = np.array([f.sha256 for f in features])
    same_bytes = shas[scored.i] == shas[scored.j]
    same_sender = senders[scored.i] == senders[scored.j]
    across = ~same_sender & ~same_bytes
    within = same_sender & ~same_bytes
    counts = {}
    for t in sorted({*THRESHOLDS, dg.DEFAULT_NEAR}):
        hit = scored.scores >= t
        counts[t] = (
            int((hit & across).sum()),
            int((hit & within).sum()),
            int((hit & same_bytes).sum()),
        )

    def flagged(mask: np.ndarray, limit: int) -> list[Flagged]:
        order = np.flatnonzero(mask)
        order = order[np.argsort(-scored.scores[order], kind="stable")][:limit]
        return [
            Flagged(float(scored.scores[k]), kept[scored.i[k]], kept[scored.j[k]]) for k in order
        ]

    near = scored.scores >= dg.DEFAULT_NEAR
    listed = flagged(within & near, LISTED_MAX)
    sheet = contact_sheet.write(
        [
            (
                f.a.path,
                f.b.path,
                f"{f.score:.3f} {f.tier} {f.a.path.stem[:8]} / {f.b.path.stem[:8]}",
            )
            for f in listed
        ],
        CACHE / "contact-sheets" / sheet_name,
    )
    floor_check = p.check_below_floor(
        features, scored, BELOW_FLOOR_SAMPLE["quick" if quick else "full"], dg.DEFAULT_NEAR
    )
    return ClothingResult(
        n_photos=len(kept),
        n_contributors=len(set(senders.tolist())),
        n_pairs=len(scored.scores),
        n_across=int(across.sum()),
        n_within=int(within.sum()),
        n_scored=scored.n_scored,
        floor=scored.floor,
        counts=counts,
        across_scores=scored.scores[across],
        within=listed,
        top_across=flagged(across, 10),
        identical=flagged(same_bytes, LISTED_MAX),
        floor_check=floor_check,
        sheet=sheet,
        seconds=time.perf_counter() - started,
    )
