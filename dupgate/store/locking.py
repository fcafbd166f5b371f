"""The per-collection lock that serializes decisions and events of a collection."""

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dupgate.errors import NotFound
from dupgate.store.models import Collection


class UnknownCollection(NotFound):
    """No collection by that name (or none the caller may see)."""

    code = "unknown_collection"

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


def lock_with_checked(session: Session, name: str) -> dict[str, Collection]:
    """Lock the collection and every collection it is checked against; returns them by name.

    A decision may match, link to or read images of the checked collections, and an image there
    may be deleted meanwhile: holding their locks too makes the two wait for each other. Every
    lock is taken in one name-ordered pass, so that no two transactions can deadlock. The
    collection's `check_against` is read before its lock is held; if a policy change added a
    collection in between, the pass is undone (rolling back to a savepoint releases its row
    locks) and taken again with it.
    """
    names = {name, *(_check_against(session, name))}
    while True:
        savepoint = session.begin_nested()
        locked = lock_collections(session, names)
        wanted = {name, *(locked[name].check_against or [])}
        if wanted <= names:
            savepoint.commit()
            return {n: locked[n] for n in wanted}
        savepoint.rollback()
        names |= wanted


def _check_against(session: Session, name: str) -> list[str]:
    checked = session.scalar(select(Collection.check_against).where(Collection.name == name))
    return list(checked or [])
