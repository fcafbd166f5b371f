"""The audit trail: every decision, review, policy change, deletion and block, in order."""

from typing import Annotated

from fastapi import APIRouter, Query

from dupgate.events.audit import EVENTS, list_events
from dupgate.gateway.deps import ReadCaller, SessionDep
from dupgate.gateway.fields import MAX_INT, NO_NUL, TENANT_LENGTH
from dupgate.gateway.pagination import Page, Pages
from dupgate.gateway.routes.collections import COLLECTION_PATTERN
from dupgate.gateway.schemas.events import Event
from dupgate.tenancy.visibility import visible_collection

router = APIRouter(tags=["events"])


@router.get("/events")
def events(
    session: SessionDep,
    caller: ReadCaller,
    pages: Pages,
    collection: Annotated[str | None, Query(pattern=COLLECTION_PATTERN)] = None,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_INT,
            description="start after the event with this `seq` (e.g. the last a webhook got)",
        ),
    ] = 0,
    tenant: Annotated[
        str | None,
        Query(
            max_length=TENANT_LENGTH,
            pattern=NO_NUL,
            description="keys over every tenant: only this one",
        ),
    ] = None,
) -> Page[Event]:
    """Events oldest first; page on with `next_cursor`. The last page's is null: to follow the
    trail later, ask again with `after` = the last `seq` seen."""
    if collection is not None:
        visible_collection(session, caller, collection)
    (seen,) = pages.after(EVENTS) or (after,)
    assert isinstance(seen, int)
    start = max(after, seen)
    found = list_events(
        session, caller, collection=collection, after=(start,), limit=pages.limit, tenant=tenant
    )
    return Page[Event].of(found, Event.of)
