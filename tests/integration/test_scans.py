"""Scans of a stored collection through HTTP, against a running `dupgate serve`: groups of real
photos and their copies, filters, a single image's duplicates, the report, and resolving."""

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.browser import shown_in_browser
from tests.conftest import photo
from tests.images import resized_jpeg, with_caption
from tests.servers import Server

# Commit every copy: the scan is what finds them.
KEEP_EVERYTHING = {"policy": {"exact": "accept", "near": "accept"}}


@dataclass
class Catalog:
    """A collection of 4 distinct photos and 3 copies, uploaded with labels and external ids."""

    server: Server
    collection: str
    ids: dict[str, str]  # name -> image id
    between: str  # a time after the first four uploads and before the rest


def upload_catalog(server: Server) -> Catalog:
    admin = server.as_tenant()
    c = f"scan-{uuid.uuid4().hex[:8]}"
    admin.put_collection(c, KEEP_EVERYTHING)
    files: list[tuple[str, bytes, str]] = [
        ("tench", photo("n01440764_tench").read_bytes(), '["fish"]'),
        ("ostrich", photo("n01518878_ostrich").read_bytes(), '["bird"]'),
        ("junco", photo("n01534433_junco").read_bytes(), '["bird"]'),
        ("eagle", photo("n01614925_bald_eagle").read_bytes(), '["bird"]'),
        ("tench-small", resized_jpeg(photo("n01440764_tench"), scale=0.5), '["fish"]'),
        ("tench-sale", with_caption(photo("n01440764_tench")), '["fish", "promo"]'),
        ("ostrich-small", resized_jpeg(photo("n01518878_ostrich"), scale=0.6), '["bird"]'),
    ]
    ids: dict[str, str] = {}
    between = ""
    for name, content, labels in files:
        if name == "tench-small":
            time.sleep(0.1)
            between = datetime.now(UTC).isoformat()
            time.sleep(0.1)
        decision = admin.decision(c, content, external_id=f"sku-{name}", labels=labels)
        assert decision["action"] == "accepted", (name, decision)
        ids[name] = decision["image_id"]
    return Catalog(admin, c, ids, between)


@pytest.fixture(scope="module")
def catalog(server: Server) -> Catalog:
    return upload_catalog(server)


def scan(catalog: Catalog, **body: Any) -> dict[str, Any]:
    """Start a full scan and wait for it; returns its finished view."""
    admin = catalog.server
    r = admin.client.post(f"/v1/collections/{catalog.collection}/scans", json=body)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/scans/{r.json()['scan_id']}"
    deadline = time.monotonic() + 120
    while True:
        view = admin.client.get(r.headers["location"]).json()
        if view["status"] in ("done", "failed"):
            assert view["status"] == "done", view
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.2)


def groups_by_name(catalog: Catalog, scan_id: str) -> list[tuple[str, set[str]]]:
    """Each group as (keeper, members), by the catalog's names."""
    name_of = {image_id: name for name, image_id in catalog.ids.items()}
    r = catalog.server.client.get(f"/v1/scans/{scan_id}/groups")
    assert r.status_code == 200, r.text
    return [
        (
            name_of[g["keeper"]["image_id"]],
            {name_of[i["image_id"]] for i in g["images"]},
        )
        for g in r.json()["items"]
    ]


