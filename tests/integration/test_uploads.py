"""The upload flow through HTTP against a running `dupgate serve` (real Redis, real workers);
what needs no worker runs on the app in this process (`api`)."""

import concurrent.futures
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import photo
from tests.images import resized_jpeg, with_caption
from tests.s3 import session_s3
from tests.servers import POSTGRES_S3_PGVECTOR, Server


def new_collection(server: Server, body: dict | None = None) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    server.put_collection(name, body)
    return name


def test_resized_copy_is_rejected_and_names_the_original(server: Server) -> None:
    c = new_collection(server)
    original = photo("n01440764_tench").read_bytes()
    first = server.decision(c, original, external_id="sku-1")
    assert first["action"] == "accepted" and first["tier"] == "unique"

    copy = server.decision(c, resized_jpeg(photo("n01440764_tench"), scale=0.5, quality=70))

    assert copy["action"] == "rejected"
    assert copy["tier"] == "exact"
    assert copy["matches"][0]["image_id"] == first["image_id"]
    assert copy["matches"][0]["external_id"] == "sku-1"
    assert first["image_id"] in copy["reason"]


def test_copy_with_a_caption_is_linked_as_near(server: Server) -> None:
    c = new_collection(server)
    first = server.decision(c, photo("n01518878_ostrich").read_bytes())

    copy = server.decision(c, with_caption(photo("n01518878_ostrich")))

    assert (copy["action"], copy["tier"]) == ("linked", "near")
    assert copy["matches"][0]["image_id"] == first["image_id"]
    linked = server.client.get(f"/v1/images/{copy['image_id']}").json()
    assert linked["linked_to"] == first["image_id"]
    assert copy["image_id"] in server.client.get(f"/v1/images/{first['image_id']}").json()["links"]


def test_a_different_photo_is_accepted(server: Server) -> None:
    c = new_collection(server)
    server.decision(c, photo("n01440764_tench").read_bytes())
    other = server.decision(c, photo("n01530575_brambling").read_bytes())
    assert (other["action"], other["tier"], other["matches"]) == ("accepted", "unique", [])


def test_eight_copies_at_once_are_accepted_exactly_once(server: Server) -> None:
    c = new_collection(server)
    path = photo("n01614925_bald_eagle")
    copies = [resized_jpeg(path, scale=0.5 + 0.05 * i, quality=75 + i) for i in range(8)]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda content: server.upload(c, content), copies))
    decisions = [server.decided(i)["decision"] for i in ids]

    accepted = [d for d in decisions if d["action"] == "accepted"]
    assert len(accepted) == 1, decisions
    others = [d for d in decisions if d["action"] != "accepted"]
    assert all(d["action"] == "rejected" for d in others), others
    assert all(d["matches"][0]["image_id"] == accepted[0]["image_id"] for d in others)


