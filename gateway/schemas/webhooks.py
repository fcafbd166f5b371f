"""Webhooks and their deliveries."""

from dupgate.gateway.schemas.common import Schema, Timestamp
from dupgate.store import models
from dupgate.vocabulary import DeliveryStatus
from dupgate.webhooks.endpoints import DeliveryRecord


class Webhook(Schema):
    """An endpoint that receives the tenant's events (never its secret)."""

    id: str
    tenant: str
    url: str
    events: list[str]
    created_by: str
    created_at: Timestamp


class WebhookCreated(Schema):
    """A registered webhook."""

    id: str


class Attempt(Schema):
    """One request of a delivery: the status code, how long it took, what went wrong."""

    at: Timestamp
    status_code: int | None
    latency_ms: float
    error: str | None

    @classmethod
    def of(cls, row: models.WebhookAttempt) -> "Attempt":
        return cls(
            at=row.attempted_at,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            error=row.error,
        )


class Delivery(Schema):
    """An event on its way to the webhook, with every attempt."""

    id: str
    event_id: str
    event_type: str
    collection: str | None
    status: DeliveryStatus
    next_attempt_at: Timestamp | None
    created_at: Timestamp
    finished_at: Timestamp | None
    attempts: list[Attempt]

    @classmethod
    def of(cls, record: DeliveryRecord) -> "Delivery":
        delivery, event = record.delivery, record.event
        pending = delivery.status == DeliveryStatus.PENDING
        return cls(
            id=delivery.id,
            event_id=event.id,
            event_type=event.type,
            collection=event.collection,
            status=delivery.status,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            created_at=delivery.created_at,
            finished_at=delivery.finished_at,
            attempts=[Attempt.of(a) for a in record.attempts],
        )


class Redelivery(Schema):
    """The new delivery that sends the event again."""

    id: str
