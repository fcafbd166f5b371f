"""The per-collection lock that serializes decisions and events of a collection."""

from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.orm import Session

from dupgate.models import Collection


class UnknownCollection(LookupError):
    """No collection by that name (or none the caller may see)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"collection {name!r} does not exist; create it with PUT /v1/collections/{name}"
        )


def lock_collections(session: Session, names: Iterable[str]) -> dict[str, Collection]:
    """Take the row locks of these collections until the transaction ends; returns them by name.

    Deciding is serialized per collection so that two copies arriving at once cannot both be
    accepted, and events of a collection are written in commit order. On PostgreSQL the UPDATE
    locks the row until commit, and what the transaction reads after it (READ COMMITTED) sees
    every earlier commit. Locks are taken in name order, so two transactions that lock several
    collections cannot deadlock. On SQLite every transaction already holds the database's write
    lock from its start (BEGIN IMMEDIATE, see dupgate.db).
    """
    locked: dict[str, Collection] = {}
    for name in sorted(set(names)):
        result = session.execute(
            update(Collection)
            .where(Collection.name == name)
            .values(decisions=Collection.decisions + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise UnknownCollection(name)
        collection = session.get(Collection, name, populate_existing=True)
        assert collection is not None
        locked[name] = collection
    return locked
