"""Every list answers one shape, `{"items", "next_cursor"}`, and paging through it with a small
`limit` shows every item once, in the list's order; against a running `dupgate serve`."""

import io
import uuid
from typing import Any

from tests.conftest import photo
from tests.receiver import SECRET
from tests.servers import Server

PHOTOS = ("n01440764_tench", "n01518878_ostrich", "n01534433_junco")


def every_page(server: Server, path: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    """The pages of a list, read with `limit`, following `next_cursor` until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        asked = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = server.client.get(path, params=asked)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}, page
        assert len(page["items"]) <= limit
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not move on"


def assert_pages_through(
    server: Server, path: str, key: str, expected: int | None, limit: int = 2, **params: Any
) -> list[Any]:
    """Page through a list (of `expected` items, if given) `limit` at a time: each item once, in
    the order of the whole list read at once, and no empty page at the end. Returns the items'
    `key`s."""
    whole = server.client.get(path, params=params | {"limit": 1000}).json()
    assert whole["next_cursor"] is None
    ids = [item[key] for item in whole["items"]]
    if expected is not None:
        assert len(ids) == expected, whole
    pages = every_page(server, path, limit, **params)
    assert [item[key] for page in pages for item in page] == ids
    assert len(pages) == max(1, -(-len(ids) // limit))
    return ids


def upload_files(server: Server, collection: str) -> list[str]:
    return [server.upload(collection, photo(name).read_bytes()) for name in PHOTOS]


def test_collections_policies_keys_and_events_page_through_every_item_once(
    server: Server,
) -> None:
    admin = server.as_tenant()
    names = sorted(f"p-{uuid.uuid4().hex[:8]}" for _ in range(5))
    for name in reversed(names):
        admin.put_collection(name)
    assert assert_pages_through(admin, "/v1/collections", "name", 5) == names

    c = names[0]
    for near in (0.5, 0.6, 0.7, 0.8):
        admin.put_collection(c, {"thresholds": {"near": near}})
    assert assert_pages_through(admin, f"/v1/collections/{c}/policies", "version", 5) == [
        5,
        4,
        3,
        2,
        1,
    ]

    tenant = admin.client.get("/v1/keys").json()["items"][0]["tenant"]
    for _ in range(4):
        admin.new_key(tenant, "read")
    assert_pages_through(admin, "/v1/keys", "id", 5, limit=3)

    # In the collection: collection.created and 4 policy.changed. In the tenant: its first key,
    # 5 collections, 4 policy changes and 4 more keys.
    seqs = assert_pages_through(admin, "/v1/events", "seq", 5, collection=c)
    assert seqs == sorted(seqs)
    assert_pages_through(admin, "/v1/events", "seq", 14, limit=4)
    # `after` starts the trail after a seq; the cursor goes on from there.
    later = every_page(admin, "/v1/events", 2, collection=c, after=seqs[1])
    assert [e["seq"] for page in later for e in page] == seqs[2:]


def test_a_cursor_goes_on_after_its_item_whatever_was_added_meanwhile(server: Server) -> None:
    admin = server.as_tenant()
    suffix = uuid.uuid4().hex[:8]
    for name in ("b", "d", "f"):
        admin.put_collection(f"{name}-{suffix}")
    first = admin.client.get("/v1/collections", params={"limit": 2}).json()
    admin.put_collection(f"a-{suffix}")  # before the cursor
    admin.put_collection(f"e-{suffix}")  # after it
    rest = admin.client.get(
        "/v1/collections", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    shown = [c["name"][0] for c in first["items"] + rest["items"]]
    assert shown == ["b", "d", "e", "f"]


def test_a_cursor_no_list_gave_is_a_422(server: Server) -> None:
    for cursor in ("x", "bm9wZQ", "WzEsMiwzXQ", "WyJcdTAwMDAiXQ"):
        for path in ("/v1/collections", "/v1/events", "/v1/keys", "/v1/webhooks"):
            r = server.client.get(path, params={"cursor": cursor})
            assert r.status_code == 422, (path, cursor, r.text)
            assert r.json()["code"] == "invalid_request"
            assert r.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_webhooks_and_their_deliveries_page_through_every_item_once(server: Server) -> None:
    admin = server.as_tenant()
    hooks = []
    for _ in range(3):
        r = admin.client.post(
            "/v1/webhooks",
            # Nothing listens there: the deliveries stay pending, to be listed.
            json={"url": "http://127.0.0.1:9/", "secret": SECRET, "events": ["*"]},
        )
        assert r.status_code == 201, r.text
        hooks.append(r.json()["id"])
    assert assert_pages_through(admin, "/v1/webhooks", "id", 3) == hooks

    c = f"p-{uuid.uuid4().hex[:8]}"
    admin.put_collection(c)
    for near in (0.5, 0.6, 0.7, 0.8):
        admin.put_collection(c, {"thresholds": {"near": near}})
    # The 3 webhooks' creation, the collection's and its 4 changes, newest first.
    path = f"/v1/webhooks/{hooks[0]}/deliveries"
    assert_pages_through(admin, path, "id", 8)
    assert_pages_through(admin, path, "id", 8, limit=3, status="pending")
    for hook in hooks:
        assert admin.client.delete(f"/v1/webhooks/{hook}").status_code == 204


def test_the_review_queue_the_blocklist_and_scans_page_through_every_item_once(
    server: Server,
) -> None:
    admin = server.as_tenant()
    held, blocking = f"p-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    admin.put_collection(held, {"policy": {"unique": "hold"}})
    admin.put_collection(blocking)
    uploads = upload_files(admin, held)
    for upload_id in uploads:
        assert admin.decided(upload_id)["decision"]["action"] == "held"
    assert assert_pages_through(admin, f"/v1/collections/{held}/review", "upload_id", 3) == uploads

    blocks = []
    for name in PHOTOS:
        r = admin.client.post(
            f"/v1/collections/{blocking}/blocklist",
            files={"file": ("x.jpg", io.BytesIO(photo(name).read_bytes()))},
            data={"reason": "not here"},
        )
        assert r.status_code == 201, r.text
        blocks.append(r.json()["block_id"])
    path = f"/v1/collections/{blocking}/blocklist"
    assert assert_pages_through(admin, path, "block_id", 3) == blocks

    scans = []
    for _ in range(3):
        r = admin.client.post(f"/v1/collections/{blocking}/scans", json={})
        assert r.status_code == 202, r.text
        scans.append(r.json()["scan_id"])
    path = f"/v1/collections/{blocking}/scans"
    assert assert_pages_through(admin, path, "scan_id", 3) == scans[::-1]
