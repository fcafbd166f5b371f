"""The report's longer sections: the clothing catalog, the templates, the margin, the extra
sets and the PDQ check, each as Markdown lines."""

from pathlib import Path

import numpy as np

from benchmarks.quality.clothing import ClothingResult
from benchmarks.quality.extras import ExtraResult
from benchmarks.quality.margin import Margin
from benchmarks.quality.methods import LABELS, METHODS
from benchmarks.quality.paths import rel
from benchmarks.quality.report import flagged_rate, table
from benchmarks.quality.template_negatives import TemplateResult


def clothing_section(r: ClothingResult, near: float) -> list[str]:
    """Pairs of the clothing photos: across contributors, within one, identical bytes."""
    fc = r.floor_check
    rows = []
    for t, (across, within, same) in r.counts.items():
        label = f"{t:.2f}" + (" (near)" if t == near else "")
        rows.append(
            [label, flagged_rate(across, r.n_across), flagged_rate(within, r.n_within), same]
        )
    lines = [
        f"{r.n_photos:,} photos from {r.n_contributors} contributors: {r.n_pairs:,} unordered "
        f"pairs, each scored in both directions with the larger kept; {r.n_across:,} across "
        f"contributors, {r.n_within:,} within one, {len(r.identical)} byte-identical "
        f"(counted apart). Prefilter: `score()` was called for the {r.n_scored:,} pairs whose "
        f"best SSCD cosine (whole or a view, either direction) is ≥ {r.floor} (or whose bytes "
        "are identical); the others count as unique. Check of that floor: of "
        f"{fc.checked:,} random pairs under it, scored with `score()` one by one, "
        f"{fc.reaching_near} reach the near threshold (highest {fc.max_score:.4f}). "
        f"{r.seconds:.0f} s.",
        "",
        *table(
            [
                "threshold",
                "across contributors (false), flagged/pairs",
                "within one contributor, flagged/pairs",
                "identical bytes",
            ],
            rows,
        ),
        "",
        "Highest pairs across contributors (false matches when at or above the near threshold):",
        "",
        *table(
            ["score", "tier", "photo A (contributor)", "photo B (contributor)"],
            [
                [
                    f"{f.score:.4f}",
                    f.tier,
                    f"{f.a.path.name} ({f.a.sender})",
                    f"{f.b.path.name} ({f.b.sender})",
                ]
                for f in r.top_across
            ],
        ),
        "",
        f"Pairs within one contributor at or above the near threshold ({len(r.within)} listed; "
        "re-shoots of one garment are expected here, other pairs are false matches — look at "
        "them):",
        "",
    ]
    if r.within:
        lines += table(
            ["score", "tier", "contributor", "photo A", "photo B", "labels"],
            [
                [
                    f"{f.score:.4f}",
                    f.tier,
                    f.a.sender,
                    f.a.path.name,
                    f.b.path.name,
                    f"{f.a.label} / {f.b.label}",
                ]
                for f in r.within
            ],
        )
        lines += ["", f"Contact sheet (not committed): `{rel(r.sheet)}`." if r.sheet else ""]
    else:
        lines.append("(none)")
    if r.identical:
        lines += [
            "",
            "Byte-identical pairs (the same file uploaded twice: a correct exact match):",
            "",
            *[
                f"- {f.a.path.name} ({f.a.sender}) = {f.b.path.name} ({f.b.sender})"
                for f in r.identical
            ],
        ]
    return lines


