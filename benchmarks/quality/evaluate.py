"""From each method's outcomes to the numbers in the report."""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks.quality.dataset import Query
from benchmarks.quality.methods import Outcome

CLASSES = ("exact", "near", "hard")


@dataclass
class Summary:
    """One method's results over one split."""

    recall: dict[str, float]  # per class
    hits: dict[str, int]
    totals: dict[str, int]
    fresh_false: int
    fresh_total: int
    wrong: int  # copies matched to another catalog photo than their original
    per_edit: dict[str, tuple[int, int]]  # edit -> (correct, total)
    exact_labelled: tuple[int, int] | None = None  # dupgate: exact-class copies tiered "exact"
    tiers: dict[str, Counter] = field(default_factory=dict)  # dupgate: class -> tier counts


def summarise(
    queries: list[Query], outcomes: list[Outcome], catalog_names: list[str], dupgate: bool = False
) -> Summary:
    hits: Counter = Counter()
    totals: Counter = Counter()
    edit_hits: Counter = Counter()
    edit_totals: Counter = Counter()
    tiers: dict[str, Counter] = {}
    fresh_false = fresh_total = wrong = exact_tiered = 0
    for q, o in zip(queries, outcomes, strict=True):
        if q.klass == "fresh":
            fresh_total += 1
            fresh_false += o.matched
            if dupgate:
                tiers.setdefault("fresh", Counter())[o.tier or "unreadable"] += 1
            continue
        correct = o.matched and o.best is not None and catalog_names[o.best] == q.expected
        totals[q.klass] += 1
        hits[q.klass] += correct
        edit_totals[q.edit] += 1
        edit_hits[q.edit] += correct
        wrong += o.matched and not correct
        if dupgate:
            tiers.setdefault(q.klass, Counter())[o.tier or "unreadable"] += 1
            exact_tiered += q.klass == "exact" and correct and o.tier == "exact"
    return Summary(
        recall={k: hits[k] / totals[k] if totals[k] else float("nan") for k in CLASSES},
        hits={k: hits[k] for k in CLASSES},
        totals={k: totals[k] for k in CLASSES},
        fresh_false=fresh_false,
        fresh_total=fresh_total,
        wrong=wrong,
        per_edit={e: (edit_hits[e], edit_totals[e]) for e in edit_totals},
        exact_labelled=(exact_tiered, totals["exact"]) if dupgate else None,
        tiers=tiers,
    )


@dataclass(frozen=True)
class ThresholdRecall:
    """Recall if the near threshold were set just above `above` (information, not tuning)."""

    name: str
    above: float
    recall: dict[str, float]
    fresh_false: int
    per_edit: dict[str, float] = field(default_factory=dict)


def recall_above(
    name: str, above: float, queries: list[Query], outcomes: list[Outcome], catalog_names
) -> ThresholdRecall:
    """Per-class recall counting only correct best candidates scoring strictly above `above`."""
    hits: Counter = Counter()
    totals: Counter = Counter()
    edit_hits: Counter = Counter()
    edit_totals: Counter = Counter()
    fresh_false = 0
    for q, o in zip(queries, outcomes, strict=True):
        passes = o.best is not None and not np.isnan(o.value) and o.value > above
        if q.klass == "fresh":
            fresh_false += passes
            continue
        correct = passes and catalog_names[o.best] == q.expected
        totals[q.klass] += 1
        hits[q.klass] += correct
        edit_totals[q.edit] += 1
        edit_hits[q.edit] += correct
    return ThresholdRecall(
        name,
        above,
        {k: hits[k] / totals[k] if totals[k] else float("nan") for k in CLASSES},
        fresh_false,
        {e: edit_hits[e] / n for e, n in edit_totals.items()},
    )


def max_fresh_score(queries: list[Query], outcomes: list[Outcome]) -> float:
    """The highest best-candidate score any fresh photo reached."""
    values = [o.value for q, o in zip(queries, outcomes, strict=True) if q.klass == "fresh"]
    values = [v for v in values if not np.isnan(v)]
    return max(values) if values else float("nan")
