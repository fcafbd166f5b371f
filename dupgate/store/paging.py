"""Lists read a page at a time, in a stable order, from just after the last row a client saw.

Every list has an `Order`: columns that together name one row (a time and an id, say), all
ascending or all descending. A page is the rows after a `Key` (the values of those columns in the
last row of the page before), so rows written meanwhile neither repeat nor shift what follows,
as offsets would. The gateway carries the key to the client as an opaque cursor.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.types import TypeDecorator, TypeEngine

T = TypeVar("T")


KeyPart = str | int | datetime


# The values of an Order's columns in one row.
Key = tuple[KeyPart, ...]


class Order:
    """A stable order of a list's rows by columns that name a row."""

    def __init__(self, *columns: InstrumentedAttribute[Any], descending: bool = False) -> None:
        self.columns = columns
        self.descending = descending

    @property
    def clauses(self) -> list[ColumnElement[Any]]:
        """For ORDER BY."""
        return [c.desc() if self.descending else c.asc() for c in self.columns]

    def after(self, key: Key | None) -> ColumnElement[bool]:
        """The rows that come after `key` in this order (every row for None)."""
        if key is None:
            return true()
        if len(key) != len(self.columns):
            return false()
        clauses = []
        for i, (column, value) in enumerate(zip(self.columns, key, strict=True)):
            ties = [c == v for c, v in zip(self.columns[:i], key[:i], strict=True)]
            clauses.append(and_(*ties, column < value if self.descending else column > value))
        return or_(*clauses)

    def key(self, row: object) -> Key:
        """The values of this order's columns in `row`."""
        return tuple(getattr(row, column.key) for column in self.columns)

    @property
    def types(self) -> tuple[type, ...]:
        """The Python type of each column's values (str, int or datetime)."""
        return tuple(_python_type(column.type) for column in self.columns)


def _python_type(kind: TypeEngine[Any]) -> type:
    # A TypeDecorator (times in UTC, vocabulary words) holds values of the type it decorates.
    return _python_type(kind.impl_instance) if isinstance(kind, TypeDecorator) else kind.python_type


@dataclass(frozen=True)
class Slice(Generic[T]):
    """A page of rows, and the key to read the next page after (None: this is the last)."""

    rows: list[T]
    next: Key | None


def page_of(rows: Sequence[T], order: Order, limit: int) -> Slice[T]:
    """The first `limit` of `rows`, read with `limit + 1` so that the last page says so."""
    more = len(rows) > limit
    shown = list(rows[:limit])
    return Slice(shown, order.key(shown[-1]) if more and shown else None)


def read_page(
    session: Session, query: Select[T], order: Order, after: Key | None, limit: int
) -> Slice[T]:
    """One page of `query`'s rows in `order`, after `after`."""
    rows = session.scalars(
        query.where(order.after(after)).order_by(*order.clauses).limit(limit + 1)
    )
    return page_of(rows.all(), order, limit)
