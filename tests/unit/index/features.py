"""Features with random signals, for index tests that need many or specific ones."""

import numpy as np

from dupgate.analysis import ANALYSIS_VERSION, Features


def fake_features(rng: np.random.Generator, sha256: str) -> Features:
    """Features whose embedding is a random unit vector and whose other signals are random."""
    embedding = rng.standard_normal(512).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    return Features(
        version=ANALYSIS_VERSION,
        sha256=sha256,
        width=640,
        height=480,
        format="JPEG",
        phash=int(rng.integers(0, 2**63)),
        embedding=embedding,
        views=np.zeros((0, 512), dtype=np.float32),
        thumb=rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
        pdq=bytes(32),
        pdq_quality=100,
    )
