"""What matching needs of an index over a collection's images, and the one that provides it.

The index structures are the `index` package's, a library that knows nothing of dupgate; the
domain asks of them only what `ImageIndex` says, and builds them with `new_index`.
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from dupgate.analysis import Features
from dupgate.index.collection import CollectionIndex


class IndexedImage(Protocol):
    """An image an index holds: its id and the features it was indexed with."""

    @property
    def image_id(self) -> str: ...

    @property
    def features(self) -> Features: ...


class ImageIndex(Protocol):
    """What the domain needs of an index over one collection's images.

    Images are kept under integer labels the caller picks; `last_seq` is the sequence number
    of the last change applied to it (kept for the registry, which alone writes it).
    """

    last_seq: int

    def __len__(self) -> int: ...

    def add_many(
        self, images: Sequence[tuple[int, str, Features]], *, num_threads: int = -1
    ) -> None:
        """Index (or re-index) images: (label, image_id, features) each."""

    def remove(self, image_id: str) -> None:
        """Forget an image; unknown ids are ignored."""

    def candidates(self, query: Features, k: int = ...) -> Sequence[IndexedImage]:
        """Images that may duplicate `query`: same bytes, close hashes, the k nearest embeddings."""

    def label_of(self, image_id: str) -> int | None:
        """The label an image is indexed under, or None."""

    def entry(self, label: int) -> IndexedImage:
        """The image with this label (KeyError if there is none)."""

    def nearest_many(
        self, vectors: np.ndarray, k: int, *, num_threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, k') labels of the k nearest embeddings of each vector, and their inner products."""


def new_index() -> ImageIndex:
    """An empty index."""
    return CollectionIndex[Features]()
