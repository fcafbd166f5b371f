"""The labelled set: a catalog of originals, copies of some of them, and fresh photos.

One fixed permutation of the 1,000 ImageNet photos (seed PHOTO_SEED) decides, for both splits:

    perm[:600]      the catalog, ingested in both splits
    perm[:300]      sources of the calibration split's copies
    perm[300:600]   sources of the held-out split's copies
    perm[600:800]   fresh photos of the calibration split
    perm[800:]      fresh photos of the held-out split

so the two splits share the catalog (one collection) but no query photo, and each split draws
its edit parameters from its own seed. Thresholds calibrated on one can then be checked on the
other.
"""

import json
from dataclasses import asdict, dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.quality import edits
from benchmarks.quality.paths import CACHE, IMAGENET, rel

PHOTO_SEED = 20240611
SPLIT_SEEDS = {"calibration": 1, "heldout": 2}
# Bump when edits.py or the layout below changes, so cached copies are regenerated.
GENERATOR_VERSION = 2  # 2: the template edits (screenshot_app, screenshot_browser, shop_banner)


@dataclass(frozen=True)
class Size:
    """How many photos each role gets."""

    catalog: int
    sources: int  # per split: catalog photos that copies are made from
    fresh: int  # per split
    copies_per_edit: int


FULL = Size(catalog=600, sources=300, fresh=200, copies_per_edit=40)
QUICK = Size(catalog=60, sources=30, fresh=20, copies_per_edit=3)


@dataclass(frozen=True)
class Query:
    """One image checked against the catalog, with what the right answer is."""

    path: str  # relative to the repository root
    klass: str  # exact|near|hard|fresh
    edit: str  # the edit's name, "fresh" for fresh photos
    expected: str | None  # the catalog original's file name, None for fresh photos
    params: list[dict] | None = None


@dataclass(frozen=True)
class LabelledSet:
    catalog: list[Path]
    queries: list[Query]
    all_photos: list[Path]  # every photo of the sample, for the distinct-pair margin
    manifest: Path


def photos() -> list[Path]:
    """The sample's photos in a fixed order."""
    found = sorted(IMAGENET.glob("*.JPEG"))
    if not found:
        raise SystemExit(f"no photos in {IMAGENET}: is ../shared/datasets/ next to the repository?")
    return found


def permuted(all_photos: list[Path]) -> list[Path]:
    """The fixed permutation that gives each photo its role (see the module docstring)."""
    return [all_photos[i] for i in np.random.default_rng(PHOTO_SEED).permutation(len(all_photos))]


def fresh_pool(split: str) -> list[Path]:
    """The split's photos that are in no catalog (full size): its fresh photos come first."""
    pool = permuted(photos())[FULL.catalog :]
    half = len(pool) // 2
    return pool[:half] if split == "calibration" else pool[half:]


def build(split: str, size: Size, workers: int) -> LabelledSet:
    """Make (or reuse from the cache) the copies of `split` and write its manifest."""
    all_photos = photos()
    perm = permuted(all_photos)
    n_cat = size.catalog
    catalog = perm[:n_cat]
    half = n_cat // 2
    sources = catalog[:half] if split == "calibration" else catalog[half:]
    sources = sources[: size.sources]
    fresh_pool = perm[n_cat:]
    fresh_half = len(fresh_pool) // 2
    fresh = fresh_pool[:fresh_half] if split == "calibration" else fresh_pool[fresh_half:]
    fresh = fresh[: size.fresh]

    tag = "quick" if size == QUICK else "full"
    out_dir = CACHE / f"copies-v{GENERATOR_VERSION}" / f"{split}-{tag}"
    manifest = out_dir / "manifest.json"
    if manifest.exists():
        queries = [Query(**q) for q in json.loads(manifest.read_text())["queries"]]
        return LabelledSet(catalog, queries, all_photos[: _n_pairs_photos(size)], manifest)

    seed = SPLIT_SEEDS[split]
    jobs = []
    for e_index in range(len(edits.EDITS)):
        rng = np.random.default_rng([seed, PHOTO_SEED, e_index])
        picked = rng.choice(len(sources), size=size.copies_per_edit, replace=False)
        for p_index in sorted(int(i) for i in picked):
            jobs.append((split, e_index, p_index, str(sources[p_index]), str(out_dir)))
    with Pool(workers) as pool:
        copies = list(
            tqdm(pool.imap(_make_copy, jobs, chunksize=4), total=len(jobs), desc=f"copies {split}")
        )
    queries = copies + [Query(rel(p), "fresh", "fresh", None) for p in fresh]
    _write_manifest(manifest, split, size, catalog, queries)
    return LabelledSet(catalog, queries, all_photos[: _n_pairs_photos(size)], manifest)


def _n_pairs_photos(size: Size) -> int:
    # The quick run checks the margin on a small prefix only, to stay a smoke test.
    return 1000 if size == FULL else 100


def _make_copy(job: tuple[str, int, int, str, str]) -> Query:
    split, e_index, p_index, source, out_dir = job
    edit = edits.EDITS[e_index]
    rng = np.random.default_rng([SPLIT_SEEDS[split], e_index, p_index])
    data, ext, params = edits.apply(edit, Path(source).read_bytes(), rng, split)
    path = Path(out_dir) / edit.name / f"{Path(source).stem}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Query(rel(path), edit.klass, edit.name, Path(source).name, params)


def _write_manifest(path: Path, split: str, size: Size, catalog: list[Path], queries) -> None:
    body = {
        "split": split,
        "size": asdict(size),
        "photo_seed": PHOTO_SEED,
        "split_seed": SPLIT_SEEDS[split],
        "generator_version": GENERATOR_VERSION,
        "catalog": [p.name for p in catalog],
        "queries": [asdict(q) for q in queries],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(body, indent=1, default=list)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # written last and atomically: its presence means the copies are complete
