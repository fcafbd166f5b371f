"""Acting on a scan's group: keep one image (or video) and link the others to it, or delete them.

Through the same commit functions and events as uploads (dupgate/uploads/commit.py, and
videos.py for videos), under the collection's lock, so a resolution and an upload never
interleave.
"""

from typing import NotRequired, TypedDict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dupgate.store.blobs import BlobStore
from dupgate.store.locking import lock_collections
from dupgate.store.models import Image, Scan, ScanGroup, Video, utcnow
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import UnknownScan
from dupgate.uploads.commit import delete_image, link_existing
from dupgate.uploads.videos import delete_video, link_existing_video
from dupgate.vocabulary import ResolveAction, ResolveResult, ScanStatus, listing, parse


class InvalidResolution(ValueError):
    """A resolution that cannot be carried out; the message says why."""


class AlreadyResolved(ValueError):
    """The group was resolved before."""


class ResolvedImage(TypedDict):
    """What resolving a group did to one of the images it did not keep."""

    image_id: str
    result: ResolveResult


class ResolvedVideo(TypedDict):
    """What resolving a group of videos did to one of the videos it did not keep."""

    video_id: str
    result: ResolveResult


class Resolution(TypedDict):
    """How a group was resolved, as kept with the group (JSON) and shown by the API."""

    keep: str
    action: ResolveAction
    actor: str
    images: list[ResolvedImage]  # empty for a group of videos
    videos: NotRequired[list[ResolvedVideo]]  # only for a group of videos


def resolve_group(
    session: Session,
    store: BlobStore,
    scan: Scan,
    number: int,
    keep: str,
    action_name: str,
    caller: Caller,
) -> Resolution:
    """Keep `keep`; link the group's other images (or videos) to it, or delete them.

    Returns what was done to each. Those deleted since the scan are skipped and said so.
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
    noun = group.media
    if keep not in group.images:
        raise InvalidResolution(f"{noun} {keep} is not in group {number}; keep one of its {noun}s")
    keeper = _row(session, noun, keep)
    if keeper is None or keeper.linked_to is not None:
        raise InvalidResolution(
            f"{noun} {keep} was {'deleted' if keeper is None else 'made a link'} after the scan; "
            f"keep another {noun} of the group or scan again"
        )

    results: list[tuple[str, ResolveResult]] = []
    for key in group.images:
        if key == keep:
            continue
        row = _row(session, noun, key)
        if row is None:
            results.append((key, ResolveResult.ALREADY_DELETED))
        elif action == ResolveAction.DELETE:
            _delete(session, store, row, keep, caller.actor)
            results.append((key, ResolveResult.DELETED))
        elif row.linked_to == keep:
            results.append((key, ResolveResult.ALREADY_LINKED))
        else:
            _link(session, store, row, keeper, caller.actor)
            results.append((key, ResolveResult.LINKED))
    resolution: Resolution = {"keep": keep, "action": action, "actor": caller.actor, "images": []}
    if noun == "video":
        resolution["videos"] = [{"video_id": key, "result": result} for key, result in results]
    else:
        resolution["images"] = [{"image_id": key, "result": result} for key, result in results]
    group.resolution = dict(resolution)
    group.resolved_at = utcnow()
    return resolution


def _row(session: Session, media: str, key: str) -> Image | Video | None:
    return session.get(Video, key) if media == "video" else session.get(Image, key)


def _delete(session: Session, store: BlobStore, row: Image | Video, keep: str, actor: str) -> None:
    # Link records pointing at it were copies of what the keeper keeps: they follow it.
    if isinstance(row, Video):
        session.execute(update(Video).where(Video.linked_to == row.id).values(linked_to=keep))
        delete_video(session, store, row, actor)
    else:
        session.execute(update(Image).where(Image.linked_to == row.id).values(linked_to=keep))
        delete_image(session, store, row, actor)


def _link(
    session: Session, store: BlobStore, row: Image | Video, keeper: Image | Video, actor: str
) -> None:
    if isinstance(row, Video):
        assert isinstance(keeper, Video)
        link_existing_video(session, store, row, keeper, actor)
    else:
        assert isinstance(keeper, Image)
        link_existing(session, store, row, keeper, actor)
