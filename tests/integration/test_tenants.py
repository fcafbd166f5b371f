"""Tenants and scoped keys, through HTTP against a running `dupgate serve`; what needs no
worker runs on the app in this process (`api`)."""

import uuid

from tests.conftest import photo
from tests.images import resized_jpeg
from tests.servers import Server


def name() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def test_an_upload_key_can_upload_and_read_its_uploads_but_gets_403_on_admin_endpoints(
    server: Server,
) -> None:
    admin = server.as_tenant()
    tenant = admin.client.get("/v1/collections").json()  # warm up: the tenant has none yet
    assert tenant == {"items": [], "next_cursor": None}
    c = name()
    admin.put_collection(c)
    me = admin.client.get("/v1/keys").json()["items"][0]
    _, upload_key = server.new_key(me["tenant"], "upload")
    uploader = admin.with_key(upload_key)

    decision = uploader.decision(c, photo("n01440764_tench").read_bytes())
    assert decision["action"] == "accepted"
    image_id = decision["image_id"]

    forbidden = [
        ("PUT", f"/v1/collections/{c}", {}),
        ("PUT", f"/v1/collections/{name()}", {}),
        ("GET", f"/v1/collections/{c}/review", None),
        ("DELETE", f"/v1/images/{image_id}", None),
        ("POST", f"/v1/images/{image_id}/block", {"reason": "no"}),
        ("GET", f"/v1/collections/{c}/blocklist", None),
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", {"scopes": ["admin"]}),
        ("GET", "/v1/webhooks", None),
        ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/", "secret": "s" * 20}),
        # Reading what is not its own upload needs `read`.
        ("GET", f"/v1/images/{image_id}", None),
        ("GET", "/v1/events", None),
    ]
    for method, path, body in forbidden:
        r = uploader.client.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["code"] == "forbidden" and "scope" in r.json()["detail"]

    # Another key's upload is not its to read; a read key reads both.
    other = admin.upload(c, photo("n01443537_goldfish").read_bytes())
    assert uploader.client.get(f"/v1/uploads/{other}").status_code == 403
    _, read_key = server.new_key(me["tenant"], "read")
    reader = admin.with_key(read_key)
    assert reader.client.get(f"/v1/images/{image_id}").status_code == 200
    assert reader.client.put(f"/v1/collections/{c}", json={}).status_code == 403


def test_tenant_b_never_sees_or_matches_tenant_a_images(server: Server) -> None:
    a, b = server.as_tenant(), server.as_tenant()
    ca, cb = name(), name()
    a.put_collection(ca)
    b.put_collection(cb)
    content = photo("n01518878_ostrich").read_bytes()
    first = a.decision(ca, content, external_id="a-secret-sku")

    # The same photo, and a copy of it, are new to tenant B.
    assert b.decision(cb, content)["action"] == "accepted"
    check = b.client.post(
        f"/v1/collections/{cb}/check", files={"file": ("x.jpg", resized_jpeg(photo("n01518878")))}
    ).json()
    assert all(m["collection"] == cb for m in check["matches"])
    assert "a-secret-sku" not in str(check)

    # Nothing of A is visible to B, not even whether it exists.
    for path in (
        f"/v1/images/{first['image_id']}",
        f"/v1/images/{first['image_id']}/content",
        f"/v1/uploads/{first['image_id']}",
        f"/v1/collections/{ca}",
        f"/v1/collections/{ca}/policies",
    ):
        assert b.client.get(path).status_code == 404, path
    assert b.client.delete(f"/v1/images/{first['image_id']}").status_code == 404
    assert [c["name"] for c in b.client.get("/v1/collections").json()["items"]] == [cb]
    assert ca not in str(b.client.get("/v1/events").json())
    # B cannot take A's name, nor check its uploads against A's collection.
    taken = b.client.put(f"/v1/collections/{ca}", json={})
    assert (taken.status_code, taken.json()["code"]) == (409, "collection_name_taken")
    r = b.client.put(f"/v1/collections/{cb}", json={"check_against": [ca]})
    assert r.status_code == 422 and "does not exist in tenant" in r.json()["detail"]
    # A still has its image.
    assert a.client.get(f"/v1/images/{first['image_id']}").status_code == 200


def test_a_collection_can_also_be_checked_against_another_of_its_tenant(server: Server) -> None:
    t = server.as_tenant()
    banned, shop = name(), name()
    t.put_collection(banned)
    t.put_collection(shop, {"check_against": [banned], "policy": {"near": "reject"}})
    original = t.decision(banned, photo("n01530575_brambling").read_bytes())

    copy = t.decision(shop, resized_jpeg(photo("n01530575_brambling"), scale=0.5))

    assert copy["action"] == "rejected"
    assert copy["matches"][0]["image_id"] == original["image_id"]
    assert copy["matches"][0]["collection"] == banned


def test_keys_are_shown_once_listed_without_secrets_and_revoked(api: Server) -> None:
    admin = api.as_tenant()
    tenant = admin.client.get("/v1/keys").json()["items"][0]["tenant"]
    r = admin.client.post("/v1/keys", json={"scopes": ["read"], "name": "dashboard"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["key"].startswith("dg_") and created["tenant"] == tenant

    listed = admin.client.get("/v1/keys").json()["items"]
    assert created["id"] in {k["id"] for k in listed}
    assert created["key"] not in str(listed)
    assert {k["tenant"] for k in listed} == {tenant}

    # A tenant admin makes keys for its own tenant only.
    r = admin.client.post("/v1/keys", json={"tenant": "someone-else", "scopes": ["admin"]})
    assert r.status_code == 403
    r = admin.client.post("/v1/keys", json={"scopes": ["root"]})
    assert r.status_code == 422 and "upload, read, admin" in r.json()["detail"]

    reader = admin.with_key(created["key"])
    assert reader.client.get("/v1/collections").status_code == 200
    assert admin.client.delete(f"/v1/keys/{created['id']}").status_code == 204
    assert reader.client.get("/v1/collections").status_code == 401
