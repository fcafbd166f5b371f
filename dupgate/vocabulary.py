"""The product's words: tiers, actions and their outcomes, statuses and scopes, each one StrEnum.

Their values are what the API shows and the database stores (as plain strings). A policy names
an *action* ("accept"); a decided upload reports its *outcome*, the action in the past tense
("accepted"): `outcome_of` is the one mapping between the two.
"""

from enum import StrEnum
from typing import TypeVar


class Tier(StrEnum):
    """How close an upload is to what it matched: the policy has an action per tier."""

    EXACT = "exact"
    NEAR = "near"
    UNIQUE = "unique"


class Action(StrEnum):
    """What a policy (or a reviewer) does with an upload."""

    REJECT = "reject"
    LINK = "link"
    OVERWRITE = "overwrite"
    HOLD = "hold"
    ACCEPT = "accept"


class Outcome(StrEnum):
    """An action once it has happened: a decided upload's `decision.action`."""

    REJECTED = "rejected"
    LINKED = "linked"
    OVERWRITTEN = "overwritten"
    HELD = "held"
    ACCEPTED = "accepted"


_OUTCOMES = {
    Action.REJECT: Outcome.REJECTED,
    Action.LINK: Outcome.LINKED,
    Action.OVERWRITE: Outcome.OVERWRITTEN,
    Action.HOLD: Outcome.HELD,
    Action.ACCEPT: Outcome.ACCEPTED,
}


def outcome_of(action: Action) -> Outcome:
    """The action in the past tense, as a decided upload reports it ("accept" -> "accepted")."""
    return _OUTCOMES[action]


# A reviewer completes a held upload with one of these (holding it again would do nothing).
REVIEW_ACTIONS = (Action.ACCEPT, Action.LINK, Action.OVERWRITE, Action.REJECT)


class UploadStatus(StrEnum):
    """Where an upload is: waiting, being analysed, or finished (decided, or failed)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    DECIDED = "decided"
    FAILED = "failed"


# An upload in one of these changes no more, except by a review.
FINISHED = (UploadStatus.DECIDED, UploadStatus.FAILED)


class ScanStatus(StrEnum):
    """Where a collection scan is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    """Where a webhook delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Scope(StrEnum):
    """What an API key may do; `admin` may do everything."""

    UPLOAD = "upload"
    READ = "read"
    ADMIN = "admin"


class ResolveAction(StrEnum):
    """What resolving a scan's group does to the images it does not keep."""

    LINK = "link"
    DELETE = "delete"


class ResolveResult(StrEnum):
    """What resolving a group did to one image."""

    LINKED = "linked"
    DELETED = "deleted"
    ALREADY_LINKED = "already linked"
    ALREADY_DELETED = "already deleted"


E = TypeVar("E", bound=StrEnum)


def parse(kind: type[E], value: str) -> E | None:
    """`value` as a member of `kind`, or None if it is none of its values."""
    try:
        return kind(value)
    except ValueError:
        return None


def listing(kind: type[StrEnum] | tuple[StrEnum, ...]) -> str:
    """The values, for messages: "exact, near, unique"."""
    return ", ".join(member.value for member in kind)
