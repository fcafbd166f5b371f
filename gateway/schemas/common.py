"""What the answers share: how times are written, and fields shown only when they apply."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from dupgate.events.audit import iso

# A moment as ISO 8601 with its UTC offset ("2026-01-02T03:04:05.678901+00:00"), as the API has
# always written it (Pydantic's own format would end in "Z").
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Schema(BaseModel):
    """An answer's model: read from objects' attributes, written as JSON."""

    model_config = ConfigDict(from_attributes=True)


def _unset(value: object) -> bool:
    return value is None


def omitted(description: str) -> Any:
    """A field left out of the answer, not shown as null, where it does not apply."""
    return Field(None, exclude_if=_unset, description=description)
