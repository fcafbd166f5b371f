"""Collections: create one or change its policy (PUT), read it, list them, see its policy history."""

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from dupgate.gateway.deps import AdminCaller, ReadCaller, SessionDep
from dupgate.gateway.errors import CONFLICT
from dupgate.gateway.fields import NO_NUL, Tenant, one_of
from dupgate.gateway.pagination import Page, Pages
from dupgate.gateway.schemas.collections import Collection, PolicyVersion
from dupgate.tenancy.collections import (
    COLLECTIONS,
    POLICY_VERSIONS,
    PolicyChange,
    policy_versions,
    put_collection,
    visible_collections,
)
from dupgate.tenancy.visibility import visible_collection
from dupgate.vocabulary import Action, Tier

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
# Names are checked by the domain, which says which tiers and actions there are (422).
TierName = Annotated[str, Field(max_length=20, pattern=NO_NUL, json_schema_extra=one_of(Tier))]
ActionName = Annotated[str, Field(max_length=20, pattern=NO_NUL, json_schema_extra=one_of(Action))]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exact: Threshold | None = None
    near: Threshold | None = None


class CollectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    policy: dict[TierName, ActionName] | None = Field(
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
) -> Collection:
    """Create a collection (an empty body takes the defaults) or change its policy.

    Every change is a new policy version, kept with who made it and when.
    """
    change = PolicyChange(
        body.thresholds.exact, body.thresholds.near, body.policy, body.check_against, body.tenant
    )
    return Collection.of(put_collection(session, collection, change, caller))


@router.get("/collections")
def list_collections(session: SessionDep, caller: ReadCaller, pages: Pages) -> Page[Collection]:
    """The collections this key may see, by name."""
    found = visible_collections(session, caller, after=pages.after(COLLECTIONS), limit=pages.limit)
    return Page[Collection].of(found, Collection.of)


@router.get("/collections/{collection}")
def get(collection: CollectionName, session: SessionDep, caller: ReadCaller) -> Collection:
    """A collection's thresholds, policy and policy version."""
    return Collection.of(visible_collection(session, caller, collection))


@router.get("/collections/{collection}/policies")
def history(
    collection: CollectionName, session: SessionDep, caller: ReadCaller, pages: Pages
) -> Page[PolicyVersion]:
    """Every version of the collection's policy, newest first, with who made it and when."""
    visible_collection(session, caller, collection)
    found = policy_versions(
        session, collection, after=pages.after(POLICY_VERSIONS), limit=pages.limit
    )
    return Page[PolicyVersion].of(found, PolicyVersion.of)
