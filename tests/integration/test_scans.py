"""Scans of a stored collection through HTTP, against a running `dupgate serve`: groups of real
photos and their copies, and of videos (the shared clips, copies made with PyAV), filters, a
single image's duplicates, the report, and resolving."""

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
from tests.videos import clip, logo, transcode, video_decision

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
    """Each group (of images or of videos) as (keeper, members), by the catalog's names."""
    name_of = {image_id: name for name, image_id in catalog.ids.items()}
    r = catalog.server.client.get(f"/v1/scans/{scan_id}/groups")
    assert r.status_code == 200, r.text
    found = []
    for g in r.json()["items"]:
        media = g["media"]
        found.append(
            (
                name_of[g["keeper"][f"{media}_id"]],
                {name_of[m[f"{media}_id"]] for m in g[f"{media}s"]},
            )
        )
    return found


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


CHAIR = "chair-orig-22-sd-bar"


@pytest.fixture(scope="module")
def chair() -> bytes:
    """The first 5 seconds of the chair clip, at half size."""
    return transcode(clip(CHAIR), seconds=5)


@pytest.fixture(scope="module")
def smaller_chair() -> bytes:
    """The same 5 seconds re-encoded smaller and worse: an exact copy a looser policy kept."""
    return transcode(clip(CHAIR), seconds=5, scale=0.35, crf=34)


def upload_media(server: Server, files: list[tuple[str, str, bytes, str]]) -> Catalog:
    """A new collection that commits every copy, and these (name, "image" or "video", bytes,
    labels) uploaded in order with external id "sku-<name>"."""
    admin = server.as_tenant()
    c = f"scan-{uuid.uuid4().hex[:8]}"
    admin.put_collection(c, KEEP_EVERYTHING)
    ids = {}
    for name, media, content, labels in files:
        fields = {"external_id": f"sku-{name}", "labels": labels}
        if media == "video":
            decision = video_decision(admin, c, content, **fields)
        else:
            decision = admin.decision(c, content, **fields)
        assert decision["action"] == "accepted", (name, decision)
        ids[name] = decision[f"{media}_id"]
    return Catalog(admin, c, ids, "")


@pytest.fixture(scope="module")
def mixed(server: Server, chair: bytes, smaller_chair: bytes) -> Catalog:
    """Two photos that are copies, the chair video and its smaller copy, and another video."""
    return upload_media(
        server,
        [
            ("tench", "image", photo("n01440764_tench").read_bytes(), '["fish"]'),
            ("tench-small", "image", resized_jpeg(photo("n01440764_tench"), 0.5), '["fish"]'),
            ("chair", "video", chair, '["chair"]'),
            ("chair-small", "video", smaller_chair, '["chair", "copy"]'),
            ("door", "video", transcode(clip("doorknob-hd-no-bar"), seconds=4), '["door"]'),
        ],
    )


def test_a_scan_groups_videos_among_themselves_beside_the_images(mixed: Catalog) -> None:
    done = scan(mixed)

    assert done["progress"] == {"done": 5, "total": 5}
    assert groups_by_name(mixed, done["scan_id"]) == [
        ("tench", {"tench", "tench-small"}),
        ("chair", {"chair", "chair-small"}),
    ]
    images, videos = mixed.server.client.get(f"/v1/scans/{done['scan_id']}/groups").json()["items"]
    assert images["media"] == "image" and "videos" not in images
    assert (videos["media"], videos["images"]) == ("video", [])
    # Both last as long: the keeper is the larger picture.
    assert videos["keeper"]["rule"].startswith("largest: ")
    copy = videos["videos"][1]
    assert (copy["external_id"], copy["tier"], copy["exists"]) == ("sku-chair-small", "exact", True)
    assert copy["duration"] == pytest.approx(5, abs=0.2)
    [pair] = videos["pairs"]
    assert {pair["a"], pair["b"]} == {mixed.ids["chair"], mixed.ids["chair-small"]}
    assert pair["relation"] == "same" and pair["offset_seconds"] == pytest.approx(0, abs=0.5)
    assert pair["a_coverage"] >= 0.9 and pair["b_coverage"] >= 0.9
    events = mixed.server.client.get("/v1/events", params={"collection": mixed.collection})
    [finished] = [
        e["data"]
        for e in events.json()["items"]
        if e["type"] == "scan.finished" and e["data"]["scan_id"] == done["scan_id"]
    ]
    assert (finished["images"], finished["videos"], finished["groups"]) == (2, 3, 2)
    assert finished["video_groups"] == 1


