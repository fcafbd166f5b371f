"""API keys: make one (shown once), list them, revoke one."""

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dupgate.keys import issue_key, key_view, revoke_key, visible_keys
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
    row, key = issue_key(session, caller, body.tenant, body.scopes, body.name)
    return {"id": row.id, "key": key, "tenant": row.tenant, "scopes": row.scopes}


@router.get("/keys")
def list_keys(session: SessionDep, caller: AdminCaller) -> dict[str, Any]:
    """The keys of the tenant (never the keys themselves)."""
    return {"keys": [key_view(k) for k in visible_keys(session, caller)]}


@router.delete("/keys/{key_id}", status_code=204)
def revoke(key_id: PathId, session: SessionDep, caller: AdminCaller) -> None:
    """Revoke a key: it stops working at once."""
    revoke_key(session, caller, key_id)
