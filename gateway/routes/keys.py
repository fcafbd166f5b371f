"""API keys: make one (shown once), list them, revoke one."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dupgate.gateway.deps import AdminCaller, SessionDep
from dupgate.gateway.fields import KEY_NAME_LENGTH, NO_NUL, PathId, Tenant, one_of, text
from dupgate.gateway.pagination import Page, Pages
from dupgate.gateway.schemas.keys import ApiKey, NewKey
from dupgate.tenancy.keys import KEYS, issue_key, revoke_key, visible_keys
from dupgate.vocabulary import Scope

router = APIRouter(tags=["keys"])


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Tenant | None = Field(None, description='the key\'s tenant ("*": every tenant)')
    # Names are checked by the domain, which says which scopes there are (422).
    scopes: list[
        Annotated[str, Field(max_length=20, pattern=NO_NUL, json_schema_extra=one_of(Scope))]
    ] = Field(description="upload, read and/or admin", max_length=3)
    name: Annotated[str, text(KEY_NAME_LENGTH)] | None = None


@router.post("/keys", status_code=201)
def create(body: KeyRequest, session: SessionDep, caller: AdminCaller) -> NewKey:
    """Make a key; the key itself is in this answer only (it is stored hashed)."""
    row, key = issue_key(session, caller, body.tenant, body.scopes, body.name)
    return NewKey(id=row.id, key=key, tenant=row.tenant, scopes=row.scopes)


@router.get("/keys")
def list_keys(session: SessionDep, caller: AdminCaller, pages: Pages) -> Page[ApiKey]:
    """The keys of the tenant, oldest first (never the keys themselves)."""
    found = visible_keys(session, caller, after=pages.after(KEYS), limit=pages.limit)
    return Page[ApiKey].of(found, ApiKey.model_validate)


@router.delete("/keys/{key_id}", status_code=204)
def revoke(key_id: PathId, session: SessionDep, caller: AdminCaller) -> None:
    """Revoke a key: it stops working at once."""
    revoke_key(session, caller, key_id)
