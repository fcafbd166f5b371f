"""`dupgate ingest DIR --collection C` against a real `dupgate serve`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dupgate.cli.ingest import idempotency_key
from tests.conftest import ROOT, photo
from tests.images import resized_jpeg
from tests.scans.conftest import DISTINCT
from tests.servers import KEY, Server, free_port, running_server


def dupgate_ingest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DUPGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "dupgate.cli", "ingest", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three photos, a resized copy of the first in a sub-folder, and a text file."""
    root = tmp_path / "to send"
    (root / "copies").mkdir(parents=True)
    for name in DISTINCT[:3]:
        shutil.copy(photo(name), root / f"{name}.jpg")
    (root / "copies" / "small.jpg").write_bytes(resized_jpeg(photo(DISTINCT[0]), 0.5))
    (root / "readme.txt").write_text("not an image")
    return root


def test_ingest_sends_every_image_and_counts_the_decisions(server: Server, folder: Path) -> None:
    server.put_collection("ingested")

    first = dupgate_ingest(
        str(folder), "--collection", "ingested", DUPGATE_URL=server.url, DUPGATE_API_KEY=KEY
    )

    assert first.returncode == 0, first.stderr
    assert "ingesting" in first.stderr and "100%" in first.stderr  # the progress bar
    assert "4 images sent: accepted: 3, rejected: 1, linked: 0" in first.stdout
    assert "1 other files left alone" in first.stdout

    # A rerun finds the first run's uploads by their Idempotency-Key: nothing new is decided.
    again = dupgate_ingest(
        str(folder), "--collection", "ingested", "--url", server.url, "--key", KEY
    )
    assert again.returncode == 0, again.stderr
    assert "4 images sent: accepted: 3, rejected: 1" in again.stdout


def test_ingest_says_what_is_wrong_with_the_url_key_or_collection(
    server: Server, folder: Path
) -> None:
    server.put_collection("exists")
    nowhere = f"http://127.0.0.1:{free_port()}"

    unreachable = dupgate_ingest(str(folder), "--collection", "exists", "--url", nowhere)
    bad_key = dupgate_ingest(
        str(folder), "--collection", "exists", "--url", server.url, "--key", "wrong-key"
    )
    unknown = dupgate_ingest(
        str(folder), "--collection", "no-such", "--url", server.url, "--key", KEY
    )

    assert (
        unreachable.returncode == 2 and f"cannot reach dupgate at {nowhere}" in unreachable.stderr
    )
    assert bad_key.returncode == 2 and "refused the API key (401" in bad_key.stderr
    assert unknown.returncode == 2 and "no collection 'no-such'" in unknown.stderr


def test_the_idempotency_key_is_stable_per_file_and_place() -> None:
    key = idempotency_key("c", "a/b.jpg", "00" * 32)
    assert key == idempotency_key("c", "a/b.jpg", "00" * 32)
    assert key != idempotency_key("c", "a/c.jpg", "00" * 32)
    assert key != idempotency_key("c", "a/b.jpg", "11" * 32)
    assert key != idempotency_key("d", "a/b.jpg", "00" * 32)
    assert len(key) <= 200


def test_ingest_waits_out_the_rate_limit_instead_of_failing_files(folder: Path) -> None:
    # One upload a second with a burst of one: the four images cannot all pass at once.
    with running_server(
        "sqlite", DUPGATE_RATE_LIMIT_PER_SECOND="1", DUPGATE_RATE_LIMIT_BURST="1"
    ) as limited:
        limited.put_collection("limited")
        result = dupgate_ingest(
            str(folder), "--collection", "limited", DUPGATE_URL=limited.url, DUPGATE_API_KEY=KEY
        )

    assert result.returncode == 0, result.stderr
    assert "4 images sent: accepted: 3, rejected: 1, linked: 0" in result.stdout
    assert "failed: 0" in result.stdout
