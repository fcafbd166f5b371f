"""The audit trail."""

from pydantic import JsonValue

from dupgate.events.audit import event_payload
from dupgate.gateway.schemas.common import Schema, Timestamp
from dupgate.store import models


class Event(Schema):
    """An event, as listed and as webhooks receive it."""

    id: str
    seq: int
    type: str
    created_at: Timestamp
    tenant: str
    collection: str | None
    actor: str
    data: dict[str, JsonValue]

    @classmethod
    def of(cls, row: models.Event) -> "Event":
        return cls.model_validate(event_payload(row))
