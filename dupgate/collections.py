"""Collections: create one, change its policy and thresholds, and read them back."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR
from dupgate.models import Collection, utcnow
from dupgate.policy import ACTIONS, DEFAULT_ACTIONS, TIERS, Policy


class InvalidPolicy(ValueError):
    """A policy or threshold change that cannot be applied; the message says why."""


class UnknownCollection(LookupError):
    """No collection by that name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"collection {name!r} does not exist; create it with PUT /v1/collections/{name}"
        )


@dataclass(frozen=True)
class PolicyChange:
    """Requested changes; None means keep the current (or default) value."""

    exact: float | None = None
    near: float | None = None
    actions: dict[str, str] | None = None


def put_collection(session: Session, name: str, change: PolicyChange) -> Collection:
    """Create the collection, or apply the change to it; validated before anything is written."""
    collection = session.get(Collection, name)
    if collection is None:
        collection = Collection(
            name=name,
            exact_threshold=DEFAULT_EXACT,
            near_threshold=DEFAULT_NEAR,
            action_exact=DEFAULT_ACTIONS["exact"],
            action_near=DEFAULT_ACTIONS["near"],
            action_unique=DEFAULT_ACTIONS["unique"],
            decisions=0,
        )
        session.add(collection)
    exact = collection.exact_threshold if change.exact is None else change.exact
    near = collection.near_threshold if change.near is None else change.near
    for label, value in (("exact", exact), ("near", near)):
        if not 0.0 <= value <= 1.0:
            raise InvalidPolicy(f"thresholds.{label} must be between 0 and 1, not {value}")
    if near > exact:
        raise InvalidPolicy(
            f"thresholds.near ({near}) must not be above thresholds.exact ({exact}): "
            "an exact duplicate is also a near one"
        )
    actions = {t: getattr(collection, f"action_{t}") for t in TIERS}
    for tier, action in (change.actions or {}).items():
        if tier not in TIERS:
            raise InvalidPolicy(f"policy has no tier {tier!r}; tiers are {', '.join(TIERS)}")
        if action not in ACTIONS:
            raise InvalidPolicy(
                f"policy.{tier} cannot be {action!r}; actions are {', '.join(ACTIONS)}"
            )
        actions[tier] = action
    if actions["unique"] in ("link", "overwrite"):
        raise InvalidPolicy(
            f"policy.unique cannot be {actions['unique']!r}: a unique image has nothing to "
            "link to or overwrite"
        )
    collection.exact_threshold, collection.near_threshold = exact, near
    collection.action_exact = actions["exact"]
    collection.action_near = actions["near"]
    collection.action_unique = actions["unique"]
    collection.updated_at = utcnow()
    session.flush()
    return collection


def get_collection(session: Session, name: str) -> Collection:
    """The collection, or UnknownCollection."""
    collection = session.get(Collection, name)
    if collection is None:
        raise UnknownCollection(name)
    return collection


def policy_of(collection: Collection) -> Policy:
    """The collection's policy as a plain value."""
    return Policy(
        collection.exact_threshold,
        collection.near_threshold,
        {t: getattr(collection, f"action_{t}") for t in TIERS},
    )


def lock_for_decision(session: Session, name: str) -> Collection:
    """Take the collection's row lock until the transaction ends and return the collection.

    Deciding is serialized per collection so that two copies arriving at once cannot both be
    accepted. On PostgreSQL the UPDATE locks the row until commit, and the index replay that
    follows (READ COMMITTED) sees every earlier commit. On SQLite every transaction already
    holds the database's write lock from its start (BEGIN IMMEDIATE, see dupgate.db).
    """
    result = session.execute(
        update(Collection)
        .where(Collection.name == name)
        .values(decisions=Collection.decisions + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise UnknownCollection(name)
    collection = session.get(Collection, name, populate_existing=True)
    assert collection is not None
    return collection


def collection_view(collection: Collection) -> dict[str, Any]:
    """The collection as the API shows it."""
    return {
        "name": collection.name,
        "thresholds": {"exact": collection.exact_threshold, "near": collection.near_threshold},
        "policy": {t: getattr(collection, f"action_{t}") for t in TIERS},
        "created_at": collection.created_at.isoformat(),
        "updated_at": collection.updated_at.isoformat(),
    }
