"""The audit trail: every decision, review, policy change, deletion and block, in order."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dupgate.collections import visible_collection
from dupgate.events import event_view, list_events
from gateway.deps import ReadCaller, SessionDep
from gateway.fields import MAX_INT, NO_NUL, TENANT_LENGTH
from gateway.routes.collections import COLLECTION_PATTERN

router = APIRouter(tags=["events"])


@router.get("/events")
def events(
    session: SessionDep,
    caller: ReadCaller,
    collection: Annotated[str | None, Query(pattern=COLLECTION_PATTERN)] = None,
    after: Annotated[
        int, Query(ge=0, le=MAX_INT, description="the `seq` of the last event seen")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    tenant: Annotated[
        str | None,
        Query(
            max_length=TENANT_LENGTH,
            pattern=NO_NUL,
            description="keys over every tenant: only this one",
        ),
    ] = None,
) -> dict[str, Any]:
    """Events after `after`, oldest first; page on with `next`."""
    if collection is not None:
        visible_collection(session, caller, collection)
    rows = list_events(
        session, caller, collection=collection, after=after, limit=limit, tenant=tenant
    )
    return {"events": [event_view(e) for e in rows], "next": rows[-1].seq if rows else after}
