"""Hash lookups: exact bytes by SHA-256 and perceptual hashes by Hamming distance."""

import numpy as np


class HashIndex:
    """SHA-256 to labels, and a flat array of 64-bit perceptual hashes scanned with popcount.

    A linear scan of 64-bit hashes costs about a millisecond per 100,000 images, less than one
    embedding inference, so a BK-tree or multi-index hashing would buy nothing yet.
    """

    def __init__(self) -> None:
        self._by_sha: dict[str, set[int]] = {}
        self._phash_of: dict[int, int] = {}
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, label: int, sha256: str, phash: int) -> None:
        """Index one image's hashes."""
        self._by_sha.setdefault(sha256, set()).add(label)
        self._phash_of[label] = phash
        self._arrays = None

    def remove(self, label: int, sha256: str) -> None:
        """Forget one image's hashes."""
        labels = self._by_sha.get(sha256)
        if labels is not None:
            labels.discard(label)
            if not labels:
                del self._by_sha[sha256]
        self._phash_of.pop(label, None)
        self._arrays = None

    def same_bytes(self, sha256: str) -> set[int]:
        """Labels of images with exactly these bytes."""
        return set(self._by_sha.get(sha256, ()))

    def near_phash(self, phash: int, max_distance: int) -> set[int]:
        """Labels whose 64-bit perceptual hash is within `max_distance` bits."""
        if self._arrays is None:
            # Rebuilt lazily so that replaying many additions costs one rebuild, not one each.
            labels = np.fromiter(self._phash_of.keys(), dtype=np.int64, count=len(self._phash_of))
            hashes = np.fromiter(self._phash_of.values(), dtype=np.uint64, count=len(labels))
            self._arrays = (labels, hashes)
        labels, hashes = self._arrays
        if len(hashes) == 0:
            return set()
        xor = np.bitwise_xor(hashes, np.uint64(phash))
        distances = np.bitwise_count(xor)
        return {int(label) for label in labels[distances <= max_distance]}