def test_a_full_scan_groups_copies_with_their_original_and_leaves_distinct_photos_alone(
    catalog: Catalog,
) -> None:
    done = scan(catalog)

    assert done["progress"] == {"done": 7, "total": 7}
    assert done["groups"] == 2
    assert groups_by_name(catalog, done["scan_id"]) == [
        ("tench", {"tench", "tench-small", "tench-sale"}),
        ("ostrich", {"ostrich", "ostrich-small"}),
    ]
    group = catalog.server.client.get(f"/v1/scans/{done['scan_id']}/groups").json()["items"][0]
    # The caption copy has the original's size: the keeper is the less compressed of the two.
    assert group["keeper"]["rule"].startswith("least compressed")
    tiers = {i["external_id"]: i["tier"] for i in group["images"]}
    assert tiers["sku-tench-small"] == "exact" and tiers["sku-tench-sale"] == "near"
    assert all(p["score"] >= done["threshold"] for p in group["pairs"])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"labels": ["fish"]}, [("tench", {"tench", "tench-small", "tench-sale"})]),
        ({"labels": ["fish"], "exclude_labels": ["promo"]}, [("tench", {"tench", "tench-small"})]),
        ({"external_id_prefix": "sku-ostrich"}, [("ostrich", {"ostrich", "ostrich-small"})]),
    ],
)
def test_filters_restrict_the_scan(
    catalog: Catalog, filters: dict[str, Any], expected: list[tuple[str, set[str]]]
) -> None:
    done = scan(catalog, filters=filters)
    assert groups_by_name(catalog, done["scan_id"]) == expected


def test_a_time_range_restricts_the_scan_too(catalog: Catalog) -> None:
    # The four originals came first, and no two of them are duplicates; the three copies came
    # after, and two of them are copies of the same photo.
    before = scan(catalog, filters={"created_before": catalog.between})
    after = scan(catalog, filters={"created_after": catalog.between})
    assert (before["progress"]["total"], before["groups"]) == (4, 0)
    assert after["progress"]["total"] == 3
    assert [members for _, members in groups_by_name(catalog, after["scan_id"])] == [
        {"tench-small", "tench-sale"}
    ]


def test_a_single_scan_lists_one_images_duplicates_from_stored_features(
    catalog: Catalog,
) -> None:
    client, ids = catalog.server.client, catalog.ids
    r = client.get(f"/v1/images/{ids['tench']}/duplicates")
    assert r.status_code == 200, r.text
    found = {m["external_id"]: m["tier"] for m in r.json()["duplicates"]}
    assert found == {"sku-tench-small": "exact", "sku-tench-sale": "near"}

    strict = client.get(f"/v1/images/{ids['tench']}/duplicates", params={"threshold": 0.95})
    assert [m["external_id"] for m in strict.json()["duplicates"]] == ["sku-tench-small"]
    promo = client.get(
        f"/v1/images/{ids['tench-small']}/duplicates", params={"exclude_labels": "promo"}
    )
    assert [m["external_id"] for m in promo.json()["duplicates"]] == ["sku-tench"]
    alone = client.get(f"/v1/images/{ids['junco']}/duplicates").json()["duplicates"]
    assert alone == []


