"""The policy decision: what to do with an upload, given its matches. No I/O."""

from dataclasses import dataclass, field

from dupgate.matching.find import Match
from dupgate.vocabulary import Action, Outcome, Tier, outcome_of

DEFAULT_ACTIONS = {Tier.EXACT: Action.REJECT, Tier.NEAR: Action.LINK, Tier.UNIQUE: Action.ACCEPT}


@dataclass(frozen=True)
class Policy:
    """A collection's thresholds on the match score and the action for each tier."""

    exact_threshold: float
    near_threshold: float
    actions: dict[Tier, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    # Other collections of the same tenant that uploads are also checked against.
    check_against: tuple[str, ...] = ()
    version: int = 1


@dataclass(frozen=True)
class BlockedMatch:
    """A blocklist entry the upload matches: it is rejected, whatever the policy says."""

    block_id: str
    reason: str
    score: float
    tier: Tier
    image_id: str | None = None  # the image it was blocked from, if any (may be deleted)
    video_id: str | None = None  # or the video


@dataclass(frozen=True)
class Decision:
    """What the policy says to do; `target` is the existing image that link/overwrite act on."""

    action: Action
    tier: Tier
    matches: tuple[Match, ...]
    reason: str
    target: str | None = None

    @property
    def outcome(self) -> Outcome:
        """The action in past tense, as the upload reports it."""
        return outcome_of(self.action)


def decide(
    matches: list[Match],
    policy: Policy,
    blocked: BlockedMatch | None = None,
    *,
    media: str = "image",
) -> Decision:
    """Apply the policy to the matches (best first); a blocked match overrides the policy.

    An upload is linked to (or overwrites) only what is of its own kind: an image whose best
    match is a video's frame is kept as an image where the policy says link or overwrite.
    """
    if blocked is not None:
        source = (
            f"image {blocked.image_id}"
            if blocked.image_id
            else f"video {blocked.video_id}"
            if blocked.video_id
            else "a blocked file"
        )
        reason = (
            f"blocked: {blocked.reason} ({blocked.tier} duplicate of {source}, "
            f"block {blocked.block_id}, score {blocked.score:.3f})"
        )
        return Decision(Action.REJECT, blocked.tier, tuple(matches), reason)
    if not matches:
        return Decision(policy.actions[Tier.UNIQUE], Tier.UNIQUE, (), "no duplicate found")
    best = matches[0]
    action = policy.actions[best.tier]
    reason = f"{best.tier} duplicate of {best.kind} {best.image_id}{_where(best, media)} (score {best.score:.3f})"
    if action in (Action.ACCEPT, Action.HOLD) and best.tier != Tier.UNIQUE:
        reason = f"{reason}; policy says {action}"
    if best.kind != media and action in (Action.LINK, Action.OVERWRITE):
        reason = (
            f"{reason}; policy says {action}, but an {media} is linked only to an {media}: kept"
        )
        return Decision(Action.ACCEPT, best.tier, tuple(matches), reason)
    return Decision(action, best.tier, tuple(matches), reason, target=best.image_id)


def _where(match: Match, media: str) -> str:
    """Where in a matched video the upload lies, in words."""
    if match.kind != "video" or match.offset_seconds is None:
        return ""
    if media == "image":
        return f", the frame at {match.offset_seconds:.1f} s"
    if match.relation == "upload_within_match":
        return f", a clip of it from {match.offset_seconds:.1f} s"
    if match.relation == "match_within_upload":
        return f", which is a clip of the upload from {-match.offset_seconds:.1f} s"
    return ""


def invalid_image(reason: str, message: str, *, media: str = "image") -> Decision:
    """The decision for bytes that are not a usable image (or video): rejected, nothing
    committed."""
    return Decision(Action.REJECT, Tier.UNIQUE, (), f"invalid_{media} ({reason}): {message}")
