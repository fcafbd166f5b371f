"""The console's pages: server-rendered HTML over the same domain functions as the JSON API.

Each route parses, finds what the signed-in admin may see (another tenant's is a 404 page),
calls the domain in the request's one transaction and renders a template. What changes
anything is a POST carrying the session's CSRF token, answered with a redirect (303) to the
page that shows the result.
"""

from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from dupgate.analysis.preview import preview_key
from dupgate.gateway.admin.rendering import render, see
from dupgate.gateway.admin.session import (
    CSRF_FIELD,
    ConsoleAdmin,
    SignInRefused,
    check_csrf,
    clear_cookie,
    new_visit,
    read_visit,
    set_cookie,
    sign_in,
)
from dupgate.gateway.deps import ServicesDep, SessionDep
from dupgate.gateway.fields import MAX_COUNT, PathId
from dupgate.gateway.routes.collections import CollectionName
from dupgate.gateway.routes.committed import content
from dupgate.gateway.routes.images import MEDIA_TYPES
from dupgate.gateway.routes.scans import _enqueue as enqueue_scan
from dupgate.gateway.routes.videos import MEDIA_TYPES as VIDEO_TYPES
from dupgate.scans.jobs import collection_scans, create_scan, members, scan_groups
from dupgate.scans.resolve import resolve_group
from dupgate.scans.scope import ScanFilter
from dupgate.services import Services
from dupgate.store.blobs import BlobNotFound
from dupgate.store.unit_of_work import after_commit
from dupgate.tenancy.collections import (
    InvalidPolicy,
    PolicyChange,
    policy_of,
    policy_versions,
    proposed_policy,
    put_collection,
    visible_collections,
)
from dupgate.tenancy.visibility import (
    visible_collection,
    visible_image,
    visible_scan,
    visible_upload,
    visible_video,
)
from dupgate.uploads.evidence import match_evidence
from dupgate.uploads.lifecycle import staged_bytes
from dupgate.uploads.policy_preview import PREVIEW_UPLOADS, preview_policy
from dupgate.uploads.review import (
    Review,
    held_count,
    held_neighbours,
    held_uploads,
    review_upload,
)
from dupgate.vocabulary import Action, Outcome, ScanStatus, Tier

router = APIRouter(prefix="/admin", include_in_schema=False)

# Groups of a scan shown per page: each with its thumbnails, read from stored previews.
GROUPS_PER_PAGE = 20


# Sign-in and out.


@router.get("/login")
def login_page(
    request: Request,
    services: ServicesDep,
    next: Annotated[str, Query(max_length=500)] = "/admin",
) -> HTMLResponse:
    """The sign-in form; its CSRF token is the one of a session not yet signed in."""
    visit = read_visit(request, services)
    if visit is None or visit.signed_in:
        visit = new_visit()
    response = render(
        request,
        "login.html",
        None,
        title="Sign in",
        csrf=visit.csrf,
        next=_local_path(next),
        refused=None,
    )
    set_cookie(response, services, visit)
    return response


@router.post("/login")
def login(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    sent: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    key: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=500)] = "/admin",
) -> Response:
    """Sign in with an admin API key: a new session (and a new CSRF token) in the cookie."""
    visit = read_visit(request, services)
    check_csrf(sent, visit.csrf if visit else "")
    try:
        signed = sign_in(session, services, key)
    except SignInRefused as e:
        return render(
            request,
            "login.html",
            None,
            status=403,
            title="Sign in",
            csrf=visit.csrf if visit else "",
            next=_local_path(next),
            refused=str(e),
        )
    signed_in = see(_local_path(next))
    set_cookie(signed_in, services, signed)
    return signed_in


@router.post("/logout")
def logout(services: ServicesDep, admin: ConsoleAdmin) -> Response:
    """Sign out: the cookie is cleared."""
    response = see("/admin/login")
    clear_cookie(response, services)
    return response


def _local_path(path: str) -> str:
    # Only a path of the console itself: a sign-in link cannot send the admin elsewhere.
    if not path.startswith("/admin") or path.startswith("//") or "\\" in path:
        return "/admin"
    return path


# Collections.


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/admin/collections", status_code=303)