def template_section(r: TemplateResult, near: float) -> list[str]:
    """Per family: pairs of different photos in one template, and uploads against a catalog."""
    rows = []
    for f in r.families:
        counts = f.counts or {}
        score, a, b = f.worst
        rows.append(
            [
                f.family,
                f.variants,
                f.photos,
                f.pairs,
                *[counts.get(t, 0) for t in sorted(counts)],
                f"{score:.4f}",
                f"`{Path(a).stem}` / `{Path(b).stem}`" if a else "–",
            ]
        )
    thresholds = sorted(r.families[0].counts or {}) if r.families else []
    lines = [
        "Pairs: every pair of different photos framed by one template variant, scored in both "
        "directions (the larger kept, no prefilter). Columns `≥ t`: pairs at or above t "
        f"(near threshold {near}); every one of them is a false match.",
        "",
        *table(
            [
                "family",
                "variants",
                "photos each",
                "pairs",
                *[f"≥ {t:.2f}" for t in thresholds],
                "worst score",
                "worst pair",
            ],
            rows,
        ),
        "",
        f"Catalog protocol: the catalog ({r.n_catalog} images) is the ImageNet catalog plus the "
        "first framed photo of every variant; every other framed photo is checked against it as "
        "an upload (brute-force candidates, as for the copies). Any match is false.",
        "",
        *table(
            [
                "family",
                "uploads",
                "matched (false)",
                "matched its own template's photo",
                "best score",
            ],
            [
                [f.family, f.queries, f.matched, f.matched_own_frame, f"{f.worst_query:.4f}"]
                for f in r.families
            ],
        ),
        "",
    ]
    if r.sheet:
        lines.append(f"Contact sheet of the flagged pairs (not committed): `{rel(r.sheet)}`.")
    lines.append(f"{r.seconds:.0f} s.")
    return lines


def margin_section(margin: Margin, near: float, exact: float) -> list[str]:
    s = margin.scores
    lines = [
        f"All {margin.n_pairs:,} unordered pairs of the {margin.n_photos} distinct photos "
        "(each pair scored in both directions, the larger kept: either photo may be uploaded "
        "second).",
        "",
        *table(
            ["statistic", "score"],
            [
                ["max", f"{s.max():.4f}"],
                ["99.99th percentile", f"{np.percentile(s, 99.99):.4f}"],
                ["99.9th percentile", f"{np.percentile(s, 99.9):.4f}"],
                ["99th percentile", f"{np.percentile(s, 99):.4f}"],
                ["median", f"{np.median(s):.4f}"],
                ["shipped near threshold", f"{near:.4f}"],
                ["shipped exact threshold", f"{exact:.4f}"],
                ["pairs ≥ near threshold", int((s >= near).sum())],
                ["margin: near threshold − max", f"{near - s.max():+.4f}"],
            ],
        ),
        "",
        "Top 10 pairs:",
        "",
        *table(
            ["#", "score", "photo A", "photo B"],
            [[i + 1, f"{v:.4f}", a, b] for i, (v, a, b) in enumerate(margin.top)],
        ),
        "",
        f"The vectorised score agrees with `score()` to within {margin.check_max_error:.1e} on "
        f"{margin.check_pairs:,} pairs checked one by one (random pairs plus the 200 highest).",
    ]
    return lines


def extra_section(result: ExtraResult) -> list[str]:
    rows = [
        [q.label, q.expected or "(nothing)", *[result.answers[m][i] for m in METHODS]]
        for i, q in enumerate(result.queries)
    ]
    return [
        f"### {result.title}",
        "",
        *[f"- {n}" for n in result.notes],
        "",
        *table(["query", "expected", *[LABELS[m] for m in METHODS]], rows),
        "",
        "Cells: best candidate (score, cosine or Hamming distance) when the method matches, "
        "`–` (best value) when it does not; ✓/✗ against the expected answer.",
        "",
    ]


def pdq_check_section(rows: list[tuple[str, str, str, int, int]]) -> list[str]:
    equal = sum(d == 0 for _, _, _, d, _ in rows)
    stored_equal = sum(s == 0 for *_, s in rows)
    worst = max(s for *_, s in rows)
    return [
        "### PDQ against the official hashes (`bridge-mods_expected_pdq.csv`)",
        "",
        f"pdqhash on Pillow's full decode (the PDQ peer): {equal} of {len(rows)} hashes are "
        "bit-identical; the rest differ by the distances below (Pillow's JPEG decoder is not the "
        "reference tool's, so a few bits near the median flip). The PDQ dupgate stores (computed "
        f"on its reduced-size decode): {stored_equal} of {len(rows)} bit-identical, at most "
        f"{worst} of 256 bits apart — well inside PDQ's match distance of 31, but not the "
        "bit-for-bit equality the reference tool gives.",
        "",
        *table(
            ["file", "pdqhash distance", "dupgate distance", "pdqhash", "expected"],
            [[name, d, s, f"`{ours}`", f"`{exp}`"] for name, exp, ours, d, s in rows],
        ),
        "",
    ]
