"""Acting on a scan's group: keep one image and link the others to it, or delete them.

Through the same commit functions and events as uploads (dupgate/commit.py), under the
collection's lock, so a resolution and an upload never interleave.
"""

from typing import TypedDict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dupgate.store.blobs import BlobStore
from dupgate.store.locking import lock_collections
from dupgate.store.models import Image, Scan, ScanGroup, utcnow
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import UnknownScan
from dupgate.uploads.commit import delete_image, link_existing
from dupgate.vocabulary import ResolveAction, ResolveResult, ScanStatus, listing, parse


class InvalidResolution(ValueError):
    """A resolution that cannot be carried out; the message says why."""


class AlreadyResolved(ValueError):
    """The group was resolved before."""


class ResolvedImage(TypedDict):
    """What resolving a group did to one of the images it did not keep."""

    image_id: str
    result: ResolveResult


class Resolution(TypedDict):
    """How a group was resolved, as kept with the group (JSON) and shown by the API."""

    keep: str
    action: ResolveAction
    actor: str
    images: list[ResolvedImage]


def resolve_group(
    session: Session,
    store: BlobStore,
    scan: Scan,
    number: int,
    keep: str,
    action_name: str,
    caller: Caller,
) -> Resolution:
    """Keep `keep`; link the group's other images to it, or delete them.

    Returns what was done to each image. Images deleted since the scan are skipped and said so.
    """
    action = parse(ResolveAction, action_name)
    if action is None:
        raise InvalidResolution(
            f"action must be one of {listing(ResolveAction)}, not {action_name!r}"
        )
    if scan.status != ScanStatus.DONE:
        raise InvalidResolution(
            f"scan {scan.id} is {scan.status}; resolve its groups when it is done"
        )
    lock_collections(session, [scan.collection])
    group = session.scalar(
        select(ScanGroup)
        .where(ScanGroup.scan_id == scan.id, ScanGroup.number == number)
        .with_for_update()
    )
    if group is None:
        raise UnknownScan(f"scan {scan.id} has no group {number}")
    if group.resolved_at is not None:
        raise AlreadyResolved(f"group {number} of scan {scan.id} was resolved already")
    if keep not in group.images:
        raise InvalidResolution(f"image {keep} is not in group {number}; keep one of its images")
    keeper = session.get(Image, keep)
    if keeper is None or keeper.linked_to is not None:
        raise InvalidResolution(
            f"image {keep} was {'deleted' if keeper is None else 'made a link'} after the scan; "
            "keep another image of the group or scan again"
        )

    results: list[ResolvedImage] = []
    for image_id in group.images:
        if image_id == keep:
            continue
        image = session.get(Image, image_id)
        if image is None:
            results.append({"image_id": image_id, "result": ResolveResult.ALREADY_DELETED})
        elif action == ResolveAction.DELETE:
            # Uploads linked to it were copies of the picture the keeper keeps: they follow it.
            session.execute(update(Image).where(Image.linked_to == image.id).values(linked_to=keep))
            delete_image(session, store, image, caller.actor)
            results.append({"image_id": image_id, "result": ResolveResult.DELETED})
        elif image.linked_to == keep:
            results.append({"image_id": image_id, "result": ResolveResult.ALREADY_LINKED})
        else:
            link_existing(session, store, image, keeper, caller.actor)
            results.append({"image_id": image_id, "result": ResolveResult.LINKED})
    resolution: Resolution = {
        "keep": keep,
        "action": action,
        "actor": caller.actor,
        "images": results,
    }
    group.resolution = dict(resolution)
    group.resolved_at = utcnow()
    return resolution
