"""Each collection's index as of now: the pgvector backend's rows, or, for hnswlib, a
per-process cache caught up from the database's change log.

The `index` package knows nothing of the database: what its indexes hold (committed features,
in the change log's order) is loaded here.
"""

import threading
from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.index.collection import CollectionIndex
from dupgate.matching.indexes import ImageIndex, IndexBackend, new_index
from dupgate.matching.pgvector import PgVectorIndex
from dupgate.store.models import ImageFeatures, IndexChange


class IndexRegistry:
    """The index of each collection, as the backend keeps it.

    The database is the source of truth. With pgvector it is the index: each call reads it
    in the caller's session. With hnswlib this process holds one index per collection and
    replays committed changes into it: a new process starts empty and replays the whole log;
    a running one replays only what other processes committed since it last looked.
    """

    def __init__(self, backend: IndexBackend = "hnswlib") -> None:
        self.backend = backend
        self._indexes: dict[tuple[str, str], CollectionIndex[Features]] = {}
        self._lock = threading.Lock()

    def synced(self, session: Session, collection: str, kind: str = "images") -> ImageIndex:
        """The collection's index with every committed change applied.

        `kind` is "images" for its committed images, "blocked" for its blocklist.
        """
        if self.backend == "pgvector":
            return PgVectorIndex(session, collection, kind)
        with self._lock:
            index = self._indexes.get((collection, kind))
            if index is None:
                index = self._indexes[(collection, kind)] = new_index()
            rows = session.execute(
                select(IndexChange, ImageFeatures.data)
                .outerjoin(ImageFeatures, ImageFeatures.sha256 == IndexChange.sha256)
                .where(
                    IndexChange.collection == collection,
                    IndexChange.kind == kind,
                    IndexChange.seq > index.last_seq,
                )
                .order_by(IndexChange.seq)
            ).all()
            _replay(index, rows)
            return index


def _replay(
    index: CollectionIndex[Features], rows: Sequence[Row[IndexChange, bytes | None]]
) -> None:
    """Apply changes in order, inserting runs of additions in one multi-threaded batch.

    A new process replays a whole collection this way: 100,000 images one `add` at a time take
    minutes on one core, in batches they take seconds on every core.
    """
    batch: list[tuple[int, str, Features]] = []
    in_batch: set[str] = set()

    def flush() -> None:
        if batch:
            index.add_many(batch)
            index.last_seq = batch[-1][0]
            batch.clear()
            in_batch.clear()

    for change, data in rows:
        # An image added twice in one run (an overwrite) starts a new batch.
        if change.op != "add" or change.image_id in in_batch:
            flush()
        if change.op == "add":
            assert data is not None, "an added image has stored features"
            batch.append((change.seq, change.image_id, Features.from_bytes(data)))
            in_batch.add(change.image_id)
        else:
            index.remove(change.image_id)
            index.last_seq = change.seq
    flush()
