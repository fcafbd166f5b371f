"""The dupgate code under test, and a fingerprint of it for the feature cache."""

import hashlib

from benchmarks.quality.paths import ROOT
from dupgate.analysis import Embedder, Features, InvalidImage, analyze, load_embedder
from dupgate.analysis.decode import decode
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR, score, tier_of

__all__ = [
    "DEFAULT_EXACT",
    "DEFAULT_NEAR",
    "IMPLEMENTATION",
    "Embedder",
    "Features",
    "InvalidImage",
    "analyze",
    "load_embedder",
    "score",
    "tier_of",
]

IMPLEMENTATION = "dupgate"


def source_fingerprint() -> str:
    """A hash of the analysis code, so cached features are recomputed whenever it changes."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "dupgate" / "analysis").rglob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def embed_once(embedder: Embedder, image: object) -> object:
    """One SSCD inference on a decoded picture, through the same embedder dupgate uses."""
    return embedder.embed([image])  # type: ignore[list-item]


def dupgate_decode_and_embed(embedder: Embedder, data: bytes) -> object:
    """dupgate's own reduced-size decode plus one SSCD inference: the floor of its analysis."""
    return embedder.embed([decode(data).picture])
