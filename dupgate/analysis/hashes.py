"""Perceptual hashes of a decoded picture: pHash for Hamming lookups, PDQ for exchange with peers."""

import imagehash
import numpy as np
import pdqhash
from PIL import Image

THUMB_SIZE = 32


def phash(picture: Image.Image) -> int:
    """imagehash's 64-bit pHash as an unsigned int (< 2**64), bit order as its hex string."""
    return int(str(imagehash.phash(picture)), 16)


def phash_distance(a: int, b: int) -> int:
    """Hamming distance of two 64-bit pHashes."""
    return (a ^ b).bit_count()


def pdq(picture: Image.Image) -> tuple[bytes, int]:
    """PDQ hash (32 bytes, same bit order as its hex form) and its quality (0-100)."""
    bits, quality = pdqhash.compute(np.asarray(picture.convert("RGB")))
    return np.packbits(bits.astype(np.uint8)).tobytes(), int(quality)


def thumbnail(picture: Image.Image) -> np.ndarray:
    """(32, 32, 3) uint8 colour thumbnail of the whole picture, aspect ignored.

    Re-encoding or resizing barely moves it; an overlay, crop, colour change or flip does, which
    is what separates the exact tier from the near one (SSCD alone does not).
    """
    small = picture.convert("RGB").resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8).copy()
