"""The pgvector backend: a collection's index read from PostgreSQL inside the caller's session.

Nothing is held in the process: each question is a query over committed rows, so a decision
made under the collection lock sees every commit before it, on whichever host it runs, and a
new worker answers its first upload with no replay. Candidates are the same as hnswlib's
(`dupgate.index.collection`): identical bytes, the nearest embeddings of the whole picture and
of its views; for hashes, an identical pHash (an indexed column) instead of a Hamming ball,
which would read every row. Small collections are searched exactly, as hnswlib's are.
"""

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.index.collection import EMBEDDING_CANDIDATES, Entry
from dupgate.index.embeddings import EXACT_SEARCH_MAX, HNSW_EF
from dupgate.store import vectors
from dupgate.store.db import read_scope
from dupgate.store.models import ImageFeatures


class VectorIndexMissing(RuntimeError):
    """The pgvector backend was chosen, but the database has no index table."""


class PgVectorIndex:
    """One collection's index (its images, or its blocklist) in `index_entries`."""

    def __init__(
        self,
        session: Session,
        collection: str,
        kind: str = "images",
        *,
        exact_max: int = EXACT_SEARCH_MAX,
        ef_search: int = HNSW_EF,
    ) -> None:
        _require_table(session)
        self._session = session
        self._collection = collection
        self._kind = kind
        self._exact_max = exact_max
        self._ef_search = ef_search
        self._exact: bool | None = None

    def __len__(self) -> int:
        return vectors.count_entries(self._session, self._collection, self._kind, 2**62)

    def _is_exact(self, session: Session) -> bool:
        """Whether queries sort every entry (the collection is small), asked once."""
        if self._exact is None:
            held = vectors.count_entries(session, self._collection, self._kind, self._exact_max + 1)
            self._exact = held <= self._exact_max
        return self._exact

    def candidates(self, query: Features, k: int = EMBEDDING_CANDIDATES) -> list[Entry[Features]]:
        """Images that may duplicate `query`: same bytes or pHash, or the k nearest embeddings."""
        found = {
            image_id: sha256
            for image_id, _, sha256 in vectors.same_hashes(
                self._session, self._collection, self._kind, query.sha256, query.phash
            )
        }
        queries = np.vstack(
            [query.embedding.reshape(1, -1), query.views.reshape(-1, query.embedding.shape[0])]
        )
        for neighbours in self._nearest(queries, k):
            found.update((image_id, sha256) for image_id, _, sha256, _ in neighbours)
        features = load_features(self._session, set(found.values()))
        return [Entry(image_id, features[sha256]) for image_id, sha256 in sorted(found.items())]

    def label_of(self, image_id: str) -> int | None:
        """The label of an indexed image, or None."""
        found = vectors.entries_of(self._session, self._collection, self._kind, [image_id])
        return found[0][1] if found else None

    def labelled(self, image_ids: Sequence[str]) -> dict[str, tuple[int, Features]]:
        """The label and features of each of these images that the index holds."""
        return labelled_entries(self._session, self._collection, image_ids, self._kind)

    def entry(self, label: int) -> Entry[Features]:
        """The indexed image with this label (KeyError if there is none)."""
        found = vectors.entries_by_label(self._session, [label])
        if not found:
            raise KeyError(label)
        image_id, _, sha256 = found[0]
        return Entry(image_id, load_features(self._session, {sha256})[sha256])

    def nearest_many(
        self, queries: np.ndarray, k: int, *, num_threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) labels of the k nearest embeddings of each vector (-1 where fewer), and their
        inner products (halfvec precision)."""
        labels = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        # A transaction of its own: a scan asks for its neighbours long after the session
        # that found its images has ended, and must hold no transaction open meanwhile.
        with Session(self._session.get_bind()) as session, session.begin():
            found = self._nearest(queries, k, session)
        for row, neighbours in enumerate(found):
            for column, (_, label, _, ip) in enumerate(neighbours):
                labels[row, column], scores[row, column] = label, ip
        return labels, scores

    def _nearest(
        self, queries: np.ndarray, k: int, session: Session | None = None
    ) -> list[list[tuple[str, int, str, float]]]:
        session = session or self._session
        return vectors.nearest(
            session,
            self._collection,
            self._kind,
            queries,
            k,
            exact=self._is_exact(session),
            ef_search=max(self._ef_search, k),
        )


def _require_table(session: Session) -> None:
    if not vectors.keeps_vector_index(session):
        raise VectorIndexMissing(
            "DUPGATE_INDEX_BACKEND=pgvector needs PostgreSQL with the pgvector extension "
            f"(0.8.4 or newer) available when `dupgate migrate` runs; this database has no "
            f"{vectors.TABLE} table. Install pgvector on the server, then run "
            "`dupgate migrate` on a new database, or choose DUPGATE_INDEX_BACKEND=hnswlib."
        )


def check_vector_index(database_url: str) -> None:
    """VectorIndexMissing, saying what to do, unless the database holds the index table."""
    with read_scope(database_url) as session:
        _require_table(session)


def load_features(session: Session, sha256s: set[str]) -> dict[str, Features]:
    """The stored features of these bytes, decoded."""
    rows = session.execute(
        select(ImageFeatures.sha256, ImageFeatures.data).where(ImageFeatures.sha256.in_(sha256s))
    ).all()
    return {sha256: Features.from_bytes(data) for sha256, data in rows}


def labelled_entries(
    session: Session, collection: str, image_ids: Sequence[str], kind: str = "images"
) -> dict[str, tuple[int, Features]]:
    """The label and features of each of these images that the index holds."""
    found: dict[str, tuple[int, Features]] = {}
    for start in range(0, len(image_ids), 1000):
        rows = vectors.entries_of(session, collection, kind, image_ids[start : start + 1000])
        features = load_features(session, {sha256 for _, _, sha256 in rows})
        found.update((image_id, (label, features[sha256])) for image_id, label, sha256 in rows)
    return found
