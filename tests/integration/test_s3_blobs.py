"""dupgate with its blobs in an S3 bucket: a real `dupgate serve` on the session's SeaweedFS."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from dupgate.readiness import readiness
from dupgate.services import blob_store
from dupgate.settings import Settings
from tests.conftest import photo
from tests.images import resized_jpeg
from tests.s3 import S3Server
from tests.servers import Server, free_port, in_process_server, running_server
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture(scope="module")
def s3_server(s3: S3Server, bucket: str) -> Iterator[Server]:
    with running_server("sqlite", **s3.settings(bucket)) as served:
        yield served


def test_uploads_are_decided_and_served_from_the_bucket(
    s3_server: Server, s3: S3Server, bucket: str
) -> None:
    s3_server.put_collection("shop")
    original = photo("n01440764_tench").read_bytes()
    first = s3_server.decision("shop", original)
    assert first["action"] == "accepted"

    copy = s3_server.decision("shop", resized_jpeg(photo("n01440764_tench"), scale=0.5))
    assert copy["action"] == "rejected" and copy["tier"] == "exact"
    assert copy["matches"][0]["image_id"] == first["image_id"]

    content = s3_server.client.get(f"/v1/images/{first['image_id']}/content")
    assert content.status_code == 200 and content.content == original
    # The bytes live in the bucket, where any host reaches them, and not on this one's disk.
    bucket_store = s3.store(bucket)
    assert [b.key for b in bucket_store.list(f"images/{first['image_id']}/")]
    assert not [p for p in (s3_server.data_dir / "blobs").rglob("*") if p.is_file()]
    # Both uploads' staged bytes are gone once they are committed (or refused).
    wait_until(lambda: not list(bucket_store.list("staging/")), 30, what="staging emptied")


def test_readiness_checks_the_bucket(
    s3_server: Server, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = s3_server.client.get("/readyz")
    assert ready.status_code == 200, ready.text

    for name, value in s3.settings("no-such-bucket").items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    storage = readiness(settings, blob_store(settings))["storage"]
    assert not storage.ok
    assert storage.error and "no bucket 'no-such-bucket'" in storage.error


def test_an_unreachable_bucket_is_a_503_to_retry_not_an_error(
    database_url: str, broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app in this process, its bucket on a port nothing listens on.
    settings = {
        "DUPGATE_BLOB_STORE": "s3",
        "DUPGATE_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "DUPGATE_S3_BUCKET": "dupgate",
        "DUPGATE_S3_REGION": "us-east-1",
        "DUPGATE_S3_ACCESS_KEY_ID": "k",
        "DUPGATE_S3_SECRET_ACCESS_KEY": "s",
    }
    with in_process_server(monkeypatch, database_url, tmp_path / "data", broker, **settings) as api:
        api.put_collection("shop")
        r = api.post_image("shop", photo("n01440764_tench").read_bytes())
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "storage_unavailable"
        assert r.headers["Retry-After"]
        ready = api.client.get("/readyz")
        assert ready.status_code == 503