@pytest.mark.parametrize(
    ("filters", "expected", "total"),
    [
        ({"labels": ["chair"]}, [("chair", {"chair", "chair-small"})], 2),
        ({"exclude_labels": ["copy"]}, [("tench", {"tench", "tench-small"})], 4),
        ({"external_id_prefix": "sku-t"}, [("tench", {"tench", "tench-small"})], 2),
        ({"labels": ["door", "fish"]}, [("tench", {"tench", "tench-small"})], 3),
    ],
)
def test_filters_apply_to_videos_too(
    mixed: Catalog, filters: dict[str, Any], expected: list[tuple[str, set[str]]], total: int
) -> None:
    done = scan(mixed, filters=filters)
    assert done["progress"]["total"] == total
    assert groups_by_name(mixed, done["scan_id"]) == expected


def test_the_report_shows_a_video_group_with_its_facts_and_first_frames(
    mixed: Catalog,
) -> None:
    done = scan(mixed)
    html = mixed.server.client.get(f"/v1/scans/{done['scan_id']}/report.html").text
    assert html.count('class="group"') == 1 and html.count('class="group videos"') == 1
    assert "Group 2: 2 videos" in html and "external id sku-chair-small" in html
    # Thumbnails of the two photos, and of each video's first kept frame, marked with its length.
    assert html.count("data:image/jpeg;base64,") == 4
    assert html.count('<div class="still">') == 2 and "&#9654; 5.0 s" in html


def test_resolving_a_group_of_videos_deletes_or_links_the_copies(
    server: Server, chair: bytes, smaller_chair: bytes
) -> None:
    with_logo = transcode(clip(CHAIR), seconds=5, edit=logo)
    catalog = upload_media(
        server,
        [
            ("chair", "video", chair, "[]"),
            ("chair-small", "video", smaller_chair, "[]"),
            ("chair-logo", "video", with_logo, "[]"),
        ],
    )
    client, ids = catalog.server.client, catalog.ids
    # Said not a duplicate of either: the logo copy stays out of the group.
    for other in ("chair", "chair-small"):
        r = client.post("/v1/not-duplicates", json={"video_ids": [ids[other], ids["chair-logo"]]})
        assert r.status_code == 201, r.text
    done = scan(catalog)
    assert groups_by_name(catalog, done["scan_id"]) == [("chair", {"chair", "chair-small"})]

    url = f"/v1/scans/{done['scan_id']}/groups/1/resolve"
    deleted = client.post(url, json={"keep": ids["chair"], "action": "delete"})

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["videos"] == [{"video_id": ids["chair-small"], "result": "deleted"}]
    assert client.get(f"/v1/videos/{ids['chair-small']}").status_code == 404
    assert client.get(f"/v1/videos/{ids['chair']}").status_code == 200

    # The same copy committed again: the next scan groups it, and linking makes it a link record.
    again = video_decision(catalog.server, catalog.collection, smaller_chair)
    ids["chair-again"] = again["video_id"]
    done = scan(catalog)
    assert groups_by_name(catalog, done["scan_id"]) == [("chair", {"chair", "chair-again"})]
    linked = client.post(
        f"/v1/scans/{done['scan_id']}/groups/1/resolve",
        json={"keep": ids["chair"], "action": "link"},
    )
    assert linked.json()["videos"] == [{"video_id": ids["chair-again"], "result": "linked"}]
    view = client.get(f"/v1/videos/{ids['chair-again']}").json()
    assert view["linked_to"] == ids["chair"]
    assert view["content_url"] == f"/v1/videos/{ids['chair']}/content"
    assert scan(catalog)["groups"] == 0
    events = client.get("/v1/events", params={"collection": catalog.collection}).json()["items"]
    done_to = {(e["type"], e["data"]["video_id"]) for e in events if e["type"].startswith("video.")}
    assert done_to == {("video.deleted", ids["chair-small"]), ("video.linked", ids["chair-again"])}
