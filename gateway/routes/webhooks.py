"""Webhooks: register an endpoint, list and delete them, see and redo deliveries."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from dupgate.webhooks import (
    create_webhook,
    delete_webhook,
    deliveries,
    redeliver,
    visible_webhook,
    visible_webhooks,
    webhook_view,
)
from gateway.deps import AdminCaller, ServicesDep, SessionDep
from gateway.fields import LABEL_LENGTH, SECRET_LENGTH, URL_LENGTH, PathId, Tenant, text

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
) -> dict[str, Any]:
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
    return {"id": hook.id}


@router.get("/webhooks")
def list_webhooks(session: SessionDep, caller: AdminCaller) -> dict[str, Any]:
    """The tenant's endpoints (never their secrets)."""
    return {"webhooks": [webhook_view(h) for h in visible_webhooks(session, caller)]}


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete(webhook_id: PathId, session: SessionDep, caller: AdminCaller) -> None:
    """Stop delivering to the endpoint; pending deliveries are cancelled."""
    delete_webhook(session, visible_webhook(session, caller, webhook_id), caller)


@router.get("/webhooks/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: PathId,
    session: SessionDep,
    caller: AdminCaller,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Deliveries, newest first, each with every attempt: status code, latency, error."""
    hook = visible_webhook(session, caller, webhook_id)
    return {"deliveries": deliveries(session, hook, status=status, limit=limit)}


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
def redo(
    webhook_id: PathId, delivery_id: PathId, session: SessionDep, caller: AdminCaller
) -> dict[str, Any]:
    """Send a delivery's event again (e.g. a dead one, once the receiver is fixed)."""
    hook = visible_webhook(session, caller, webhook_id)
    return {"id": redeliver(session, hook, delivery_id)}