def test_an_image_is_kept_in_the_blob_store_and_index_of_the_servers_combination(
    server: Server,
) -> None:
    c = new_collection(server)
    if server.combination != POSTGRES_S3_PGVECTOR:
        # Local blobs in the data directory; the index in the workers' memory.
        image_id = server.decision(c, photo("n01440764_tench").read_bytes())["image_id"]
        assert image_id and any((server.data_dir / "blobs").rglob("*"))
        return

    client, bucket = session_s3().client(), server.settings["DUPGATE_S3_BUCKET"]

    def objects() -> set[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    before = objects()
    image_id = server.decision(c, photo("n01440764_tench").read_bytes())["image_id"]

    assert objects() - before, "nothing new in the server's bucket"
    assert not any(p.is_file() for p in (server.data_dir / "blobs").rglob("*"))
    assert server.database_url is not None
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as db:
            indexed = db.execute(
                text(
                    "SELECT image_id FROM index_entries WHERE collection = :c AND kind = 'images'"
                ),
                {"c": c},
            ).scalars()
            assert list(indexed) == [image_id]
    finally:
        engine.dispose()


def test_policy_change_applies_to_the_next_upload(server: Server) -> None:
    c = new_collection(server, {"policy": {"exact": "overwrite"}})
    first = server.decision(c, photo("n01443537_goldfish").read_bytes())
    smaller = resized_jpeg(photo("n01443537_goldfish"), scale=0.5)

    overwritten = server.decision(c, smaller)

    assert (overwritten["action"], overwritten["image_id"]) == ("overwritten", first["image_id"])
    content = server.client.get(f"/v1/images/{first['image_id']}/content")
    assert content.content == smaller

    server.put_collection(c, {"policy": {"exact": "hold"}})
    held = server.decision(c, resized_jpeg(photo("n01443537_goldfish"), scale=0.4))
    assert (held["action"], held["image_id"]) == ("held", None)


def test_collection_settings_are_validated(api: Server) -> None:
    c = new_collection(api)
    view = api.client.get(f"/v1/collections/{c}").json()
    assert set(view["policy"].items()) == {
        ("exact", "reject"),
        ("near", "link"),
        ("unique", "accept"),
    }

    r = api.client.put(f"/v1/collections/{c}", json={"thresholds": {"exact": 0.8, "near": 0.9}})
    assert r.status_code == 422 and "must not be above" in r.json()["detail"]
    r = api.client.put(f"/v1/collections/{c}", json={"policy": {"near": "explode"}})
    assert r.status_code == 422 and "actions are" in r.json()["detail"]


def test_check_matches_without_committing(server: Server) -> None:
    c = new_collection(server)
    first = server.decision(c, photo("n01531178_goldfinch").read_bytes())
    copy = resized_jpeg(photo("n01531178_goldfinch"), scale=0.7)

    r = server.client.post(f"/v1/collections/{c}/check", files={"file": ("x.jpg", copy)})

    assert r.status_code == 200, r.text
    assert r.json()["tier"] == "exact"
    assert r.json()["matches"][0]["image_id"] == first["image_id"]
    # Nothing was committed: the same copy is still only a match, and the upload flow agrees.
    assert server.decision(c, copy)["action"] == "rejected"


def test_idempotency_key_returns_the_same_upload(api: Server) -> None:
    c = new_collection(api)
    content = photo("n01532829_house_finch").read_bytes()
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    files = {"file": ("a.jpg", content)}
    first = api.client.post(f"/v1/collections/{c}/images", files=files, headers=headers)
    again = api.client.post(f"/v1/collections/{c}/images", files=files, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["upload_id"] == again.json()["upload_id"]
    assert first.headers["location"] == f"/v1/uploads/{first.json()['upload_id']}"

    other = api.client.post(
        f"/v1/collections/{c}/images",
        files={"file": ("b.jpg", resized_jpeg(photo("n01532829")))},
        headers=headers,
    )
    assert other.status_code == 409


def test_read_and_delete_an_image(server: Server) -> None:
    c = new_collection(server)
    content = photo("n01534433_junco").read_bytes()
    first = server.decision(c, content, external_id="junco", labels='["bird", "snow"]')
    image_id = first["image_id"]

    meta = server.client.get(f"/v1/images/{image_id}").json()
    assert (meta["external_id"], meta["labels"], meta["collection"]) == (
        "junco",
        ["bird", "snow"],
        c,
    )
    assert server.client.get(f"/v1/images/{image_id}/content").content == content

    assert server.client.delete(f"/v1/images/{image_id}").status_code == 204
    assert server.client.get(f"/v1/images/{image_id}").status_code == 404
    # Gone from the index too: the same picture is unique again.
    assert server.decision(c, content)["action"] == "accepted"


def test_every_endpoint_needs_a_key(api: Server) -> None:
    r = api.client.get("/v1/collections/anything", headers={"Authorization": ""})
    assert r.status_code == 401 and "dupgate keys create" in r.json()["detail"]
    r = api.client.get("/v1/collections/anything", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


@pytest.mark.parametrize("wait", [0, 5])
def test_unknown_upload_is_404(api: Server, wait: int) -> None:
    r = api.client.get(f"/v1/uploads/{uuid.uuid4()}", params={"wait": wait})
    assert r.status_code == 404


def test_the_openapi_document_shows_the_upload_form(api: Server) -> None:
    spec = api.client.get("/openapi.json").json()
    body = spec["paths"]["/v1/collections/{collection}/images"]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
    assert set(schema["properties"]) == {"file", "external_id", "labels"}


def test_the_same_idempotency_key_sent_twice_at_once_makes_one_upload(api: Server) -> None:
    c = new_collection(api)
    content = photo("n01537544_indigo_bunting").read_bytes()
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}

    def post(_: int) -> httpx.Response:
        return api.client.post(
            f"/v1/collections/{c}/images", files={"file": ("a.jpg", content)}, headers=headers
        )

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, range(6)))
    assert [r.status_code for r in responses] == [202] * 6
    assert len({r.json()["upload_id"] for r in responses}) == 1
