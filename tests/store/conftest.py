"""A store of each kind for the tests that hold for both."""

from pathlib import Path

import pytest

from dupgate.store.blobs import BlobStore, LocalBlobStore
from tests.s3 import S3Server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A fresh, empty store of each kind: files under a directory, a bucket on the S3 server."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    s3: S3Server = request.getfixturevalue("s3")
    return s3.store()
