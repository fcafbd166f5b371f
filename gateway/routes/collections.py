"""Collections: create one or change its policy (PUT), read it, list them, see its policy history."""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from dupgate.collections import (
    PolicyChange,
    collection_view,
    policy_version_view,
    policy_versions,
    put_collection,
    visible_collection,
    visible_collections,
)
from gateway.deps import AdminCaller, ReadCaller, SessionDep
from gateway.errors import CONFLICT
from gateway.fields import NO_NUL, Tenant

router = APIRouter(tags=["collections"])
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"

CollectionName = Annotated[
    str,
    Path(
        pattern=COLLECTION_PATTERN,
        description="1-200 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
]


# Strict: `false` or "0.5" is not a threshold (lax parsing stored `false` as 0).
Threshold = Annotated[float, Field(strict=True, allow_inf_nan=False)]
ActionName = Annotated[str, Field(max_length=20, pattern=NO_NUL)]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exact: Threshold | None = None
    near: Threshold | None = None


class CollectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    policy: dict[ActionName, ActionName] | None = Field(
        None, description='the action per tier, e.g. {"exact": "reject", "near": "hold"}'
    )
    check_against: list[Annotated[str, Field(pattern=COLLECTION_PATTERN)]] | None = Field(
        None,
        description="other collections of the same tenant that uploads are also checked against",
    )
    tenant: Tenant | None = Field(
        None, description="for a new collection made with a key over every tenant: its tenant"
    )


@router.put("/collections/{collection}", responses=CONFLICT)
def put(
    collection: CollectionName, body: CollectionRequest, session: SessionDep, caller: AdminCaller
) -> dict[str, Any]:
    """Create a collection (an empty body takes the defaults) or change its policy.

    Every change is a new policy version, kept with who made it and when.
    """
    change = PolicyChange(
        body.thresholds.exact, body.thresholds.near, body.policy, body.check_against, body.tenant
    )
    return collection_view(put_collection(session, collection, change, caller))


@router.get("/collections")
def list_collections(session: SessionDep, caller: ReadCaller) -> dict[str, Any]:
    """The collections this key may see."""
    return {"collections": [collection_view(c) for c in visible_collections(session, caller)]}


@router.get("/collections/{collection}")
def get(collection: CollectionName, session: SessionDep, caller: ReadCaller) -> dict[str, Any]:
    """A collection's thresholds, policy and policy version."""
    return collection_view(visible_collection(session, caller, collection))


@router.get("/collections/{collection}/policies")
def history(collection: CollectionName, session: SessionDep, caller: ReadCaller) -> dict[str, Any]:
    """Every version of the collection's policy, newest first, with who made it and when."""
    visible_collection(session, caller, collection)
    return {"versions": [policy_version_view(v) for v in policy_versions(session, collection)]}
