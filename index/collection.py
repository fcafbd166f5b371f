"""One collection's index: embeddings and hashes of its committed images, keyed by image id."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from dupgate.index.embeddings import EmbeddingIndex
from dupgate.index.hashes import HashIndex

# Candidates worth scoring: the nearest embeddings, plus perceptual hashes this close.
EMBEDDING_CANDIDATES = 20
PHASH_CANDIDATE_DISTANCE = 12


class Indexable(Protocol):
    """What the index reads of the features it is given with each image."""

    @property
    def sha256(self) -> str: ...

    @property
    def phash(self) -> int: ...  # unsigned 64-bit perceptual hash

    @property
    def embedding(self) -> np.ndarray: ...  # (dim,) float32, L2-normalised

    @property
    def views(self) -> np.ndarray: ...  # (k, dim): more query vectors, k may be 0


F = TypeVar("F", bound=Indexable)


@dataclass(frozen=True)
class Entry(Generic[F]):
    """An indexed image."""

    image_id: str
    features: F


class CollectionIndex(Generic[F]):
    """The images of one collection, as of the change with sequence number `last_seq`.

    It keeps the features it is given and hands them back with the candidates it finds.
    """

    def __init__(self, dim: int = 512) -> None:
        self.last_seq = 0
        self._embeddings = EmbeddingIndex(dim)
        self._hashes = HashIndex()
        self._entries: dict[int, Entry[F]] = {}
        self._label_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, label: int, image_id: str, features: F) -> None:
        """Index an image under a fresh integer label (hnswlib wants integers)."""
        self.remove(image_id)
        self._entries[label] = Entry(image_id, features)
        self._label_of[image_id] = label
        self._embeddings.add(label, features.embedding)
        self._hashes.add(label, features.sha256, features.phash)

    def remove(self, image_id: str) -> None:
        """Forget an image; unknown ids are ignored."""
        label = self._label_of.pop(image_id, None)
        if label is None:
            return
        entry = self._entries.pop(label)
        self._embeddings.remove(label)
        self._hashes.remove(label, entry.features.sha256)

    def candidates(self, query: Indexable, k: int = EMBEDDING_CANDIDATES) -> list[Entry[F]]:
        """Images that may duplicate `query`: same bytes, close hashes, or the k nearest embeddings."""
        labels = self._hashes.same_bytes(query.sha256)
        labels |= self._hashes.near_phash(query.phash, PHASH_CANDIDATE_DISTANCE)
        vectors = np.vstack(
            [query.embedding.reshape(1, -1), query.views.reshape(-1, query.embedding.shape[0])]
        )
        labels |= set(self._embeddings.query(vectors, k))
        return [self._entries[label] for label in labels if label in self._entries]

    def add_many(self, images: Sequence[tuple[int, str, F]], *, num_threads: int = -1) -> None:
        """Index many images at once, as `add` does each: (label, image_id, features) each."""
        for _, image_id, _ in images:
            self.remove(image_id)
        labels = []
        for label, image_id, features in images:
            self._entries[label] = Entry(image_id, features)
            self._label_of[image_id] = label
            self._hashes.add(label, features.sha256, features.phash)
            labels.append(label)
        dim = self._embeddings.dim
        vectors = np.empty((len(images), dim), dtype=np.float32)
        for row, (_, _, features) in enumerate(images):
            vectors[row] = features.embedding
        self._embeddings.add_many(labels, vectors, num_threads=num_threads)

    def label_of(self, image_id: str) -> int | None:
        """The integer label an image is indexed under, or None."""
        return self._label_of.get(image_id)

    def labelled(self, image_ids: Sequence[str]) -> dict[str, tuple[int, F]]:
        """The label and features of each of these images that the index holds."""
        found = {}
        for image_id in image_ids:
            label = self._label_of.get(image_id)
            if label is not None:
                found[image_id] = (label, self._entries[label].features)
        return found

    def entry(self, label: int) -> Entry[F]:
        """The indexed image with this label (KeyError if there is none)."""
        return self._entries[label]

    def nearest_many(
        self, vectors: np.ndarray, k: int, *, num_threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels of the k nearest embeddings of each query vector, and their inner products.

        The batch form of the embedding half of `candidates`, for scans that query every image
        of a collection; (n, k') arrays with k' <= k.
        """
        return self._embeddings.query_many(vectors, k, num_threads=num_threads)