@router.get("/collections")
def collections_page(request: Request, session: SessionDep, admin: ConsoleAdmin) -> Response:
    """The collections the admin's tenant has, with how many uploads wait for review."""
    found = visible_collections(session, admin.caller, limit=1000).rows
    rows = [(c, held_count(session, c.name)) for c in found]
    return render(request, "collections.html", admin, title="Collections", rows=rows)


# Review.


@router.get("/collections/{collection}/review")
def review_page(
    request: Request,
    collection: CollectionName,
    session: SessionDep,
    admin: ConsoleAdmin,
    at: Annotated[str | None, Query(max_length=64)] = None,
    match: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """One held upload beside its matches, with what verification found drawn on both."""
    visible_collection(session, admin.caller, collection)
    upload = None
    if at is not None:
        chosen = visible_upload(session, admin.caller, at)
        if chosen.collection == collection and chosen.action == Outcome.HELD:
            upload = chosen if chosen.reviewed_at is None else None
    if upload is None:
        first = held_uploads(session, collection, limit=1).rows
        upload = first[0] if first else None
    context: dict[str, Any] = {
        "collection": collection,
        "upload": upload,
        "waiting": held_count(session, collection),
        "done": done,
    }
    if upload is not None:
        previous, following = held_neighbours(session, upload)
        # A match is an image or a video (a video upload's, or the video an image is a frame of).
        matches = [m | {"id": m.get("image_id") or m.get("video_id")} for m in upload.matches]
        picked = next((m for m in matches if m["id"] == match), matches[0] if matches else None)
        # Keypoints are drawn for two pictures; a video pair shows its coverage and offset.
        evidence = None
        if picked is not None and upload.media == "image" and "image_id" in picked:
            evidence = match_evidence(session, upload, picked["id"]).found
        context |= {
            "matches": matches,
            "chosen": picked,
            "evidence": evidence,
            "previous": previous,
            "following": following,
        }
    return render(request, "review.html", admin, title=f"Review: {collection}", **context)


@router.post("/uploads/{upload_id}/review")
def review(
    upload_id: PathId,
    services: ServicesDep,
    session: SessionDep,
    admin: ConsoleAdmin,
    action: Annotated[str, Form(max_length=20)],
    target: Annotated[str | None, Form(max_length=64)] = None,
    not_duplicate: Annotated[bool, Form()] = False,
) -> Response:
    """Complete a held upload, then show the next one. `target`: the image (for a video upload,
    the video) to link to or overwrite."""
    upload = visible_upload(session, admin.caller, upload_id)
    review_upload(
        session,
        services.store,
        upload_id,
        Review(action, target or None, not_duplicate),
        admin.caller,
    )
    said = "accepted as not a duplicate" if not_duplicate else str(upload.action)
    return see(
        f"/admin/collections/{quote(upload.collection)}/review",
        done=f"Upload {upload.external_id or upload.filename or upload.id} {said}.",
    )


@router.get("/uploads/{upload_id}/content")
def upload_content(
    upload_id: PathId, services: ServicesDep, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """The bytes of an upload waiting for review."""
    key = staged_bytes(visible_upload(session, admin.caller, upload_id))
    return _blob(services, key, "application/octet-stream")


@router.get("/images/{image_id}/content")
def image_content(
    image_id: PathId, services: ServicesDep, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """An image's bytes (a link record's: the image it links to)."""
    image = visible_image(session, admin.caller, image_id)
    return content(services, session, admin.caller, image, visible_image, MEDIA_TYPES)


@router.get("/videos/{video_id}/content")
def video_content(
    video_id: PathId, services: ServicesDep, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """A video's bytes (a link record's: the video it links to), for the review page's player."""
    video = visible_video(session, admin.caller, video_id)
    return content(services, session, admin.caller, video, visible_video, VIDEO_TYPES)


@router.get("/videos/{video_id}/preview")
def video_preview(
    video_id: PathId, services: ServicesDep, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """The first kept frame's JPEG kept at analysis; for a video analysed before those were
    kept, a drawn play sign."""
    video = visible_video(session, admin.caller, video_id)
    cache = {"Cache-Control": "private, max-age=3600"}
    try:
        return Response(
            services.store.get(preview_key(video.sha256)), media_type="image/jpeg", headers=cache
        )
    except BlobNotFound:
        return Response(NO_PREVIEW, media_type="image/svg+xml", headers=cache)


NO_PREVIEW = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 160">'
    '<rect width="160" height="160" fill="#37474f"/>'
    '<path d="M62 50v60l50-30z" fill="#fff"/></svg>'
)


@router.get("/images/{image_id}/preview")
def image_preview(
    image_id: PathId, services: ServicesDep, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """The small JPEG kept at analysis, or the image itself where none was kept."""
    image = visible_image(session, admin.caller, image_id)
    try:
        return Response(
            services.store.get(preview_key(image.sha256)),
            media_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=3600"},
        )
    except BlobNotFound:
        return image_content(image_id, services, session, admin)


def _blob(services: Services, key: str, media_type: str) -> StreamingResponse:
    f = services.store.open(key)
    return StreamingResponse(
        iter(lambda: f.read(1 << 16), b""),
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# Policy.

ACTIONS = [a.value for a in Action]
TIERS = [t.value for t in Tier]


@router.get("/collections/{collection}/policy")
def policy_page(
    request: Request,
    collection: CollectionName,
    session: SessionDep,
    admin: ConsoleAdmin,
    exact: Annotated[float | None, Query(ge=0, le=1)] = None,
    near: Annotated[float | None, Query(ge=0, le=1)] = None,
    exact_action: Annotated[str | None, Query(max_length=20)] = None,
    near_action: Annotated[str | None, Query(max_length=20)] = None,
    unique_action: Annotated[str | None, Query(max_length=20)] = None,
    check_against: Annotated[str | None, Query(max_length=2000)] = None,
    saved: Annotated[int | None, Query(ge=0, le=MAX_COUNT)] = None,
) -> Response:
    """The collection's policy, a form to change it, what a change would do, and the history."""
    found = visible_collection(session, admin.caller, collection)
    current = policy_of(found)
    asked = [exact, near, exact_action, near_action, unique_action, check_against]
    preview = refused = None
    proposed = current
    if any(v is not None for v in asked):
        change = _change(exact, near, exact_action, near_action, unique_action, check_against)
        try:
            proposed = proposed_policy(session, found, change)
        except InvalidPolicy as e:
            refused = str(e)
        else:
            preview = preview_policy(session, collection, proposed)
    history = policy_versions(session, collection, limit=51).rows
    changes = _what_changed(history)
    return render(
        request,
        "policy.html",
        admin,
        title=f"Policy: {collection}",
        collection=collection,
        current=current,
        proposed=proposed,
        preview=preview,
        refused=refused,
        history=history[:50],
        changes=changes,
        actions=ACTIONS,
        tiers=TIERS,
        saved=saved,
        last=PREVIEW_UPLOADS,
    )


def _what_changed(history: list[Any]) -> dict[int, str]:
    """Each version's difference from the one before it (history is newest first)."""
    said: dict[int, str] = {}
    for newer, older in zip(history, history[1:], strict=False):
        parts = [
            f"{name} threshold {before:.2f} → {after:.2f}"
            for name, before, after in (
                ("exact", older.exact_threshold, newer.exact_threshold),
                ("near", older.near_threshold, newer.near_threshold),
            )
            if before != after
        ]
        parts += [
            f"{tier}: {older.actions.get(tier)} → {newer.actions.get(tier)}"
            for tier in TIERS
            if older.actions.get(tier) != newer.actions.get(tier)
        ]
        if older.check_against != newer.check_against:
            parts.append(f"checked against: {', '.join(newer.check_against) or 'none'}")
        said[newer.version] = "; ".join(parts) or "nothing"
    if history and history[-1].version == 1:
        said[1] = "created"
    return said


def _change(
    exact: float | None,
    near: float | None,
    exact_action: str | None,
    near_action: str | None,
    unique_action: str | None,
    check_against: str | None,
) -> PolicyChange:
    named = {"exact": exact_action, "near": near_action, "unique": unique_action}
    others = None if check_against is None else _words(check_against)
    return PolicyChange(exact, near, {k: v for k, v in named.items() if v is not None}, others)


@router.post("/collections/{collection}/policy")
def save_policy(
    collection: CollectionName,
    session: SessionDep,
    admin: ConsoleAdmin,
    exact: Annotated[float, Form(ge=0, le=1)],
    near: Annotated[float, Form(ge=0, le=1)],
    exact_action: Annotated[str, Form(max_length=20)],
    near_action: Annotated[str, Form(max_length=20)],
    unique_action: Annotated[str, Form(max_length=20)],
    # Always sent by the preview's form: empty is "no other collection".
    check_against: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save the policy change as a new version."""
    visible_collection(session, admin.caller, collection)
    change = _change(exact, near, exact_action, near_action, unique_action, check_against)
    saved = put_collection(session, collection, change, admin.caller)
    return see(f"/admin/collections/{quote(collection)}/policy", saved=str(saved.policy_version))


# Scans.


@router.get("/collections/{collection}/scans")
def scans_page(
    request: Request, collection: CollectionName, session: SessionDep, admin: ConsoleAdmin
) -> Response:
    """The collection's scans, newest first, and a form to start one."""
    found = visible_collection(session, admin.caller, collection)
    scans = collection_scans(session, collection, limit=50).rows
    return render(
        request,
        "scans.html",
        admin,
        title=f"Scans: {collection}",
        collection=collection,
        near=found.near_threshold,
        scans=scans,
    )


@router.post("/collections/{collection}/scans")
def start_scan(
    collection: CollectionName,
    session: SessionDep,
    admin: ConsoleAdmin,
    threshold: Annotated[float | None, Form(gt=0, le=1)] = None,
    labels: Annotated[str, Form(max_length=2000)] = "",
    exclude_labels: Annotated[str, Form(max_length=2000)] = "",
    external_id_prefix: Annotated[str, Form(max_length=500)] = "",
    created_after: Annotated[str, Form(max_length=64)] = "",
    created_before: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Start a full scan, or one of the images the filters keep."""
    filters = {
        "labels": _words(labels),
        "exclude_labels": _words(exclude_labels),
        "external_id_prefix": external_id_prefix or None,
        "created_after": created_after or None,
        "created_before": created_before or None,
    }
    scan = create_scan(
        session,
        visible_collection(session, admin.caller, collection),
        threshold,
        ScanFilter.from_json({k: v for k, v in filters.items() if v}),
        admin.caller,
    )
    after_commit(session, partial(enqueue_scan, scan.id))
    return see(f"/admin/scans/{scan.id}")


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


@router.get("/scans/{scan_id}")
def scan_page(
    request: Request,
    scan_id: PathId,
    session: SessionDep,
    admin: ConsoleAdmin,
    page: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 1,
    done: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """A scan's progress while it runs; once done, its groups a page at a time."""
    scan = visible_scan(session, admin.caller, scan_id)
    groups: list[Any] = []
    images: dict[int, Any] = {}
    if scan.status == ScanStatus.DONE:
        groups = scan_groups(
            session, scan.id, after=((page - 1) * GROUPS_PER_PAGE,), limit=GROUPS_PER_PAGE
        ).rows
        images = members(session, groups)
    pages = max(1, -(-scan.groups // GROUPS_PER_PAGE))
    return render(
        request,
        "scan.html",
        admin,
        title=f"Scan of {scan.collection}",
        scan=scan,
        running=scan.status in (ScanStatus.QUEUED, ScanStatus.RUNNING),
        groups=groups,
        images=images,
        page=page,
        pages=pages,
        done=done,
    )


@router.post("/scans/{scan_id}/groups/{number}/resolve")
def resolve(
    scan_id: PathId,
    number: Annotated[int, Path(ge=1, le=MAX_COUNT)],
    services: ServicesDep,
    session: SessionDep,
    admin: ConsoleAdmin,
    keep: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form(max_length=20)],
    page: Annotated[int, Form(ge=1, le=MAX_COUNT)] = 1,
) -> Response:
    """Keep one image (or video) of a group; link the others to it or delete them."""
    scan = visible_scan(session, admin.caller, scan_id)
    resolution = resolve_group(session, services.store, scan, number, keep, action, admin.caller)
    did = "linked to" if resolution["action"] == "link" else "deleted, keeping"
    videos = resolution.get("videos")
    others = f"{len(videos)} video(s)" if videos else f"{len(resolution['images'])} image(s)"
    return see(
        f"/admin/scans/{scan.id}",
        page=str(page),
        done=f"Group {number} resolved: {others} {did} {keep}.",
    )
