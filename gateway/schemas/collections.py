"""Collections and the versions of their policies."""

from dupgate.gateway.schemas.common import Schema, Timestamp
from dupgate.store import models
from dupgate.tenancy.collections import policy_of
from dupgate.vocabulary import Action


class CollectionThresholds(Schema):
    """Scores from which an upload is an exact or a near duplicate."""

    exact: float
    near: float


class CollectionPolicy(Schema):
    """The action for each tier."""

    exact: Action
    near: Action
    unique: Action


class Collection(Schema):
    """A collection with its current policy."""

    name: str
    tenant: str
    policy_version: int
    thresholds: CollectionThresholds
    policy: CollectionPolicy
    check_against: list[str]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, row: models.Collection) -> "Collection":
        policy = policy_of(row)
        return cls(
            name=row.name,
            tenant=row.tenant,
            policy_version=row.policy_version,
            thresholds=CollectionThresholds(
                exact=policy.exact_threshold, near=policy.near_threshold
            ),
            policy=CollectionPolicy.model_validate(policy.actions),
            check_against=list(policy.check_against),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class PolicyVersion(Schema):
    """One version of a collection's policy, with who made it and when."""

    version: int
    thresholds: CollectionThresholds
    policy: CollectionPolicy
    check_against: list[str]
    actor: str
    created_at: Timestamp

    @classmethod
    def of(cls, row: models.PolicyVersion) -> "PolicyVersion":
        return cls(
            version=row.version,
            thresholds=CollectionThresholds(exact=row.exact_threshold, near=row.near_threshold),
            policy=CollectionPolicy.model_validate(row.actions),
            check_against=row.check_against,
            actor=row.actor,
            created_at=row.created_at,
        )
