"""One shape for every list: `{"items": [...], "next_cursor": "..." | null}`, read with
`?cursor=&limit=`.

A client asks for the first page without a cursor, then passes each answer's `next_cursor` back
as `cursor` until it is null (the last page). The cursor is opaque: it holds the position of the
last item shown in the list's stable order (dupgate.paging), so items added meanwhile are not
shown twice and none is skipped.
"""

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Generic, Self, TypeVar

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from dupgate.gateway.fields import MAX_INT, NO_NUL
from dupgate.store.models import as_utc
from dupgate.store.paging import Key, KeyPart, Order, Slice

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CURSOR_LENGTH = 1000
# What a cursor may hold: ids and names dupgate made (never a NUL), sequence numbers, times.
_PARTS: dict[type, TypeAdapter[KeyPart]] = {
    str: TypeAdapter(Annotated[str, Field(max_length=200, pattern=NO_NUL)]),
    int: TypeAdapter(Annotated[int, Field(strict=True, ge=0, le=MAX_INT)]),
    datetime: TypeAdapter(Annotated[datetime, Field()]),
}


class Page(BaseModel, Generic[T]):
    """One page of a list, in the list's stable order."""

    items: list[T]
    next_cursor: str | None = Field(
        description="pass it as `cursor` for the next page; null on the last page"
    )

    @classmethod
    def of(cls, rows: Slice[R], item: Callable[[R], T]) -> Self:
        """The page of these rows, each shown by `item`."""
        return cls(
            items=[item(row) for row in rows.rows],
            next_cursor=None if rows.next is None else encode_cursor(rows.next),
        )


def encode_cursor(key: Key) -> str:
    """The opaque cursor for a position in a list."""
    parts = [as_utc(p).isoformat() if isinstance(p, datetime) else p for p in key]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> Key:
    """The position a cursor of this list holds; a 422 for anything no such list gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(order.types):
            raise ValueError("wrong length")
        key = tuple(
            _PARTS[kind].validate_python(part)
            for kind, part in zip(order.types, parts, strict=True)
        )
    except (binascii.Error, UnicodeDecodeError, ValueError, ValidationError) as e:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "cursor"),
                    "msg": "not a cursor of this list: pass the `next_cursor` of its last page",
                    "type": "value_error",
                }
            ]
        ) from e
    return tuple(as_utc(p) if isinstance(p, datetime) else p for p in key)


class PageParams:
    """`?cursor=&limit=`: where a page starts and how many items it has at most."""

    def __init__(
        self,
        cursor: Annotated[
            str | None,
            Query(
                max_length=CURSOR_LENGTH,
                pattern=r"^[A-Za-z0-9_-]*$",
                description="the `next_cursor` of the page before; left out: the first page",
            ),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description="items on the page, at most")
        ] = DEFAULT_LIMIT,
    ) -> None:
        self.cursor = cursor
        self.limit = limit

    def after(self, order: Order) -> Key | None:
        """The position the page starts after (None: the first page)."""
        return None if not self.cursor else decode_cursor(self.cursor, order)


Pages = Annotated[PageParams, Depends()]
