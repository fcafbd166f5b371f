"""The policy decision as a table: matches and policy in, decision out."""

import pytest

from dupgate.matching.find import Match
from dupgate.matching.policy import DEFAULT_ACTIONS, BlockedMatch, Policy, decide
from dupgate.vocabulary import Action, Tier

EXACT = Match("img-exact", 0.99, Tier.EXACT)
NEAR = Match("img-near", 0.8, Tier.NEAR)
DEFAULT = Policy(0.95, 0.7)


@pytest.mark.parametrize(
    ("matches", "actions", "expected"),
    [
        ([], DEFAULT_ACTIONS, ("accept", "unique", None)),
        ([EXACT, NEAR], DEFAULT_ACTIONS, ("reject", "exact", "img-exact")),
        ([NEAR], DEFAULT_ACTIONS, ("link", "near", "img-near")),
        (
            [NEAR],
            {"exact": "reject", "near": "hold", "unique": "accept"},
            ("hold", "near", "img-near"),
        ),
        (
            [EXACT],
            {"exact": "overwrite", "near": "link", "unique": "accept"},
            ("overwrite", "exact", "img-exact"),
        ),
        ([], {"exact": "reject", "near": "link", "unique": "hold"}, ("hold", "unique", None)),
    ],
)
def test_decide(matches: list[Match], actions: dict[str, str], expected: tuple) -> None:
    decision = decide(matches, Policy(0.95, 0.7, {Tier(t): Action(a) for t, a in actions.items()}))
    assert (decision.action, decision.tier, decision.target) == expected


def test_reason_names_the_existing_image() -> None:
    assert "img-exact" in decide([EXACT], DEFAULT).reason
    assert decide([EXACT], DEFAULT).outcome == "rejected"


def test_a_blocked_match_rejects_whatever_the_policy_says() -> None:
    accept_all = Policy(0.95, 0.7, dict.fromkeys(Tier, Action.ACCEPT))
    blocked = BlockedMatch("blk-1", "taken down", 0.81, Tier.NEAR, image_id="img-gone")

    decision = decide([NEAR], accept_all, blocked)

    assert (decision.action, decision.tier, decision.target) == ("reject", "near", None)
    assert decision.reason.startswith("blocked: taken down")
    assert "img-gone" in decision.reason and "blk-1" in decision.reason
