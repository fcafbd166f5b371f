"""Per-process cache of collection indexes, caught up from the database's change log."""

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.models import ImageFeatures, IndexChange
from index.collection import CollectionIndex


class IndexRegistry:
    """Holds one CollectionIndex per collection and replays committed changes into it.

    The database is the source of truth: a new process starts empty and replays the whole
    log; a running one replays only what other processes committed since it last looked.
    """

    def __init__(self) -> None:
        self._indexes: dict[str, CollectionIndex] = {}
        self._lock = threading.Lock()

    def synced(self, session: Session, collection: str) -> CollectionIndex:
        """The collection's index with every committed change applied."""
        with self._lock:
            index = self._indexes.setdefault(collection, CollectionIndex())
            rows = session.execute(
                select(IndexChange, ImageFeatures.data)
                .outerjoin(ImageFeatures, ImageFeatures.sha256 == IndexChange.sha256)
                .where(IndexChange.collection == collection, IndexChange.seq > index.last_seq)
                .order_by(IndexChange.seq)
            ).all()
            for change, data in rows:
                if change.op == "add":
                    index.add(change.seq, change.image_id, Features.from_bytes(data))
                else:
                    index.remove(change.image_id)
                index.last_seq = change.seq
            return index

    def drop(self, collection: str) -> None:
        """Forget a collection's cached index (it is rebuilt on next use)."""
        with self._lock:
            self._indexes.pop(collection, None)