def test_the_report_shows_every_group_with_its_thumbnails(catalog: Catalog) -> None:
    done = scan(catalog)
    r = catalog.server.client.get(f"/v1/scans/{done['scan_id']}/report.html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert html.count('class="group"') == 2
    assert html.count("data:image/jpeg;base64,") == 5
    assert html.count('<figure class="keeper">') == 2
    assert "external id sku-tench-sale" in html and "<script" not in html


def test_the_report_opens_offline_in_chromium(
    catalog: Catalog, browser: object, tmp_path: Path
) -> None:
    done = scan(catalog)
    page = tmp_path / "report.html"
    page.write_bytes(catalog.server.client.get(f"/v1/scans/{done['scan_id']}/report.html").content)

    seen = shown_in_browser(browser, page)

    assert (seen["groups"], seen["images"], seen["loaded"], seen["keepers"]) == (2, 5, 5, 2)
    grouped = ("tench", "tench-small", "tench-sale", "ostrich", "ostrich-small")
    assert sorted(seen["labels"]) == sorted(catalog.ids[name] for name in grouped)


def test_a_scan_of_another_tenant_is_not_found_and_bad_scans_are_refused(
    catalog: Catalog, server: Server
) -> None:
    done = scan(catalog)
    stranger = server.as_tenant()
    for path in (f"/v1/scans/{done['scan_id']}", f"/v1/scans/{done['scan_id']}/groups"):
        assert stranger.client.get(path).status_code == 404
    post = stranger.client.post(f"/v1/collections/{catalog.collection}/scans", json={})
    assert post.status_code == 404
    for body, message in (
        ({"threshold": 1.5}, "threshold"),
        ({"filters": {"colour": "red"}}, "unknown filter"),
        ({"filters": {"created_after": "yesterday"}}, "ISO 8601"),
    ):
        r = catalog.server.client.post(f"/v1/collections/{catalog.collection}/scans", json=body)
        assert r.status_code == 422 and message in r.json()["detail"], r.text


def test_resolving_groups_links_or_deletes_the_rest_through_the_commit_path(
    server: Server,
) -> None:
    catalog = upload_catalog(server)
    client, ids = catalog.server.client, catalog.ids
    done = scan(catalog)
    url = f"/v1/scans/{done['scan_id']}/groups"

    linked = client.post(f"{url}/1/resolve", json={"keep": ids["tench"], "action": "link"})
    deleted = client.post(f"{url}/2/resolve", json={"keep": ids["ostrich"], "action": "delete"})

    assert linked.status_code == 200, linked.text
    assert {r["result"] for r in linked.json()["images"]} == {"linked"}
    for name in ("tench-small", "tench-sale"):
        image = client.get(f"/v1/images/{ids[name]}").json()
        assert image["linked_to"] == ids["tench"]
        assert image["content_url"] == f"/v1/images/{ids['tench']}/content"
    assert deleted.json()["images"] == [{"image_id": ids["ostrich-small"], "result": "deleted"}]
    assert client.get(f"/v1/images/{ids['ostrich-small']}").status_code == 404

    again = client.post(f"{url}/1/resolve", json={"keep": ids["tench"], "action": "link"})
    assert again.status_code == 409
    stranger = client.post(f"{url}/2/resolve", json={"keep": ids["junco"], "action": "link"})
    assert stranger.status_code in (409, 422)
    # The next scan finds nothing left to do, and the trail has what was done and by whom.
    assert scan(catalog)["groups"] == 0
    events = client.get("/v1/events", params={"collection": catalog.collection}).json()["items"]
    done_to = {(e["type"], e["data"]["image_id"]) for e in events if e["type"].startswith("image.")}
    assert done_to == {
        ("image.linked", ids["tench-small"]),
        ("image.linked", ids["tench-sale"]),
        ("image.deleted", ids["ostrich-small"]),
    }


def test_not_a_duplicate_keeps_two_pictures_out_of_one_group(server: Server) -> None:
    catalog = upload_catalog(server)
    client, ids = catalog.server.client, catalog.ids
    for other in ("tench", "tench-small"):
        r = client.post("/v1/not-duplicates", json={"image_ids": [ids[other], ids["tench-sale"]]})
        assert r.status_code == 201, r.text

    groups = groups_by_name(catalog, scan(catalog)["scan_id"])

    # Two groups of two: their order is the keepers' ids, which are random.
    assert sorted(groups) == [
        ("ostrich", {"ostrich", "ostrich-small"}),
        ("tench", {"tench", "tench-small"}),
    ]
    duplicates = client.get(f"/v1/images/{ids['tench']}/duplicates").json()["duplicates"]
    assert [m["external_id"] for m in duplicates] == ["sku-tench-small"]


def test_the_report_shows_stored_previews_and_has_missing_ones_made_by_a_worker(
    catalog: Catalog,
) -> None:
    # Images analysed before previews existed have none: the page does not decode them, a
    # worker makes their previews, and the next load of the page shows them.
    done = scan(catalog)
    blobs = catalog.server.blobs()
    for image_id in catalog.ids.values():
        sha256 = catalog.server.client.get(f"/v1/images/{image_id}").json()["sha256"]
        assert blobs.exists(f"previews/{sha256}.jpg")  # made when the image was analysed
        blobs.delete(f"previews/{sha256}.jpg")
    page = f"/v1/scans/{done['scan_id']}/report.html"

    first = catalog.server.client.get(page).text
    assert first.count("data:image/jpeg;base64,") == 0
    assert first.count("no preview") == 5

    deadline = time.monotonic() + 60
    while catalog.server.client.get(page).text.count("data:image/jpeg;base64,") < 5:
        assert time.monotonic() < deadline, "the missing previews were never made"
        time.sleep(0.5)
