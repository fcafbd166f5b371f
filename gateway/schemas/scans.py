"""Duplicate scans: a single image's duplicates, a collection scan, its groups and resolutions."""

from typing import Any, Literal

from dupgate.gateway.schemas.common import Schema, Timestamp, omitted
from dupgate.scans.jobs import Duplicate as FoundDuplicate
from dupgate.scans.jobs import Member
from dupgate.store import models
from dupgate.vocabulary import ResolveAction, ResolveResult, ScanStatus, Tier


class Duplicate(Schema):
    """An image that duplicates the one scanned."""

    image_id: str
    external_id: str | None
    score: float
    tier: Tier


class Duplicates(Schema):
    """The images of the collection that duplicate one image, best first."""

    image_id: str
    threshold: float
    duplicates: list[Duplicate]

    @classmethod
    def of(cls, image_id: str, threshold: float, found: list[FoundDuplicate]) -> "Duplicates":
        return cls(
            image_id=image_id,
            threshold=threshold,
            duplicates=[Duplicate.model_validate(d) for d in found],
        )


class ScanScope(Schema):
    """The part of the collection a scan looks at (only the filters that were set)."""

    labels: list[str] | None = omitted("images with at least one of these")
    exclude_labels: list[str] | None = omitted("images with none of these")
    external_id_prefix: str | None = omitted("images whose external id starts so")
    created_after: str | None = omitted("ISO 8601, inclusive")
    created_before: str | None = omitted("ISO 8601, exclusive")


class Progress(Schema):
    """Images and videos scanned so far, of all the scan looks at."""

    done: int
    total: int


class Scan(Schema):
    """A collection scan: its progress, then how many groups it found (or why it failed)."""

    scan_id: str
    collection: str
    status: ScanStatus
    threshold: float
    filters: ScanScope
    progress: Progress
    actor: str
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    groups: int | None = omitted("once done: how many groups it found")
    groups_url: str | None = omitted("once done")
    report_url: str | None = omitted("once done")
    error: str | None = omitted("once failed: what went wrong")

    @classmethod
    def of(cls, scan: models.Scan) -> "Scan":
        done, failed = scan.status == ScanStatus.DONE, scan.status == ScanStatus.FAILED
        return cls(
            scan_id=scan.id,
            collection=scan.collection,
            status=scan.status,
            threshold=scan.threshold,
            filters=ScanScope.model_validate(scan.filters),
            progress=Progress(done=scan.done, total=scan.total),
            actor=scan.actor,
            created_at=scan.created_at,
            started_at=scan.started_at,
            finished_at=scan.finished_at,
            groups=scan.groups if done else None,
            groups_url=f"/v1/scans/{scan.id}/groups" if done else None,
            report_url=f"/v1/scans/{scan.id}/report.html" if done else None,
            error=scan.error if failed else None,
        )


class Keeper(Schema):
    """The image (or video) the scan suggests keeping, and the rule that chose it."""

    image_id: str | None = omitted("in a group of images")
    video_id: str | None = omitted("in a group of videos")
    rule: str


class Pair(Schema):
    """Two images (or videos) of a group and the score that joined them."""

    a: str
    b: str
    score: float
    tier: Tier
    offset_seconds: float | None = omitted("videos: where a starts in b (negative: before it)")
    relation: str | None = omitted("videos: same, a_within_b (a is a clip of b) or b_within_a")
    a_coverage: float | None = omitted("videos: how much of a matched b")
    b_coverage: float | None = omitted("videos: how much of b matched a")


class GroupImage(Schema):
    """An image of a group, with its facts and its best score and tier in the group."""

    image_id: str
    exists: Literal[True]
    external_id: str | None
    linked_to: str | None
    width: int
    height: int
    format: str
    size: int
    created_at: Timestamp
    score: float
    tier: Tier


class DeletedGroupImage(Schema):
    """An image of a group that was deleted since the scan."""

    image_id: str
    exists: Literal[False]
    score: float
    tier: Tier


class GroupVideo(Schema):
    """A video of a group, with its facts and its best match in the group."""

    video_id: str
    exists: Literal[True]
    external_id: str | None
    linked_to: str | None
    width: int
    height: int
    duration: float
    format: str
    size: int
    created_at: Timestamp
    score: float
    tier: Tier


class DeletedGroupVideo(Schema):
    """A video of a group that was deleted since the scan."""

    video_id: str
    exists: Literal[False]
    score: float
    tier: Tier


def group_video(member: Member) -> GroupVideo | DeletedGroupVideo:
    row = member.row
    if row is None:
        return DeletedGroupVideo(
            video_id=member.id, exists=False, score=member.score, tier=member.tier
        )
    assert isinstance(row, models.Video)
    return GroupVideo(video_id=member.id, duration=row.duration, **_facts(row, member))


def group_image(member: Member) -> GroupImage | DeletedGroupImage:
    row = member.row
    if row is None:
        return DeletedGroupImage(
            image_id=member.id, exists=False, score=member.score, tier=member.tier
        )
    assert isinstance(row, models.Image)
    return GroupImage(image_id=member.id, **_facts(row, member))


def _facts(row: models.Image | models.Video, member: Member) -> dict[str, Any]:
    """What a group shows of each image or video that still exists."""
    return {
        "exists": True,
        "external_id": row.external_id,
        "linked_to": row.linked_to,
        "width": row.width,
        "height": row.height,
        "format": row.format,
        "size": row.size,
        "created_at": row.created_at,
        "score": member.score,
        "tier": member.tier,
    }


class ResolvedImage(Schema):
    """What resolving the group did to one image."""

    image_id: str
    result: ResolveResult


class ResolvedVideo(Schema):
    """What resolving the group did to one video."""

    video_id: str
    result: ResolveResult


class Resolution(Schema):
    """How a group was resolved: the image (or video) kept, and what became of the others."""

    keep: str
    action: ResolveAction
    actor: str
    images: list[ResolvedImage]
    videos: list[ResolvedVideo] | None = omitted("in a group of videos")


class ScanGroup(Schema):
    """A group of duplicates: its images or videos (keeper first), the pairs that joined them,
    and how it was resolved (null until it is)."""

    number: int
    media: Literal["image", "video"]
    keeper: Keeper
    images: list[GroupImage | DeletedGroupImage]  # empty in a group of videos
    videos: list[GroupVideo | DeletedGroupVideo] | None = omitted("in a group of videos")
    pairs: list[Pair]
    resolved: Resolution | None
    resolve_url: str

    @classmethod
    def of(cls, group: models.ScanGroup, members: list[Member]) -> "ScanGroup":
        video = group.media == "video"
        return cls(
            number=group.number,
            media="video" if video else "image",
            keeper=Keeper(video_id=group.keeper, rule=group.keeper_rule)
            if video
            else Keeper(image_id=group.keeper, rule=group.keeper_rule),
            images=[] if video else [group_image(m) for m in members],
            videos=[group_video(m) for m in members] if video else None,
            pairs=[Pair.model_validate(p) for p in group.pairs],
            resolved=None
            if group.resolution is None
            else Resolution.model_validate(group.resolution),
            resolve_url=f"/v1/scans/{group.scan_id}/groups/{group.number}/resolve",
        )
