"""What matching needs of an index over a collection's images, and the backends that provide it.

Two backends answer the same questions (`ImageIndex`), chosen by DUPGATE_INDEX_BACKEND:
- "hnswlib": the `index` package's structures (a library that knows nothing of dupgate), held
  in each process and caught up from the database's change log (`registry`);
- "pgvector": the rows of `index_entries` in PostgreSQL, read in the caller's session
  (`pgvector`); nothing is held in the process.
"""

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from dupgate.analysis import Features
from dupgate.index.collection import CollectionIndex

IndexBackend = Literal["hnswlib", "pgvector"]


class IndexedImage(Protocol):
    """An image an index holds: its id and the features it was indexed with."""

    @property
    def image_id(self) -> str: ...

    @property
    def features(self) -> Features: ...


class ImageIndex(Protocol):
    """What the domain asks of an index over one collection's images.

    Images are kept under integer labels, unique within the index.
    """

    def __len__(self) -> int: ...

    def candidates(self, query: Features, k: int = ...) -> Sequence[IndexedImage]:
        """Images that may duplicate `query`: same bytes, close hashes, the k nearest embeddings."""

    def label_of(self, image_id: str) -> int | None:
        """The label an image is indexed under, or None."""

    def labelled(self, image_ids: Sequence[str]) -> dict[str, tuple[int, Features]]:
        """The label and features of each of these images that the index holds."""

    def entry(self, label: int) -> IndexedImage:
        """The image with this label (KeyError if there is none)."""

    def nearest_many(
        self, vectors: np.ndarray, k: int, *, num_threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, k') labels of the k nearest embeddings of each vector, and their inner products;
        a label of -1 pads a row where fewer were found."""


def new_index() -> CollectionIndex[Features]:
    """An empty in-process index."""
    return CollectionIndex[Features]()
