"""Collections and their policies, stored on SQLite (and PostgreSQL where configured)."""

import pytest

from dupgate.collections import (
    InvalidPolicy,
    PolicyChange,
    UnknownCollection,
    get_collection,
    policy_of,
    put_collection,
)
from dupgate.db import session_scope
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR


def test_an_empty_put_creates_the_defaults(database_url: str) -> None:
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange())
    with session_scope(database_url) as s:
        policy = policy_of(get_collection(s, "shop"))
    assert (policy.exact_threshold, policy.near_threshold) == (DEFAULT_EXACT, DEFAULT_NEAR)
    assert policy.actions == {"exact": "reject", "near": "link", "unique": "accept"}


def test_a_change_keeps_what_it_does_not_name(database_url: str) -> None:
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(exact=0.97))
        put_collection(s, "shop", PolicyChange(actions={"near": "hold"}))
    with session_scope(database_url) as s:
        policy = policy_of(get_collection(s, "shop"))
    assert policy.exact_threshold == 0.97
    assert policy.actions == {"exact": "reject", "near": "hold", "unique": "accept"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (PolicyChange(exact=0.6, near=0.8), "must not be above"),
        (PolicyChange(near=1.5), "between 0 and 1"),
        (PolicyChange(actions={"near": "delete"}), "actions are"),
        (PolicyChange(actions={"blurry": "reject"}), "no tier"),
        (PolicyChange(actions={"unique": "link"}), "nothing to link"),
    ],
)
def test_invalid_changes_are_refused_with_a_reason(
    database_url: str, change: PolicyChange, message: str
) -> None:
    with session_scope(database_url) as s, pytest.raises(InvalidPolicy, match=message):
        put_collection(s, "shop", change)


def test_unknown_collection_says_how_to_create_it(database_url: str) -> None:
    with session_scope(database_url) as s, pytest.raises(UnknownCollection, match="PUT"):
        get_collection(s, "nope")
