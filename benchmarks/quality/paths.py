"""Where the benchmark reads photos from and keeps what it generates."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the repository root
# The shared datasets sit next to the repository; they are referenced, never copied in.
DATASETS = ROOT.parent / "shared" / "datasets"
IMAGENET = DATASETS / "imagenet-sample"
IMAGEDEDUP_TESTS = DATASETS / "imagededup-tests"
PDQ_TESTDATA = DATASETS / "pdq-testdata"
CLOTHING = DATASETS / "clothing"
# Generated copies and cached features; git-ignored.
CACHE = HERE / ".cache"
RESULTS = HERE / "RESULTS.md"


def rel(path: Path | str) -> str:
    """`path` relative to the repository root, as written in manifests and reports."""
    import os

    return os.path.relpath(Path(path).resolve(), ROOT)


def resolve(relative: str) -> Path:
    """The absolute path of a manifest entry."""
    return (ROOT / relative).resolve()
