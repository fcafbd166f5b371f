"""Template negatives: different photos put in the same template must not match each other.

For every family of templates.py a few variants are drawn from the split's seed (with the
split's own texts), and the same N photos are framed by each: half from the split's ImageNet
photos that are in no catalog, half from the split's half of the clothing photos. Two protocols:

- pairs: every pair of different photos within one template variant is scored (both
  directions, the larger kept), with no prefilter: the frames make these pairs close;
- catalog: the ImageNet catalog plus the first framed photo of every variant is ingested, and
  the other framed photos are checked against it as uploads: any match is false.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from benchmarks.quality import clothing, contact_sheet, dataset, templates
from benchmarks.quality import dupgate_api as dg
from benchmarks.quality import methods as m
from benchmarks.quality import pairs as p
from benchmarks.quality.paths import CACHE, rel, resolve

TEMPLATE_SEED = 7
# Bump when templates.py or the layout below changes, so cached framed photos are regenerated.
TEMPLATES_VERSION = 1
THRESHOLDS = (0.30, 0.40, 0.50, 0.60)


@dataclass(frozen=True)
class Size:
    variants: int  # per family (AugLy's screenshots have 2 templates at most)
    imagenet: int  # photos per variant, from the split's photos in no catalog
    clothing: int  # photos per variant, from the split's half of the clothing set


FULL = Size(variants=3, imagenet=12, clothing=12)
QUICK = Size(variants=2, imagenet=3, clothing=3)


@dataclass(frozen=True)
class Variant:
    family: str
    name: str
    params: dict
    framed: list[str]  # paths relative to the repository root, one per photo
    photos: list[str]  # the source photos' file names, in the same order


@dataclass
class FamilyResult:
    family: str
    variants: int
    photos: int
    pairs: int = 0
    counts: dict[float, int] | None = None  # threshold -> pairs at or above it
    worst: tuple[float, str, str] = (float("-inf"), "", "")  # score, framed photo A, B
    queries: int = 0  # catalog protocol: uploads checked
    matched: int = 0  # ... matched anything (all false)
    matched_own_frame: int = 0  # ... matched the catalog photo in their own template
    worst_query: float = float("-inf")


@dataclass(frozen=True)
class TemplateResult:
    split: str
    families: list[FamilyResult]
    n_catalog: int
    scores: np.ndarray  # every pair of every variant
    sheet: Path | None
    seconds: float

    def rate(self, threshold: float) -> tuple[int, int]:
        """Pairs at or above `threshold`, and pairs, over every family."""
        return int((self.scores >= threshold).sum()), len(self.scores)


def build(split: str, quick: bool) -> list[Variant]:
    """Frame the split's photos with every variant (or reuse them from the cache)."""
    size = QUICK if quick else FULL
    out_dir = CACHE / f"templates-v{TEMPLATES_VERSION}" / f"{split}-{'quick' if quick else 'full'}"
    manifest = out_dir / "manifest.json"
    if manifest.exists():
        return [Variant(**v) for v in json.loads(manifest.read_text())["variants"]]
    sources = (
        dataset.fresh_pool(split)[: size.imagenet] + clothing.split_pool(split)[: size.clothing]
    )
    seed = dataset.SPLIT_SEEDS[split]
    variants = []
    for f_index, family in enumerate(tqdm(templates.FAMILIES, desc=f"templates {split}")):
        n = min(size.variants, 2) if family == "screenshot_augly" else size.variants
        for v in range(n):
            rng = np.random.default_rng([seed, TEMPLATE_SEED, f_index, v])
            template = templates.draw(family, rng, split, v)
            framed = []
            for source in sources:
                with Image.open(source) as img:
                    img.load()
                    out = templates.frame(img, template, fixed_width=True).convert("RGB")
                path = out_dir / family / str(v) / f"{source.stem}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                out.save(path, quality=95)
                framed.append(rel(path))
            variants.append(
                Variant(family, template.name, template.params, framed, [s.name for s in sources])
            )
    body = {"split": split, "seed": seed, "variants": [v.__dict__ for v in variants]}
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    tmp.replace(manifest)  # written last: its presence means the framed photos are complete
    return variants


def evaluate(
    split: str, quick: bool, embedder: dg.Embedder, catalog: list[Path], sheet_name: str
) -> TemplateResult:
    started = time.perf_counter()
    variants = build(split, quick)
    framed = [resolve(f) for v in variants for f in v.framed]
    feats = m.compute_dupgate_features(framed + list(catalog), embedder)
    families = {
        fam: FamilyResult(fam, 0, len(variants[0].framed), counts=dict.fromkeys(_thresholds(), 0))
        for fam in dict.fromkeys(v.family for v in variants)
    }
    flagged_pairs = []
    all_scores = []
    for v in variants:
        result = families[v.family]
        result.variants += 1
        feat = m.every_known((feats[resolve(f)] for f in v.framed), "framed photos")
        for a in range(len(feat)):
            for b in range(a + 1, len(feat)):
                score = p.pair_score(feat[a], feat[b])
                result.pairs += 1
                all_scores.append(score)
                for t in result.counts:  # type: ignore[union-attr]
                    result.counts[t] += score >= t  # type: ignore[index]
                if score > result.worst[0]:
                    result.worst = (score, v.framed[a], v.framed[b])
                if score >= dg.DEFAULT_NEAR:
                    flagged_pairs.append((score, v.framed[a], v.framed[b]))

    # Catalog protocol: one framed photo per variant joins the catalog; the others are uploads.
    catalog_feats = m.every_known(
        [*(feats[c] for c in catalog), *(feats[resolve(v.framed[0])] for v in variants)],
        "catalog photos",
    )
    own = {len(catalog) + k: v.name for k, v in enumerate(variants)}
    uploads = [(v, resolve(f)) for v in variants for f in v.framed[1:]]
    outcomes = m.match_dupgate(
        [feats[path] for _, path in uploads], catalog_feats, dg.DEFAULT_EXACT, dg.DEFAULT_NEAR
    )
    for (v, _), o in zip(uploads, outcomes, strict=True):
        result = families[v.family]
        result.queries += 1
        result.matched += o.matched
        result.matched_own_frame += o.matched and own.get(o.best) == v.name  # type: ignore[arg-type]
        if not np.isnan(o.value):
            result.worst_query = max(result.worst_query, o.value)

    flagged_pairs.sort(reverse=True)
    sheet = _sheet(flagged_pairs[:40], sheet_name)
    return TemplateResult(
        split,
        list(families.values()),
        len(catalog_feats),
        np.array(all_scores),
        sheet,
        time.perf_counter() - started,
    )


def _thresholds() -> list[float]:
    return sorted({*THRESHOLDS, dg.DEFAULT_NEAR})


def _sheet(flagged: list[tuple[float, str, str]], name: str) -> Path | None:
    return contact_sheet.write(
        [(resolve(a), resolve(b), f"{s:.3f} {Path(a).parent.parent.name}") for s, a, b in flagged],
        CACHE / "contact-sheets" / name,
    )
