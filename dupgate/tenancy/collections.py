"""Collections: create one, change its policy (each change a new version), read them back."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.events.audit import record_event
from dupgate.matching.policy import DEFAULT_ACTIONS, Policy
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR
from dupgate.store.locking import UnknownCollection, lock_collections
from dupgate.store.models import Collection, PolicyVersion, utcnow
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.tenancy.keys import Caller
from dupgate.vocabulary import Action, Tier, listing, parse

__all__ = [
    "COLLECTIONS",
    "POLICY_VERSIONS",
    "CollectionNameTaken",
    "InvalidPolicy",
    "PolicyChange",
    "UnknownCollection",
    "get_collection",
    "policy_of",
    "policy_versions",
    "proposed_policy",
    "put_collection",
    "visible_collections",
]


# The orders lists are read in.
COLLECTIONS = Order(Collection.name)


POLICY_VERSIONS = Order(PolicyVersion.version, descending=True)


class InvalidPolicy(ValueError):
    """A policy or threshold change that cannot be applied; the message says why."""


class CollectionNameTaken(ValueError):
    """Another tenant has a collection by that name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the collection name {name!r} is taken (names are unique across tenants); "
            "choose another"
        )


@dataclass(frozen=True)
class PolicyChange:
    """Requested changes; None means keep the current (or default) value."""

    exact: float | None = None
    near: float | None = None
    # Tier to action, as asked (the values are checked: InvalidPolicy names what is wrong).
    actions: dict[str, str] | None = None
    # Other collections of the same tenant that uploads are also checked against.
    check_against: list[str] | None = None
    # The tenant a new collection belongs to (keys over every tenant only; others use theirs).
    tenant: str | None = None


def put_collection(session: Session, name: str, change: PolicyChange, caller: Caller) -> Collection:
    """Create the collection, or apply the change to it as a new policy version.

    Validated before anything is written; a change that changes nothing writes nothing.
    """
    collection = session.get(Collection, name)
    if collection is not None and not caller.sees(collection.tenant):
        raise CollectionNameTaken(name)
    created = collection is None
    if collection is None:
        collection = Collection(
            name=name,
            tenant=caller.tenant_for_new(change.tenant),
            exact_threshold=DEFAULT_EXACT,
            near_threshold=DEFAULT_NEAR,
            action_exact=DEFAULT_ACTIONS[Tier.EXACT],
            action_near=DEFAULT_ACTIONS[Tier.NEAR],
            action_unique=DEFAULT_ACTIONS[Tier.UNIQUE],
            check_against=[],
            policy_version=0,
            decisions=0,
        )
    elif change.tenant is not None and change.tenant != collection.tenant:
        raise InvalidPolicy(
            f"collection {name!r} belongs to tenant {collection.tenant!r}; it cannot move"
        )
    new = _validated(session, collection, change)
    if not created and new == policy_of(collection):
        return collection  # nothing changes: no new version
    if created:
        session.add(collection)
        session.flush()
    else:
        lock_collections(session, [name])
    collection.exact_threshold, collection.near_threshold = new.exact_threshold, new.near_threshold
    collection.action_exact = new.actions[Tier.EXACT]
    collection.action_near = new.actions[Tier.NEAR]
    collection.action_unique = new.actions[Tier.UNIQUE]
    collection.check_against = list(new.check_against)
    collection.policy_version += 1
    collection.updated_at = utcnow()
    session.add(
        PolicyVersion(
            collection=name,
            version=collection.policy_version,
            exact_threshold=new.exact_threshold,
            near_threshold=new.near_threshold,
            actions=dict(new.actions),
            check_against=list(new.check_against),
            actor=caller.actor,
            created_at=collection.updated_at,
        )
    )
    record_event(
        session,
        "collection.created" if created else "policy.changed",
        tenant=collection.tenant,
        actor=caller.actor,
        collection=name,
        data={"collection": name, "policy_version": collection.policy_version}
        | _policy_fields(new),
    )
    session.flush()
    return collection


