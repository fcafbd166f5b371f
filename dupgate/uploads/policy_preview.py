"""What a policy change would do: the last decided uploads decided again under it, before it
is saved.

Each upload's stored matches (image, score) are given the proposed thresholds' tiers and put
through the same `decide()` that decided them; the result is compared with the decision the
policy gave then (`held` for an upload a person reviewed since). Matches are kept only at or
above the near threshold of their day, so a lower near threshold cannot bring back a weaker
match that was never kept: the preview says so. Blocked and undecodable uploads are not the
policy's to decide and are left out.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.matching.find import Match
from dupgate.matching.policy import Policy, decide
from dupgate.matching.score import tier_of
from dupgate.store.models import Upload
from dupgate.vocabulary import Outcome, Tier, UploadStatus

# How many of the newest decided uploads a preview decides again, and how many it shows.
PREVIEW_UPLOADS = 500
PREVIEW_EXAMPLES = 10


@dataclass(frozen=True)
class Redecided:
    """An upload the proposed policy decides otherwise: what it was, and what it would be."""

    upload_id: str
    external_id: str | None
    filename: str | None
    best_score: float | None
    was: tuple[Outcome, Tier]
    would_be: tuple[Outcome, Tier]
    reason: str


@dataclass(frozen=True)
class PolicyPreview:
    """Of the `considered` newest decided uploads, `changed` would be decided otherwise;
    `examples` shows the newest of them, `by_change` counts them by (was, would be)."""

    policy: Policy
    considered: int
    left_out: int  # blocked or not an image: not decided by the policy
    changed: int
    examples: list[Redecided]
    by_change: dict[tuple[Outcome, Outcome], int]


def preview_policy(
    session: Session,
    collection: str,
    policy: Policy,
    *,
    last: int = PREVIEW_UPLOADS,
    examples: int = PREVIEW_EXAMPLES,
) -> PolicyPreview:
    """Decide the collection's `last` newest decided uploads again under `policy`."""
    uploads = session.scalars(
        select(Upload)
        .where(Upload.collection == collection, Upload.status == UploadStatus.DECIDED)
        .order_by(Upload.decided_at.desc(), Upload.id.desc())
        .limit(last)
    ).all()
    left_out = changed = 0
    shown: list[Redecided] = []
    by_change: dict[tuple[Outcome, Outcome], int] = {}
    for upload in uploads:
        was = _policy_decision(upload)
        if was is None:
            left_out += 1
            continue
        matches = [
            Match(m["image_id"], m["score"], tier)
            for m in upload.matches
            if (tier := tier_of(m["score"], policy.exact_threshold, policy.near_threshold))
            != Tier.UNIQUE
        ]
        matches.sort(key=lambda m: (-m.score, m.image_id))
        decision = decide(matches, policy)
        would_be = (decision.outcome, decision.tier)
        if would_be == was:
            continue
        changed += 1
        key = (was[0], would_be[0])
        by_change[key] = by_change.get(key, 0) + 1
        if len(shown) < examples:
            best = max((m["score"] for m in upload.matches), default=None)
            shown.append(
                Redecided(
                    upload.id,
                    upload.external_id,
                    upload.filename,
                    best,
                    was,
                    would_be,
                    decision.reason,
                )
            )
    return PolicyPreview(policy, len(uploads), left_out, changed, shown, by_change)


def _policy_decision(upload: Upload) -> tuple[Outcome, Tier] | None:
    """What the policy decided for the upload, or None where the policy did not decide it."""
    reason = upload.reason or ""
    if upload.action is None or upload.tier is None:
        return None
    if reason.startswith(("blocked:", "invalid_image")):
        return None
    if upload.reviewed_at is not None:
        return (Outcome.HELD, upload.tier)
    return (upload.action, upload.tier)
