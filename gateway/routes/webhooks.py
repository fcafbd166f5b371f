"""Webhooks: register an endpoint, list and delete them, see and redo deliveries."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dupgate.gateway.deps import AdminCaller, ServicesDep, SessionDep
from dupgate.gateway.fields import LABEL_LENGTH, SECRET_LENGTH, URL_LENGTH, PathId, Tenant, text
from dupgate.gateway.pagination import Page, Pages
from dupgate.gateway.schemas.webhooks import Delivery, Redelivery, Webhook, WebhookCreated
from dupgate.tenancy.visibility import visible_webhook
from dupgate.vocabulary import DeliveryStatus
from dupgate.webhooks.endpoints import (
    DELIVERIES,
    WEBHOOKS,
    create_webhook,
    delete_webhook,
    deliveries,
    redeliver,
    visible_webhooks,
)

router = APIRouter(tags=["webhooks"])


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, text(URL_LENGTH, description="http(s), reaching a public address")]
    secret: Annotated[
        str, text(SECRET_LENGTH, description="signs every delivery; at least 16 characters")
    ]
    events: list[Annotated[str, text(LABEL_LENGTH, min_length=1)]] = Field(
        default_factory=lambda: ["*"], description='e.g. ["*"], ["upload.*"]', max_length=100
    )
    tenant: Tenant | None = Field(None, description="keys over every tenant: the tenant it is for")


@router.post("/webhooks", status_code=201)
def create(
    body: WebhookRequest, session: SessionDep, services: ServicesDep, caller: AdminCaller
) -> WebhookCreated:
    """Register an endpoint for the tenant's events; its host must resolve to public addresses."""
    tenant = caller.tenant_for_new(body.tenant)
    hook = create_webhook(
        session,
        tenant,
        body.url,
        body.secret,
        body.events,
        caller,
        allowed=services.settings.webhook_networks,
    )
    return WebhookCreated(id=hook.id)


@router.get("/webhooks")
def list_webhooks(session: SessionDep, caller: AdminCaller, pages: Pages) -> Page[Webhook]:
    """The tenant's endpoints, oldest first (never their secrets)."""
    found = visible_webhooks(session, caller, after=pages.after(WEBHOOKS), limit=pages.limit)
    return Page[Webhook].of(found, Webhook.model_validate)


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete(webhook_id: PathId, session: SessionDep, caller: AdminCaller) -> None:
    """Stop delivering to the endpoint; pending deliveries are cancelled."""
    delete_webhook(session, visible_webhook(session, caller, webhook_id), caller)


@router.get("/webhooks/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: PathId,
    session: SessionDep,
    caller: AdminCaller,
    pages: Pages,
    status: Annotated[DeliveryStatus | None, Query(description="only deliveries in it")] = None,
) -> Page[Delivery]:
    """Deliveries, newest first, each with every attempt: status code, latency, error."""
    hook = visible_webhook(session, caller, webhook_id)
    found = deliveries(
        session, hook, status=status, after=pages.after(DELIVERIES), limit=pages.limit
    )
    return Page[Delivery].of(found, Delivery.of)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
def redo(
    webhook_id: PathId, delivery_id: PathId, session: SessionDep, caller: AdminCaller
) -> Redelivery:
    """Send a delivery's event again (e.g. a dead one, once the receiver is fixed)."""
    hook = visible_webhook(session, caller, webhook_id)
    return Redelivery(id=redeliver(session, hook, delivery_id))
