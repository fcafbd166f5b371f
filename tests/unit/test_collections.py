"""Collections and their policies, stored on SQLite (and PostgreSQL where configured)."""

import pytest

from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR
from dupgate.store.db import session_scope
from dupgate.tenancy.collections import (
    CollectionNameTaken,
    InvalidPolicy,
    PolicyChange,
    UnknownCollection,
    get_collection,
    policy_of,
    policy_versions,
    put_collection,
)
from dupgate.tenancy.keys import BOOTSTRAP, Caller
from dupgate.tenancy.visibility import visible_collection
from dupgate.vocabulary import Scope


def test_an_empty_put_creates_the_defaults(database_url: str) -> None:
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), BOOTSTRAP)
    with session_scope(database_url) as s:
        policy = policy_of(get_collection(s, "shop"))
    assert (policy.exact_threshold, policy.near_threshold) == (DEFAULT_EXACT, DEFAULT_NEAR)
    assert policy.actions == {"exact": "reject", "near": "link", "unique": "accept"}


def test_a_change_keeps_what_it_does_not_name(database_url: str) -> None:
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(exact=0.97), BOOTSTRAP)
        put_collection(s, "shop", PolicyChange(actions={"near": "hold"}), BOOTSTRAP)
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
        put_collection(s, "shop", change, BOOTSTRAP)


def test_unknown_collection_says_how_to_create_it(database_url: str) -> None:
    with session_scope(database_url) as s, pytest.raises(UnknownCollection, match="PUT"):
        get_collection(s, "nope")


def test_every_change_is_a_new_version_with_who_made_it(database_url: str) -> None:
    admin = Caller("key-1", "acme", frozenset({Scope.ADMIN}))
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), admin)
        put_collection(s, "shop", PolicyChange(near=0.5), admin)
        put_collection(s, "shop", PolicyChange(near=0.5), admin)  # no change: no version
    with session_scope(database_url) as s:
        versions = policy_versions(s, "shop").rows
        assert [(v.version, v.near_threshold, v.actor) for v in versions] == [
            (2, 0.5, "key-1"),
            (1, DEFAULT_NEAR, "key-1"),
        ]
        assert policy_of(get_collection(s, "shop")).version == 2
        assert get_collection(s, "shop").tenant == "acme"


def test_check_against_names_collections_of_the_same_tenant_only(database_url: str) -> None:
    acme = Caller("key-1", "acme", frozenset({Scope.ADMIN}))
    other = Caller("key-2", "other", frozenset({Scope.ADMIN}))
    with session_scope(database_url) as s:
        put_collection(s, "banned", PolicyChange(), acme)
        put_collection(s, "theirs", PolicyChange(), other)
        put_collection(s, "shop", PolicyChange(check_against=["banned"]), acme)
        for names, message in (
            (["theirs"], "does not exist in tenant 'acme'"),
            (["nope"], "does not exist"),
            (["shop"], "always checked"),
        ):
            with pytest.raises(InvalidPolicy, match=message):
                put_collection(s, "shop", PolicyChange(check_against=names), acme)
        with pytest.raises(InvalidPolicy, match="overwrite"):
            put_collection(s, "shop", PolicyChange(actions={"exact": "overwrite"}), acme)


def test_another_tenants_collection_is_unknown_and_its_name_taken(database_url: str) -> None:
    acme = Caller("key-1", "acme", frozenset({Scope.ADMIN}))
    other = Caller("key-2", "other", frozenset({Scope.ADMIN}))
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), acme)
        with pytest.raises(UnknownCollection):
            visible_collection(s, other, "shop")
        with pytest.raises(CollectionNameTaken):
            put_collection(s, "shop", PolicyChange(), other)
        assert visible_collection(s, BOOTSTRAP, "shop").tenant == "acme"
