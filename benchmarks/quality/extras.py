"""The small extra sections: imagededup's UKBench test photos and PDQ's bridge photo."""

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.quality import dupgate_api as dg
from benchmarks.quality import methods as m
from benchmarks.quality.paths import IMAGEDEDUP_TESTS, PDQ_TESTDATA, rel
from dupgate.analysis.decode import decode
from dupgate.analysis.hashes import pdq


@dataclass(frozen=True)
class ExtraQuery:
    path: Path
    expected: str | None  # catalog file name, None when nothing should match
    label: str


@dataclass(frozen=True)
class ExtraResult:
    title: str
    catalog: list[Path]
    queries: list[ExtraQuery]
    answers: dict[str, list[str]]  # method -> one cell per query
    notes: list[str]


def _cell(outcome: m.Outcome, names: list[str], expected: str | None, is_distance: bool) -> str:
    if outcome.best is None:
        return "unreadable" + (" ✓" if expected is None else " ✗")
    value = f"{outcome.value:.0f}" if is_distance else f"{outcome.value:.2f}"
    if not outcome.matched:
        return f"– ({value})" + (" ✓" if expected is None else " ✗")
    ok = names[outcome.best] == expected
    return f"{names[outcome.best]} ({value})" + (" ✓" if ok else " ✗")


def run_section(
    title: str, catalog: list[Path], queries: list[ExtraQuery], embedder, workers, notes
) -> ExtraResult:
    paths = catalog + [q.path for q in queries]
    peers = m.compute_peer_hashes(paths, workers)
    feats = m.compute_dupgate_features(paths, embedder)
    names = [p.name for p in catalog]
    cat_peers = m.every_known((peers[p] for p in catalog), "catalog photos")
    cat_feats = m.every_known((feats[p] for p in catalog), "catalog photos")
    outcomes = {
        "dupgate": m.match_dupgate(
            [feats[q.path] for q in queries], cat_feats, dg.DEFAULT_EXACT, dg.DEFAULT_NEAR
        ),
        "sscd": m.match_sscd([feats[q.path] for q in queries], cat_feats),
    }
    for method in ("phash", "pdq", "pdq_dihedral"):
        outcomes[method] = m.match_hashes(method, [peers[q.path] for q in queries], cat_peers)
    answers = {
        method: [
            _cell(o, names, q.expected, method not in ("dupgate", "sscd"))
            + (f" {o.tier}" if method == "dupgate" and o.matched else "")
            for o, q in zip(outs, queries, strict=True)
        ]
        for method, outs in outcomes.items()
    }
    return ExtraResult(title, catalog, queries, answers, notes)


def imagededup_section(embedder, workers) -> ExtraResult:
    root = IMAGEDEDUP_TESTS
    catalog = sorted((root / "base_images").glob("*.jpg"))
    queries = [
        ExtraQuery(root / "mixed_images" / f"ukbench00120_{kind}.jpg", "ukbench00120.jpg", kind)
        for kind in ("hflip", "resize", "rotation")
    ]
    queries.append(ExtraQuery(root / "ukbench00120_gray.jpg", "ukbench00120.jpg", "gray"))
    for ext in ("jpeg", "png", "bmp", "webp"):
        queries.append(
            ExtraQuery(root / "formats_images" / f"ukbench09380.{ext}", "ukbench09380.jpg", ext)
        )
    queries.append(ExtraQuery(root / "mixed_images" / "ukbench09268_corrupt.jpg", None, "corrupt"))
    with open(root / "evaluation_files" / "ground_truth.pkl", "rb") as f:
        truth = pickle.load(f)
    present = {p.name for p in root.rglob("*")}
    listed = {name for k, v in truth.items() for name in [k, *v]}
    notes = [
        f"`evaluation_files/ground_truth.pkl` holds {len(truth)} groups "
        f"({', '.join(sorted(truth))}); {len(listed - present)} of the {len(listed)} files it "
        "names are not in the folder (it is a fixture for imagededup's metric tests), so the "
        "labels here come from the file names: `ukbench00120_*` are copies of `ukbench00120.jpg`, "
        "`formats_images/ukbench09380.*` of `ukbench09380.jpg`.",
        "Catalog: the 10 photos of `base_images/`.",
    ]
    return run_section("imagededup-tests (UKBench)", catalog, queries, embedder, workers, notes)


def pdq_hash_check() -> list[tuple[str, str, str, int, int]]:
    """For every bridge-mods file: the official PDQ hash, pdqhash's on Pillow's full decode,
    its distance from the official one, and the distance of the PDQ dupgate stores."""
    rows = []
    with open(PDQ_TESTDATA / "bridge-mods_expected_pdq.csv") as f:
        for expected, name in csv.reader(f):
            hashes = m.peer_hashes(PDQ_TESTDATA / name)
            assert hashes is not None
            ours = hashes.pdq[0].astype(">u8").tobytes().hex()
            distance = int(np.bitwise_count(hashes.pdq[0] ^ _unhex(expected)).sum())
            stored, _ = pdq(decode((PDQ_TESTDATA / name).read_bytes()).picture)
            stored_distance = int(np.bitwise_count(_unhex(stored.hex()) ^ _unhex(expected)).sum())
            rows.append((name, expected, ours, distance, stored_distance))
    return rows


def _unhex(text: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(text), dtype=">u8").astype(np.uint64)


def pdq_section(embedder, workers) -> ExtraResult:
    root = PDQ_TESTDATA
    orig = root / "bridge-mods" / "aaa-orig.jpg"
    exif_upright = root / "reg-test-input" / "exif-rotn" / "exif-rotn-1.jpg"
    distractors = sorted((root / "reg-test-input" / "labelme-subset").glob("*.jpg"))
    catalog = [orig, exif_upright, *distractors, root / "reg-test-input" / "pen-and-coaster.png"]
    queries = [
        ExtraQuery(p, orig.name, p.stem)
        for p in sorted((root / "bridge-mods").glob("*.jpg"))
        if p != orig
    ]
    queries += [
        ExtraQuery(p, orig.name, f"dih/{p.stem}")
        for p in sorted((root / "reg-test-input" / "dih").glob("*.jpg"))
    ]
    queries += [
        ExtraQuery(p, exif_upright.name, f"exif/{p.stem}")
        for p in sorted((root / "reg-test-input" / "exif-rotn").glob("*.jpg"))
        if p != exif_upright
    ]
    notes = [
        f"Catalog: `{rel(orig)}`, `{rel(exif_upright)}` and {len(distractors) + 1} unrelated "
        "photos from `reg-test-input/` as distractors.",
        "`exif/` copies store the same pixels with a different EXIF orientation tag.",
    ]
    return run_section("pdq-testdata (bridge)", catalog, queries, embedder, workers, notes)
