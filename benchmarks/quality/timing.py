"""Analysis time per image for every method, measured live on the same fixed sample of files.

Cached features are not timed: this pass always decodes and hashes/embeds again, one image at a
time in this process (onnxruntime uses its own threads), so the numbers compare like with like.
"""

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pdqhash
from tqdm import tqdm

from benchmarks.quality import dupgate_api as dg
from benchmarks.quality.methods import decode_rgb, phash_of

WARMUP = 3


def _steps(embedder: dg.Embedder) -> dict[str, Callable[[bytes], object]]:
    return {
        "dupgate": lambda data: dg.analyze(data, embedder),
        # The yardstick for dupgate's target (full analysis <= 2x this); it is also exactly the
        # work "SSCD alone" needs.
        "decode + 1 SSCD inference": lambda data: dg.embed_once(embedder, decode_rgb(data)),
        "dupgate decode + 1 SSCD inference": lambda data: dg.dupgate_decode_and_embed(
            embedder, data
        ),
        "phash": lambda data: phash_of(decode_rgb(data)),
        "pdq": lambda data: pdqhash.compute(np.asarray(decode_rgb(data))),
        "pdq_dihedral": lambda data: pdqhash.compute_dihedral(np.asarray(decode_rgb(data))),
    }


def measure(paths: Sequence[Path], embedder: dg.Embedder) -> dict[str, float]:
    """Median milliseconds per image for each method over `paths` (read into memory first)."""
    blobs = [p.read_bytes() for p in paths]
    result = {}
    for name, step in _steps(embedder).items():
        for data in blobs[:WARMUP]:
            step(data)
        times = []
        for data in tqdm(blobs, desc=f"time {name}", leave=False):
            start = time.perf_counter()
            step(data)
            times.append((time.perf_counter() - start) * 1000)
        result[name] = float(np.median(times))
        result[f"{name} (mean)"] = float(np.mean(times))
    result["sscd"] = result["decode + 1 SSCD inference"]
    result["sscd (mean)"] = result["decode + 1 SSCD inference (mean)"]
    return result
