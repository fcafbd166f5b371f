"""Who sees what: every rule that finds a thing by id for a caller, and 404s another tenant's.

A thing of another tenant is not found, the same answer as a thing that does not exist, so
ids leak nothing across tenants.
"""

from sqlalchemy.orm import Session

from dupgate.errors import NotFound
from dupgate.store.locking import UnknownCollection
from dupgate.store.models import Collection, Image, Scan, Upload, Video, Webhook
from dupgate.tenancy.keys import Caller, Forbidden
from dupgate.vocabulary import Scope


class UnknownImage(NotFound):
    """No image by that id that the caller may see."""

    def __init__(self, image_id: str) -> None:
        super().__init__(f"no image with id {image_id}")


def visible_collection(session: Session, caller: Caller, name: str) -> Collection:
    """The collection if the caller may see it; UnknownCollection otherwise (never 'forbidden')."""
    collection = session.get(Collection, name)
    if collection is None or not caller.sees(collection.tenant):
        raise UnknownCollection(name)
    return collection


def visible_image(session: Session, caller: Caller, image_id: str) -> Image:
    """The image if the caller's tenant owns its collection; UnknownImage otherwise."""
    image = session.get(Image, image_id)
    if image is None or not _sees_collection(session, caller, image.collection):
        raise UnknownImage(image_id)
    return image


def _sees_collection(session: Session, caller: Caller, name: str) -> bool:
    collection = session.get(Collection, name)
    return collection is not None and caller.sees(collection.tenant)


class UnknownScan(NotFound):
    """No scan (or group) by that id that the caller may see."""

    code = "unknown_scan"


def visible_scan(session: Session, caller: Caller, scan_id: str) -> Scan:
    """The scan if the caller's tenant owns its collection; UnknownScan otherwise."""
    scan = session.get(Scan, scan_id)
    if scan is None:
        raise UnknownScan(f"no scan with id {scan_id}")
    try:
        visible_collection(session, caller, scan.collection)
    except UnknownCollection as e:
        raise UnknownScan(f"no scan with id {scan_id}") from e
    return scan


class UnknownUpload(NotFound):
    """No upload by that id that the caller may see."""

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"no upload with id {upload_id}")


def visible_upload(session: Session, caller: Caller, upload_id: str) -> Upload:
    """The upload if the caller may read it: UnknownUpload for another tenant's, Forbidden to an
    `upload` key for another key's."""
    found = with_tenant(session, upload_id)
    if found is None:
        raise UnknownUpload(upload_id)
    upload, tenant = found
    require_visible(caller, upload_id, tenant, upload.key_id)
    return upload


def with_tenant(session: Session, upload_id: str) -> tuple[Upload, str] | None:
    """The upload and the tenant of its collection, or None if there is no such upload."""
    upload = session.get(Upload, upload_id)
    collection = session.get(Collection, upload.collection) if upload else None
    if upload is None or collection is None:
        return None
    return upload, collection.tenant


def require_visible(caller: Caller, upload_id: str, tenant: str, key_id: str | None) -> None:
    """Whether the caller may read an upload of `tenant` sent by `key_id`: UnknownUpload for
    another tenant's; an `upload` key reads only what it sent (Forbidden), a `read` key all."""
    if not caller.sees(tenant):
        raise UnknownUpload(upload_id)
    own = caller.can(Scope.UPLOAD) and key_id is not None and key_id == caller.key_id
    if not (caller.can(Scope.READ) or own):
        raise Forbidden(
            "this API key may read only the uploads it sent (the 'read' scope reads all)"
        )


class UnknownWebhook(NotFound):
    """No webhook (or delivery) by that id that the caller may see."""

    code = "unknown_webhook"


def visible_webhook(session: Session, caller: Caller, webhook_id: str) -> Webhook:
    """The webhook if it exists, is not deleted and the caller may see it."""
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.deleted_at is not None or not caller.sees(hook.tenant):
        raise UnknownWebhook(f"no webhook with id {webhook_id}")
    return hook


class UnknownVideo(NotFound):
    """No video with this id that the caller may see."""

    code = "unknown_video"

    def __init__(self, video_id: str) -> None:
        super().__init__(f"no video with id {video_id}")


def visible_video(session: Session, caller: Caller, video_id: str) -> Video:
    """The video if the caller's tenant owns its collection; UnknownVideo otherwise."""
    video = session.get(Video, video_id)
    if video is None or not _sees_collection(session, caller, video.collection):
        raise UnknownVideo(video_id)
    return video
