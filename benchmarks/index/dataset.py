"""The index benchmark's vectors: real SSCD embeddings, planted neighbours and distractors.

Real: the 1,000 ImageNet photos and 1,900 clothing photos of ../shared/datasets, analysed with
`dupgate.analysis.load_embedder()` (the whole photo, no views). Cached under /tmp.

Planted neighbours (by mixing, not by editing photos): for a query photo's vector a and a
partner photo's vector b, the planted vector is p = c·a + sqrt(1 - c²)·u, where u is b's
component orthogonal to a, normalised. So cos(a, p) = c exactly, and p lies in the span of two
real SSCD vectors (it is mostly b, a real photo's descriptor, with a controlled share of a).
Queries are held out of the index; partners are distractor photos of the index.

Distractors: every real vector that is not a query, plus "worlds": the whole real set turned
by a random orthogonal matrix of its own (as benchmarks/scan/dataset.py does). A rotation keeps
the set's own geometry, but across worlds the vectors are unrelated (cosines ~N(0, 1/512)),
whereas unrelated real photos have a heavier tail, so the rotated worlds are somewhat easier
distractors than as many real photos would be.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from dupgate.analysis import load_embedder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
PHOTO_DIRS = (DATASETS / "imagenet-sample", DATASETS / "clothing" / "images")
# Embeddings and built indexes live outside the repository so that git never sees them.
CACHE = Path(os.environ.get("DUPGATE_INDEX_BENCH_CACHE", "/tmp/dupgate-index-bench"))
COSINES = (0.2, 0.3, 0.4, 0.5)


def real_embeddings(threads: int = 2, batch: int = 16) -> np.ndarray:
    """(2900, 512) float32: SSCD of every ImageNet and clothing photo, in file-name order."""
    path = CACHE / "real.npy"
    if path.exists():
        return np.load(path)
    photos = [
        p for d in PHOTO_DIRS for p in sorted(d.iterdir()) if p.suffix.lower() in {".jpg", ".jpeg"}
    ]
    embedder = load_embedder("onnx", threads=threads)
    rows = []
    for start in tqdm(range(0, len(photos), batch), desc="SSCD", unit="batch"):
        images = [
            ImageOps.exif_transpose(Image.open(p)).convert("RGB")
            for p in photos[start : start + batch]
        ]
        rows.append(embedder.embed(images))
    vectors = np.concatenate(rows).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


@dataclass(frozen=True)
class Collection:
    """Index contents (row i has label i) and queries with their planted neighbours' labels."""

    vectors: np.ndarray  # (size, 512) float32
    queries: np.ndarray  # (q, 512) float32, held out of the index
    planted: dict[float, np.ndarray]  # cosine -> (q,) label of each query's planted neighbour


def random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A random orthogonal matrix (Haar), from the QR of a Gaussian one."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def collection(real: np.ndarray, size: int, queries: int, seed: int = 0) -> Collection:
    """`size` vectors: planted neighbours, the non-query real vectors, then rotated worlds."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real))
    query_rows, rest = order[:queries], order[queries:]
    a = real[query_rows]
    parts = []
    planted: dict[float, np.ndarray] = {}
    start = 0
    for cosine in COSINES:
        b = real[rng.choice(rest, size=queries, replace=False)]
        u = b - np.sum(b * a, axis=1, keepdims=True) * a
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        parts.append((cosine * a + np.sqrt(1 - cosine**2) * u).astype(np.float32))
        planted[cosine] = np.arange(start, start + queries)
        start += queries
    parts.append(real[rest])
    vectors = np.empty((size, real.shape[1]), dtype=np.float32)
    filled = 0
    for part in parts:
        vectors[filled : filled + len(part)] = part
        filled += len(part)
    while filled < size:
        world = real @ random_rotation(rng, real.shape[1])
        take = min(len(world), size - filled)
        vectors[filled : filled + take] = world[:take]
        filled += take
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= norms
    return Collection(vectors=vectors, queries=a.copy(), planted=planted)
