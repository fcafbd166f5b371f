"""The scale benchmark's collection and its queries.

Collection of N images (one dupgate collection):
- the 1,000 ORIGINALS of the scan benchmark's real set (benchmarks/scan/dataset.py: ImageNet
  photos analysed by dupgate), spread evenly through the commit order (original j is image
  j * N // 1,000);
- N - 1,000 synthetic DISTRACTORS, made as the scan benchmark makes its 100k / 1M sets: "world"
  w >= 1 is the whole real 10k set (originals and edits) with its embeddings and views turned by
  a random orthogonal matrix of its own and its pHashes XORed with a random mask of its own, and
  new SHA-256s. Everything else of a distractor's stored features (thumbnail, local features for
  verification, size) is the real image's, so stored rows are as large as real ones. Distractor
  d is row d % 10,000 of world d // 10,000 + 1.

Queries: the EDITED copies (9 Pillow edits each) of a random sample of the originals, as new
uploads; each has one true original in the collection.
"""

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from benchmarks.scan.dataset import Item, real_collection
from dupgate.analysis import Features

DATA_VERSION = 1
COLLECTION = "scale"
SEED = 20261206


@dataclass(frozen=True)
class RealSet:
    """The 10k real analysed images: all of them (in a fixed order), the originals, the copies."""

    items: list[Item]
    originals: list[Item]  # sorted by photo name
    copies: dict[str, list[Item]]  # photo name -> its analysed edits


def real_set(workers: int) -> RealSet:
    items = real_collection(workers)
    originals = sorted((i for i in items if i.key == i.source), key=lambda i: i.key)
    copies: dict[str, list[Item]] = {}
    for item in items:
        if item.key != item.source:
            copies.setdefault(item.source, []).append(item)
    return RealSet(items, originals, copies)


def image_id(position: int) -> str:
    """The id of the collection's image at this position of the commit order."""
    return str(uuid.UUID(int=position + 1))


def original_positions(size: int, count: int) -> np.ndarray:
    """Where the originals sit in the commit order: original j at j * size // count."""
    return (np.arange(count, dtype=np.int64) * size) // count


@dataclass(frozen=True)
class Row:
    """One image of the collection."""

    position: int
    key: str  # external id: the photo's name, or "w<world>/<real key>" for a distractor
    size: int
    features: Features
    real: bool


class Worlds:
    """The synthetic worlds, one at a time, each made from the seed alone (so reproducible)."""

    def __init__(self, real: RealSet, seed: int = SEED) -> None:
        self.real = real
        self.seed = seed
        self.embeddings = np.stack([item.features.embedding for item in real.items])
        self._world: tuple[int, np.ndarray, int, np.ndarray] | None = None

    def world(self, w: int) -> tuple[np.ndarray, int, np.ndarray]:
        """World w's rotation, pHash mask, and the turned embeddings of the 10k set."""
        if self._world is None or self._world[0] != w:
            rng = np.random.default_rng([self.seed, w])
            dim = self.embeddings.shape[1]
            rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
            rotation = rotation.astype(np.float32)
            mask = int(rng.integers(0, 2**63)) | (int(rng.integers(0, 2)) << 63)
            self._world = (w, rotation, mask, self.embeddings @ rotation)
        _, rotation, mask, turned = self._world
        return rotation, mask, turned

    def distractor(self, number: int) -> tuple[str, int, Features]:
        """Distractor `number`: (key, file size, features)."""
        w, row = divmod(number, len(self.real.items))
        w += 1
        rotation, mask, turned = self.world(w)
        item = self.real.items[row]
        f = item.features
        views = f.views @ rotation if len(f.views) else f.views
        features = replace(
            f,
            sha256=hashlib.sha256(f"scale:{w}:{f.sha256}".encode()).hexdigest(),
            embedding=turned[row],
            views=views,
            phash=f.phash ^ mask,
        )
        return f"w{w}/{item.key}", item.size, features


def collection_rows(real: RealSet, size: int) -> Iterator[Row]:
    """The collection's images in commit order."""
    worlds = Worlds(real)
    originals = {int(p): j for j, p in enumerate(original_positions(size, len(real.originals)))}
    number = 0
    for position in range(size):
        j = originals.get(position)
        if j is not None:
            item = real.originals[j]
            yield Row(position, item.key, item.size, item.features, True)
        else:
            key, file_size, features = worlds.distractor(number)
            number += 1
            yield Row(position, key, file_size, features, False)


def collection_embeddings(real: RealSet, size: int) -> np.ndarray:
    """(size, dim) float32: row p is the embedding of the image at position p (exact search)."""
    worlds = Worlds(real)
    dim = worlds.embeddings.shape[1]
    out = np.empty((size, dim), dtype=np.float32)
    positions = original_positions(size, len(real.originals))
    is_original = np.zeros(size, dtype=bool)
    is_original[positions] = True
    out[positions] = np.stack([item.features.embedding for item in real.originals])
    rest = np.flatnonzero(~is_original)
    per_world = len(real.items)
    for start in range(0, len(rest), per_world):
        chunk = rest[start : start + per_world]
        _, _, turned = worlds.world(start // per_world + 1)
        out[chunk] = turned[: len(chunk)]
    return out


@dataclass(frozen=True)
class Query:
    """An upload of an edited copy: its features, and the position of its true original."""

    key: str
    edit: str
    features: Features
    original: int


def queries(
    real: RealSet, size: int, photos: int, seed: int = SEED
) -> tuple[list[Query], list[Query]]:
    """The edited copies of `photos` random originals, and (for warming up) of one other."""
    positions = original_positions(size, len(real.originals))
    candidates = [j for j, item in enumerate(real.originals) if real.copies.get(item.key)]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(candidates), size=photos + 1, replace=False)
    picked = [candidates[int(c)] for c in chosen]

    def copies_of(j: int) -> list[Query]:
        photo = real.originals[j].key
        return [
            Query(item.key, item.key.rpartition("~")[2], item.features, int(positions[j]))
            for item in real.copies[photo]
        ]

    measured = [q for j in sorted(picked[:photos]) for q in copies_of(j)]
    return measured, copies_of(picked[photos])
