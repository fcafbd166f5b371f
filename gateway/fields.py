"""Declared constraints for what requests carry, matching the database columns they end in.

PostgreSQL refuses strings longer than their column and any NUL character, SQLite stores both,
and neither takes integers past 64 bits: checked here, at the edge, every backend answers the
same 422 and the OpenAPI document says what is accepted.
"""

from enum import StrEnum
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import Field

# No NUL anywhere: PostgreSQL text cannot hold it.
NO_NUL = r"^[^\x00]*$"
# Ids dupgate makes are UUIDs (events: "evt_" + hex); anything else cannot name one.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# A bound well inside the 64-bit integers both databases store, for offsets and sequence numbers.
MAX_INT = 2**53
# Ids of groups and pages are small counts.
MAX_COUNT = 2**31 - 1

# Column lengths (dupgate/models.py).
TENANT_LENGTH = 100
KEY_NAME_LENGTH = 200
EXTERNAL_ID_LENGTH = 500
FILENAME_LENGTH = 500
URL_LENGTH = 2000
SECRET_LENGTH = 500
# Free text kept in Text columns (reasons): long enough for any sentence, short of abuse.
REASON_LENGTH = 2000
# Labels and event types live in JSON columns; a bound keeps them sensible.
LABEL_LENGTH = 200


def text(max_length: int, *, min_length: int = 0, description: str | None = None) -> Any:
    """A Field for a string of at most `max_length` characters and no NUL."""
    return Field(
        min_length=min_length, max_length=max_length, pattern=NO_NUL, description=description
    )


def one_of(kind: type[StrEnum] | tuple[StrEnum, ...]) -> dict[str, Any]:
    """The OpenAPI `enum` of a string the domain checks (it answers 422 with the values)."""
    return {"enum": [member.value for member in kind]}


Tenant = Annotated[str, text(TENANT_LENGTH, min_length=1)]
Label = Annotated[str, text(LABEL_LENGTH)]
BodyId = Annotated[str, Field(pattern=ID_PATTERN, description="an id dupgate gave")]
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="an id dupgate gave")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT)]
