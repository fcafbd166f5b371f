"""The console's other pages: the audit trail, API keys, a collection's blocklist, webhooks and
their deliveries. Each calls the domain function its JSON API route calls."""

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from dupgate.curation.blocklist import block_image, block_video, blocklist, unblock
from dupgate.errors import NotFound
from dupgate.events.audit import recent_events
from dupgate.gateway.admin.rendering import render, see
from dupgate.gateway.admin.session import ConsoleAdmin
from dupgate.gateway.deps import ServicesDep, SessionDep
from dupgate.gateway.fields import MAX_INT, REASON_LENGTH, PathId
from dupgate.gateway.routes.collections import COLLECTION_PATTERN, CollectionName
from dupgate.tenancy.keys import issue_key, revoke_key, visible_keys
from dupgate.tenancy.visibility import (
    UnknownImage,
    UnknownVideo,
    visible_collection,
    visible_image,
    visible_video,
    visible_webhook,
)
from dupgate.vocabulary import Scope
from dupgate.webhooks.endpoints import (
    create_webhook,
    delete_webhook,
    deliveries,
    redeliver,
    visible_webhooks,
)

router = APIRouter(prefix="/admin", include_in_schema=False)

EVENTS_PER_PAGE = 50


@router.get("/events")
def events_page(
    request: Request,
    session: SessionDep,
    admin: ConsoleAdmin,
    collection: Annotated[str, Query(max_length=200)] = "",
    type: Annotated[str, Query(max_length=50)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    before: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
) -> Response:
    """The audit trail, newest first, filtered by collection, event type and actor."""
    if collection:
        if not _is_collection_name(collection):
            collection = ""
        else:
            visible_collection(session, admin.caller, collection)
    found = recent_events(
        session,
        admin.caller,
        collection=collection or None,
        type_prefix=type or None,
        actor=actor or None,
        before=(before,) if before is not None else None,
        limit=EVENTS_PER_PAGE,
    )
    older = None
    if found.next is not None:
        query = {"collection": collection, "type": type, "actor": actor, "before": found.next[0]}
        older = "?" + "&".join(f"{k}={quote(str(v))}" for k, v in query.items() if v != "")
    return render(
        request,
        "events.html",
        admin,
        title="Events",
        events=found.rows,
        older=older,
        filters={"collection": collection, "type": type, "actor": actor},
    )


def _is_collection_name(name: str) -> bool:
    return re.match(COLLECTION_PATTERN, name) is not None


@router.get("/keys")
def keys_page(
    request: Request,
    session: SessionDep,
    admin: ConsoleAdmin,
    done: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The tenant's API keys (never the keys themselves), and a form to make one."""
    return _keys(request, session, admin, created=None, done=done)


def _keys(
    request: Request,
    session: SessionDep,
    admin: ConsoleAdmin,
    created: tuple[str, str] | None,
    done: str | None = None,
) -> Response:
    keys = visible_keys(session, admin.caller, limit=1000).rows
    return render(
        request,
        "keys.html",
        admin,
        title="API keys",
        keys=keys,
        scopes=[s.value for s in Scope],
        created=created,
        done=done,
    )


@router.post("/keys")
def create_key(
    request: Request,
    session: SessionDep,
    admin: ConsoleAdmin,
    scopes: Annotated[list[str], Form(max_length=3)],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Make a key of the admin's tenant: shown on this page once, never again."""
    row, key = issue_key(session, admin.caller, None, scopes, name or None)
    session.flush()
    return _keys(request, session, admin, created=(row.id, key))


@router.post("/keys/{key_id}/revoke")
def revoke(key_id: PathId, session: SessionDep, admin: ConsoleAdmin) -> Response:
    """Revoke a key: it stops working at once (a console session signed in with it too)."""
    revoke_key(session, admin.caller, key_id)
    return see("/admin/keys", done=f"Key {key_id} revoked.")


@router.get("/collections/{collection}/blocklist")
def blocklist_page(
    request: Request,
    collection: CollectionName,
    session: SessionDep,
    admin: ConsoleAdmin,
    done: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The collection's blocklist, a form to block an image or a video, and unblocking."""
    visible_collection(session, admin.caller, collection)
    entries = blocklist(session, collection, limit=1000).rows
    return render(
        request,
        "blocklist.html",
        admin,
        title=f"Blocklist: {collection}",
        collection=collection,
        entries=entries,
        done=done,
    )


@router.post("/collections/{collection}/blocklist")
def block(
    collection: CollectionName,
    session: SessionDep,
    admin: ConsoleAdmin,
    committed_id: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(min_length=1, max_length=REASON_LENGTH)],
) -> Response:
    """Block an image's picture or a video in its collection, with the reason uploads are
    refused with. One field takes either id: a moderator copies it from a decision or an event."""
    visible_collection(session, admin.caller, collection)
    wanted = committed_id.strip()
    try:
        image = visible_image(session, admin.caller, wanted)
    except UnknownImage:
        try:
            video = visible_video(session, admin.caller, wanted)
        except UnknownVideo:
            raise NotFound(f"no image or video with id {wanted}") from None
        row = block_video(session, video, reason, admin.caller)
    else:
        row = block_image(session, image, reason, admin.caller)
    return see(
        f"/admin/collections/{quote(row.collection)}/blocklist", done=f"Blocked as {row.id}."
    )


@router.post("/collections/{collection}/blocklist/{block_id}/remove")
def remove_block(
    collection: CollectionName, block_id: PathId, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """Unblock: uploads that match the entry are decided by the policy again."""
    unblock(session, visible_collection(session, admin.caller, collection), block_id, admin.caller)
    return see(f"/admin/collections/{quote(collection)}/blocklist", done="Unblocked.")


@router.get("/webhooks")
def webhooks_page(
    request: Request,
    session: SessionDep,
    admin: ConsoleAdmin,
    done: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The tenant's webhook endpoints, and a form to add one."""
    hooks = visible_webhooks(session, admin.caller, limit=1000).rows
    return render(request, "webhooks.html", admin, title="Webhooks", hooks=hooks, done=done)


@router.post("/webhooks")
def add_webhook(
    session: SessionDep,
    services: ServicesDep,
    admin: ConsoleAdmin,
    url: Annotated[str, Form(max_length=2000)],
    secret: Annotated[str, Form(max_length=500)],
    events: Annotated[str, Form(max_length=2000)] = "*",
) -> Response:
    """Register an endpoint for the tenant's events (comma-separated patterns)."""
    patterns = [e.strip() for e in events.split(",") if e.strip()] or ["*"]
    hook = create_webhook(
        session,
        admin.caller.tenant_for_new(None),
        url,
        secret,
        patterns,
        admin.caller,
        allowed=services.settings.webhook_networks,
    )
    return see(f"/admin/webhooks/{hook.id}", done="Webhook added.")


@router.post("/webhooks/{webhook_id}/delete")
def remove_webhook(webhook_id: PathId, session: SessionDep, admin: ConsoleAdmin) -> Response:
    """Stop delivering to the endpoint; pending deliveries are cancelled."""
    delete_webhook(session, visible_webhook(session, admin.caller, webhook_id), admin.caller)
    return see("/admin/webhooks", done="Webhook deleted.")


@router.get("/webhooks/{webhook_id}")
def webhook_page(
    request: Request,
    webhook_id: PathId,
    session: SessionDep,
    admin: ConsoleAdmin,
    done: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """A webhook's deliveries, newest first, each with every attempt."""
    hook = visible_webhook(session, admin.caller, webhook_id)
    found = deliveries(session, hook, limit=100).rows
    return render(
        request,
        "webhook.html",
        admin,
        title="Webhook deliveries",
        hook=hook,
        deliveries=found,
        done=done,
    )


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redo(
    webhook_id: PathId, delivery_id: PathId, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """Send a delivery's event again, as a new delivery."""
    hook = visible_webhook(session, admin.caller, webhook_id)
    new = redeliver(session, hook, delivery_id)
    return see(f"/admin/webhooks/{hook.id}", done=f"Sent again as delivery {new}.")
