"""Collections: create one or change its policy (PUT), read it (GET)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from dupgate.collections import PolicyChange, collection_view, get_collection, put_collection
from gateway.deps import SessionDep

router = APIRouter(tags=["collections"])

CollectionName = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$",
        description="1-200 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exact: float | None = None
    near: float | None = None


class CollectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    policy: dict[str, str] | None = None


@router.put("/collections/{collection}")
def put(collection: CollectionName, body: CollectionRequest, session: SessionDep) -> dict[str, Any]:
    """Create a collection (an empty body takes the defaults) or change its policy."""
    change = PolicyChange(body.thresholds.exact, body.thresholds.near, body.policy)
    return collection_view(put_collection(session, collection, change))


@router.get("/collections/{collection}")
def get(collection: CollectionName, session: SessionDep) -> dict[str, Any]:
    """A collection's thresholds and policy."""
    return collection_view(get_collection(session, collection))
