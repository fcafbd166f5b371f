"""Fixtures for the analysis tests: the real SSCD embedder and the shared real photos."""

from pathlib import Path

import pytest

from dupgate.analysis import Embedder, load_embedder

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"
PDQ_TESTDATA = DATASETS / "pdq-testdata"


def dataset_file(relative: str) -> Path:
    """A file of ../shared/datasets, or a skip when the shared datasets are not here."""
    path = DATASETS / relative
    if not path.exists():
        pytest.skip(f"the shared dataset file {path} is not here")
    return path


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder("onnx")
