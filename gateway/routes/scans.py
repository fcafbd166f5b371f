"""Duplicate scans: one image against its collection, or a whole (filtered) collection in the
background, with its groups as JSON and as an HTML report, and resolving a group."""

import logging
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from dupgate.gateway.deps import AdminCaller, ReadCaller, ServicesDep, SessionDep
from dupgate.gateway.errors import CONFLICT
from dupgate.gateway.fields import (
    EXTERNAL_ID_LENGTH,
    MAX_COUNT,
    NO_NUL,
    BodyId,
    Label,
    PathId,
    one_of,
    text,
)
from dupgate.gateway.pagination import Page, Pages
from dupgate.gateway.routes.collections import CollectionName
from dupgate.gateway.schemas.scans import Duplicates, Resolution, Scan, ScanGroup
from dupgate.scans.jobs import (
    GROUPS,
    SCANS,
    collection_scans,
    create_scan,
    duplicates_of,
    finished_scan,
    members,
    scan_groups,
)
from dupgate.scans.report_page import report_page
from dupgate.scans.resolve import resolve_group
from dupgate.scans.scope import ScanFilter
from dupgate.store.unit_of_work import after_commit
from dupgate.tenancy.visibility import visible_collection, visible_image, visible_scan
from dupgate.vocabulary import ResolveAction

router = APIRouter(tags=["scans"])
log = logging.getLogger(__name__)


@router.get("/images/{image_id}/duplicates")
def single_scan(
    image_id: PathId,
    session: SessionDep,
    services: ServicesDep,
    caller: ReadCaller,
    threshold: Annotated[
        float | None, Query(gt=0, le=1, description="the collection's near threshold if left out")
    ] = None,
    labels: Annotated[
        list[Label] | None, Query(description="only images with one of these")
    ] = None,
    exclude_labels: Annotated[list[Label] | None, Query()] = None,
    external_id_prefix: Annotated[
        str | None, Query(max_length=EXTERNAL_ID_LENGTH, pattern=NO_NUL)
    ] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Duplicates:
    """The images of the collection that duplicate this one, with scores and tiers (no decoding)."""
    image = visible_image(session, caller, image_id)
    collection = visible_collection(session, caller, image.collection)
    scope = ScanFilter(
        tuple(labels or ()),
        tuple(exclude_labels or ()),
        external_id_prefix,
        created_after,
        created_before,
    )
    limit = collection.near_threshold if threshold is None else threshold
    duplicates = duplicates_of(session, services.registry, image, limit, scope)
    return Duplicates.of(image.id, limit, duplicates)


class ScanFilters(BaseModel):
    # Unknown filters and unreadable times are the domain's to refuse (InvalidFilter), by name.
    model_config = ConfigDict(extra="allow")
    labels: list[Label] | None = None
    exclude_labels: list[Label] | None = None
    external_id_prefix: Annotated[str, text(EXTERNAL_ID_LENGTH)] | None = None
    created_after: Annotated[str, text(64, description="ISO 8601")] | None = None
    created_before: Annotated[str, text(64, description="ISO 8601")] | None = None


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: Annotated[float, Field(strict=True, allow_inf_nan=False)] | None = Field(
        None, description="the collection's near threshold if left out"
    )
    filters: ScanFilters = Field(default_factory=ScanFilters)


@router.post("/collections/{collection}/scans", status_code=202)
def start_scan(
    collection: CollectionName,
    body: ScanRequest,
    response: Response,
    session: SessionDep,
    caller: AdminCaller,
) -> Scan:
    """Scan the collection's images and videos (or the part the filters keep) for duplicates in
    the background."""
    scan = create_scan(
        session,
        visible_collection(session, caller, collection),
        body.threshold,
        ScanFilter.from_json(body.filters.model_dump(mode="json", exclude_none=True)),
        caller,
    )
    after_commit(session, partial(_enqueue, scan.id))
    response.headers["Location"] = f"/v1/scans/{scan.id}"
    return Scan.of(scan)


def _enqueue(scan_id: str) -> None:
    # Imported here so that importing the gateway does not connect to the broker.
    from dupgate.workers.tasks import run_collection_scan

    try:
        run_collection_scan.delay(scan_id)
    except Exception:
        # The scan is committed: the workers' sweep starts it.
        log.exception("could not enqueue scan %s; the sweep will start it", scan_id)


@router.get("/collections/{collection}/scans")
def list_scans(
    collection: CollectionName, session: SessionDep, caller: ReadCaller, pages: Pages
) -> Page[Scan]:
    """The collection's scans, newest first."""
    visible_collection(session, caller, collection)
    found = collection_scans(session, collection, after=pages.after(SCANS), limit=pages.limit)
    return Page[Scan].of(found, Scan.of)


@router.get("/scans/{scan_id}")
def get_scan(scan_id: PathId, session: SessionDep, caller: ReadCaller) -> Scan:
    """The scan's progress (done/total) and, when it is done, how many groups it found."""
    return Scan.of(visible_scan(session, caller, scan_id))


@router.get("/scans/{scan_id}/groups", responses=CONFLICT)
def get_groups(
    scan_id: PathId, session: SessionDep, caller: ReadCaller, pages: Pages
) -> Page[ScanGroup]:
    """The groups, biggest first: images (or videos), the scores that joined them, the suggested
    keeper."""
    scan = finished_scan(session, caller, scan_id)
    found = scan_groups(session, scan.id, after=pages.after(GROUPS), limit=pages.limit)
    images = members(session, found.rows)
    return Page[ScanGroup].of(found, lambda group: ScanGroup.of(group, images[group.id]))


@router.get("/scans/{scan_id}/report.html", response_class=HTMLResponse, responses=CONFLICT)
def report(
    scan_id: PathId,
    services: ServicesDep,
    session: SessionDep,
    caller: ReadCaller,
    page: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 1,
) -> HTMLResponse:
    """The groups as a self-contained HTML page (thumbnails inside) that reads offline."""
    found = report_page(session, services.store, finished_scan(session, caller, scan_id), page)
    if found.missing_previews:
        _make_previews(found.missing_previews)
    return HTMLResponse(found.html)


def _make_previews(missing: list[tuple[str, str]]) -> None:
    from dupgate.workers.tasks import make_previews

    try:
        make_previews.delay(missing)
    except Exception:
        log.warning("could not ask for %d missing previews", len(missing), exc_info=True)


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep: BodyId = Field(
        description="the image to keep (e.g. the suggested keeper); in a group of videos, the video"
    )
    # Checked by the domain, which says which actions there are (422).
    action: Annotated[
        str,
        Field(
            max_length=20,
            description="link the others to it, or delete them",
            json_schema_extra=one_of(ResolveAction),
        ),
    ]


@router.post("/scans/{scan_id}/groups/{number}/resolve", responses=CONFLICT)
def resolve(
    scan_id: PathId,
    number: Annotated[int, FastAPIPath(ge=1, le=MAX_COUNT)],
    body: ResolveRequest,
    services: ServicesDep,
    session: SessionDep,
    caller: AdminCaller,
) -> Resolution:
    """Keep one image (or video) of the group; link the others to it or delete them (audited as
    uploads are)."""
    scan = visible_scan(session, caller, scan_id)
    resolution = resolve_group(
        session, services.store, scan, number, body.keep, body.action, caller
    )
    return Resolution.model_validate(resolution)
