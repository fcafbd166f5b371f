"""API keys: make one (shown once), list them, revoke one."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from dupgate.events import record_event
from dupgate.keys import ALL_TENANTS, Forbidden, create_key, key_view, visible_keys
from dupgate.models import ApiKey
from gateway.deps import AdminCaller, SessionDep
from gateway.fields import KEY_NAME_LENGTH, NO_NUL, PathId, Tenant, text

router = APIRouter(tags=["keys"])


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Tenant | None = Field(None, description='the key\'s tenant ("*": every tenant)')
    scopes: list[Annotated[str, Field(max_length=20, pattern=NO_NUL)]] = Field(
        description="upload, read and/or admin", max_length=3
    )
    name: Annotated[str, text(KEY_NAME_LENGTH)] | None = None


@router.post("/keys", status_code=201)
def create(body: KeyRequest, session: SessionDep, caller: AdminCaller) -> dict[str, Any]:
    """Make a key; the key itself is in this answer only (it is stored hashed)."""
    if body.tenant == ALL_TENANTS and not caller.all_tenants:
        raise Forbidden("only a key over every tenant can make another one")
    tenant = ALL_TENANTS if body.tenant == ALL_TENANTS else caller.tenant_for_new(body.tenant)
    row, key = create_key(session, tenant, body.scopes, body.name)
    record_event(
        session,
        "key.created",
        tenant=tenant,
        actor=caller.actor,
        data={"key_id": row.id, "scopes": row.scopes, "name": row.name},
    )
    return {"id": row.id, "key": key, "tenant": tenant, "scopes": row.scopes}


@router.get("/keys")
def list_keys(session: SessionDep, caller: AdminCaller) -> dict[str, Any]:
    """The keys of the tenant (never the keys themselves)."""
    return {"keys": [key_view(k) for k in visible_keys(session, caller)]}


@router.delete("/keys/{key_id}", status_code=204)
def revoke(key_id: PathId, session: SessionDep, caller: AdminCaller) -> None:
    """Revoke a key: it stops working at once."""
    row = session.get(ApiKey, key_id)
    if row is None or not caller.sees(row.tenant):
        raise HTTPException(404, f"no API key with id {key_id}")
    record_event(
        session, "key.deleted", tenant=row.tenant, actor=caller.actor, data={"key_id": row.id}
    )
    session.delete(row)
