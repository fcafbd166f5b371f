"""The policy decision: what to do with an upload, given its matches. No I/O."""

from dataclasses import dataclass, field

from dupgate.matching.find import Match

TIERS = ("exact", "near", "unique")
ACTIONS = ("reject", "link", "overwrite", "hold", "accept")
# What each action is called once it has happened (the upload's `decision.action`).
OUTCOME = {
    "reject": "rejected",
    "link": "linked",
    "overwrite": "overwritten",
    "hold": "held",
    "accept": "accepted",
}
DEFAULT_ACTIONS = {"exact": "reject", "near": "link", "unique": "accept"}


@dataclass(frozen=True)
class Policy:
    """A collection's thresholds on the match score and the action for each tier."""

    exact_threshold: float
    near_threshold: float
    actions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    # Other collections of the same tenant that uploads are also checked against.
    check_against: tuple[str, ...] = ()
    version: int = 1


@dataclass(frozen=True)
class BlockedMatch:
    """A blocklist entry the upload matches: it is rejected, whatever the policy says."""

    block_id: str
    reason: str
    score: float
    tier: str
    image_id: str | None = None  # the image it was blocked from, if any (may be deleted)


@dataclass(frozen=True)
class Decision:
    """What the policy says to do; `target` is the existing image that link/overwrite act on."""

    action: str  # one of ACTIONS
    tier: str  # one of TIERS
    matches: tuple[Match, ...]
    reason: str
    target: str | None = None

    @property
    def outcome(self) -> str:
        """The action in past tense, as the upload reports it."""
        return OUTCOME[self.action]


def decide(matches: list[Match], policy: Policy, blocked: BlockedMatch | None = None) -> Decision:
    """Apply the policy to the matches (best first); a blocked match overrides the policy."""
    if blocked is not None:
        source = f"image {blocked.image_id}" if blocked.image_id else "a blocked file"
        reason = (
            f"blocked: {blocked.reason} ({blocked.tier} duplicate of {source}, "
            f"block {blocked.block_id}, score {blocked.score:.3f})"
        )
        return Decision("reject", blocked.tier, tuple(matches), reason)
    if not matches:
        return Decision(policy.actions["unique"], "unique", (), "no duplicate found")
    best = matches[0]
    action = policy.actions[best.tier]
    reason = f"{best.tier} duplicate of image {best.image_id} (score {best.score:.3f})"
    if action in ("accept", "hold") and best.tier != "unique":
        reason = f"{reason}; policy says {action}"
    return Decision(action, best.tier, tuple(matches), reason, target=best.image_id)


def invalid_image(reason: str, message: str) -> Decision:
    """The decision for bytes that are not a usable image: rejected, nothing committed."""
    return Decision("reject", "unique", (), f"invalid_image ({reason}): {message}")