def _validated(session: Session, collection: Collection, change: PolicyChange) -> Policy:
    current = policy_of(collection)
    exact = current.exact_threshold if change.exact is None else change.exact
    near = current.near_threshold if change.near is None else change.near
    for label, value in (("exact", exact), ("near", near)):
        if not 0.0 <= value <= 1.0:
            raise InvalidPolicy(f"thresholds.{label} must be between 0 and 1, not {value}")
    if near > exact:
        raise InvalidPolicy(
            f"thresholds.near ({near}) must not be above thresholds.exact ({exact}): "
            "an exact duplicate is also a near one"
        )
    actions = dict(current.actions)
    for tier_name, action_name in (change.actions or {}).items():
        tier, action = parse(Tier, tier_name), parse(Action, action_name)
        if tier is None:
            raise InvalidPolicy(f"policy has no tier {tier_name!r}; tiers are {listing(Tier)}")
        if action is None:
            raise InvalidPolicy(
                f"policy.{tier} cannot be {action_name!r}; actions are {listing(Action)}"
            )
        actions[tier] = action
    if actions[Tier.UNIQUE] in (Action.LINK, Action.OVERWRITE):
        raise InvalidPolicy(
            f"policy.unique cannot be {actions[Tier.UNIQUE].value!r}: a unique image has nothing "
            "to link to or overwrite"
        )
    others = current.check_against if change.check_against is None else change.check_against
    others = sorted(set(others))
    for other in others:
        row = session.get(Collection, other)
        if other == collection.name:
            raise InvalidPolicy(
                "check_against names the collection itself; it is always checked, list only "
                "the others"
            )
        if row is None or row.tenant != collection.tenant:
            raise InvalidPolicy(
                f"check_against: collection {other!r} does not exist in tenant "
                f"{collection.tenant!r}"
            )
    if others and Action.OVERWRITE in actions.values():
        raise InvalidPolicy(
            "overwrite replaces an image of this collection, so it cannot be combined with "
            "check_against (the best match may be in another collection); use link, reject "
            "or hold"
        )
    return Policy(exact, near, actions, tuple(others), version=collection.policy_version)


def proposed_policy(session: Session, collection: Collection, change: PolicyChange) -> Policy:
    """The policy the change would give the collection, validated as `put_collection` does
    (InvalidPolicy says what is wrong); nothing is written."""
    return _validated(session, collection, change)


def get_collection(session: Session, name: str) -> Collection:
    """The collection, or UnknownCollection."""
    collection = session.get(Collection, name)
    if collection is None:
        raise UnknownCollection(name)
    return collection


def visible_collections(
    session: Session, caller: Caller, *, after: Key | None = None, limit: int = 100
) -> Slice[Collection]:
    """A page of the collections the caller may see, by name."""
    query = select(Collection)
    if not caller.all_tenants:
        query = query.where(Collection.tenant == caller.tenant)
    return read_page(session, query, COLLECTIONS, after, limit)


def policy_of(collection: Collection) -> Policy:
    """The collection's current policy as a plain value."""
    return Policy(
        collection.exact_threshold,
        collection.near_threshold,
        {
            Tier.EXACT: collection.action_exact,
            Tier.NEAR: collection.action_near,
            Tier.UNIQUE: collection.action_unique,
        },
        tuple(collection.check_against or ()),
        version=collection.policy_version,
    )


def policy_versions(
    session: Session, name: str, *, after: Key | None = None, limit: int = 100
) -> Slice[PolicyVersion]:
    """A page of the versions of a collection's policy, newest first."""
    query = select(PolicyVersion).where(PolicyVersion.collection == name)
    return read_page(session, query, POLICY_VERSIONS, after, limit)


def _policy_fields(policy: Policy) -> dict[str, Any]:
    return {
        "thresholds": {"exact": policy.exact_threshold, "near": policy.near_threshold},
        "policy": dict(policy.actions),
        "check_against": list(policy.check_against),
    }
