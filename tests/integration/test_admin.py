"""Admin work through HTTP: policy versions, the review queue, "not a duplicate", the blocklist
and the audit trail, against a running `dupgate serve` (real Redis, real workers); what needs
no worker runs on the app in this process (`api`)."""

import io
import uuid

from tests.conftest import photo
from tests.images import resized_jpeg, with_caption
from tests.servers import Server


def new_collection(server: Server, body: dict | None = None) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    server.put_collection(name, body)
    return name


def key_id_of(server: Server) -> str:
    return str(server.client.get("/v1/keys").json()["items"][0]["id"])


def test_a_policy_change_applies_to_the_next_upload_and_the_decision_names_its_version(
    server: Server,
) -> None:
    admin = server.as_tenant()
    c = new_collection(admin)
    assert admin.client.get(f"/v1/collections/{c}").json()["policy_version"] == 1
    admin.decision(c, photo("n01440764_tench").read_bytes())
    before = admin.decision(c, resized_jpeg(photo("n01440764_tench"), scale=0.5))
    assert (before["action"], before["policy_version"]) == ("rejected", 1)

    changed = admin.put_collection(c, {"policy": {"exact": "hold"}, "thresholds": {"near": 0.5}})
    after = admin.decision(c, resized_jpeg(photo("n01440764_tench"), scale=0.4))

    assert changed["policy_version"] == 2
    assert (after["action"], after["policy_version"]) == ("held", 2)
    # The same body again changes nothing and makes no version.
    assert admin.put_collection(c, {"policy": {"exact": "hold"}})["policy_version"] == 2
    versions = admin.client.get(f"/v1/collections/{c}/policies").json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["policy"]["exact"] == "hold" and versions[1]["policy"]["exact"] == "reject"
    assert versions[0]["thresholds"]["near"] == 0.5
    assert {v["actor"] for v in versions} == {key_id_of(admin)}


def test_a_near_threshold_above_the_exact_one_is_a_422_with_a_clear_message(
    api: Server,
) -> None:
    c = new_collection(api)
    r = api.client.put(f"/v1/collections/{c}", json={"thresholds": {"near": 0.97}})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "thresholds.near (0.97) must not be above thresholds.exact (0.95): "
        "an exact duplicate is also a near one"
    )


def test_a_held_upload_waits_for_review_and_completes_through_it(server: Server) -> None:
    admin = server.as_tenant()
    c = new_collection(admin, {"policy": {"near": "hold"}})
    original = admin.decision(c, photo("n01518878_ostrich").read_bytes(), external_id="ostrich")
    captioned = with_caption(photo("n01518878_ostrich"))
    held_id = admin.upload(c, captioned)
    held = admin.decided(held_id)["decision"]
    assert (held["action"], held["tier"], held["image_id"]) == ("held", "near", None)

    queue = admin.client.get(f"/v1/collections/{c}/review").json()["items"]
    assert [u["upload_id"] for u in queue] == [held_id]
    assert queue[0]["decision"]["matches"][0]["image_id"] == original["image_id"]
    assert admin.client.get(queue[0]["content_url"]).content == captioned

    r = admin.client.post(f"/v1/uploads/{held_id}/review", json={"action": "link"})
    assert r.status_code == 200, r.text
    done = r.json()["decision"]
    assert done["action"] == "linked" and done["reviewed_by"] == key_id_of(admin)
    linked = admin.client.get(f"/v1/images/{done['image_id']}").json()
    assert linked["linked_to"] == original["image_id"]
    # The queue is empty, a second review is refused, and the poller sees the final decision.
    assert admin.client.get(f"/v1/collections/{c}/review").json()["items"] == []
    again = admin.client.post(f"/v1/uploads/{held_id}/review", json={"action": "accept"})
    assert again.status_code == 409 and "not waiting for review" in again.json()["detail"]
    assert admin.decided(held_id)["decision"]["action"] == "linked"


def test_a_held_upload_can_be_accepted_rejected_or_overwrite_its_match(server: Server) -> None:
    admin = server.as_tenant()
    c = new_collection(admin, {"policy": {"exact": "hold", "near": "hold"}})
    original = admin.decision(c, photo("n01443537_goldfish").read_bytes())
    smaller = resized_jpeg(photo("n01443537_goldfish"), scale=0.5)
    rejected_id, overwrite_id = (
        admin.upload(c, smaller),
        admin.upload(c, with_caption(photo("n01443537"))),
    )
    for upload_id in (rejected_id, overwrite_id):
        assert admin.decided(upload_id)["decision"]["action"] == "held"

    r = admin.client.post(f"/v1/uploads/{rejected_id}/review", json={"action": "reject"})
    assert r.json()["decision"]["action"] == "rejected"
    assert admin.client.get(f"/v1/uploads/{rejected_id}/content").status_code == 404

    r = admin.client.post(
        f"/v1/uploads/{overwrite_id}/review",
        json={"action": "overwrite", "image_id": original["image_id"]},
    )
    assert r.json()["decision"]["image_id"] == original["image_id"]
    content = admin.client.get(f"/v1/images/{original['image_id']}/content").content
    assert content == with_caption(photo("n01443537"))

    bad = admin.client.post(f"/v1/uploads/{rejected_id}/review", json={"action": "explode"})
    assert bad.status_code in (409, 422)


def test_not_a_duplicate_sticks_for_those_two_pictures(server: Server) -> None:
    admin = server.as_tenant()
    first, second = new_collection(admin, {"policy": {"near": "hold"}}), new_collection(admin)
    picture = photo("n01531178_goldfinch").read_bytes()
    captioned = with_caption(photo("n01531178_goldfinch"), "NOT THE SAME BIRD")
    admin.decision(first, picture)
    held_id = admin.upload(first, captioned)
    assert admin.decided(held_id)["decision"]["action"] == "held"

    r = admin.client.post(
        f"/v1/uploads/{held_id}/review", json={"action": "accept", "not_duplicate": True}
    )
    assert r.json()["decision"]["action"] == "accepted"

    # The same two pictures meet again in another collection of the tenant: not flagged.
    admin.decision(second, picture)
    again = admin.decision(second, captioned)
    assert (again["action"], again["matches"]) == ("accepted", [])
    # Other copies of the picture are still duplicates of it.
    resized = admin.decision(second, resized_jpeg(photo("n01531178_goldfinch"), scale=0.5))
    assert resized["action"] == "rejected"


def test_a_blocked_images_copies_are_rejected_after_the_image_is_deleted(server: Server) -> None:
    admin = server.as_tenant()
    # The policy would accept every duplicate: the blocklist overrides it.
    c = new_collection(admin, {"policy": {"exact": "accept", "near": "accept"}})
    image = admin.decision(c, photo("n01532829_house_finch").read_bytes())["image_id"]
    r = admin.client.post(f"/v1/images/{image}/block", json={"reason": "taken down: DMCA #42"})
    assert r.status_code == 201, r.text
    block_id = r.json()["block_id"]
    assert admin.client.delete(f"/v1/images/{image}").status_code == 204
    assert admin.client.get(f"/v1/images/{image}").status_code == 404

    exact = admin.decision(c, resized_jpeg(photo("n01532829_house_finch"), scale=0.6))
    near = admin.decision(c, with_caption(photo("n01532829_house_finch")))

    for decision, tier in ((exact, "exact"), (near, "near")):
        assert (decision["action"], decision["tier"]) == ("rejected", tier)
        assert decision["reason"].startswith("blocked: taken down: DMCA #42")
        assert block_id in decision["reason"]
    # Unrelated photos are not affected.
    assert admin.decision(c, photo("n01534433_junco").read_bytes())["action"] == "accepted"

    # Removing the entry lets the policy decide again.
    assert admin.client.delete(f"/v1/collections/{c}/blocklist/{block_id}").status_code == 204
    assert admin.decision(c, with_caption(photo("n01532829"), "AGAIN"))["action"] == "accepted"


def test_a_file_can_be_blocked_without_keeping_it(server: Server) -> None:
    admin = server.as_tenant()
    c = new_collection(admin)
    r = admin.client.post(
        f"/v1/collections/{c}/blocklist",
        files={"file": ("banned.jpg", io.BytesIO(photo("n01537544_indigo_bunting").read_bytes()))},
        data={"reason": "banned by the moderators"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["image_id"] is None and r.json()["filename"] == "banned.jpg"

    copy = admin.decision(c, resized_jpeg(photo("n01537544_indigo_bunting"), scale=0.7))

    assert copy["action"] == "rejected" and "banned by the moderators" in copy["reason"]
    listed = admin.client.get(f"/v1/collections/{c}/blocklist").json()["items"]
    assert [b["reason"] for b in listed] == ["banned by the moderators"]
    no_reason = admin.client.post(
        f"/v1/collections/{c}/blocklist",
        files={"file": ("x.jpg", io.BytesIO(photo("n01558993").read_bytes()))},
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]


def test_the_audit_trail_pages_through_every_decision_change_deletion_and_block(
    server: Server,
) -> None:
    admin = server.as_tenant()
    actor = key_id_of(admin)
    c = new_collection(admin)
    image = admin.decision(c, photo("n01560419_bulbul").read_bytes())["image_id"]
    admin.put_collection(c, {"policy": {"near": "reject"}})
    admin.client.post(f"/v1/images/{image}/block", json={"reason": "spam"})
    admin.client.delete(f"/v1/images/{image}")

    seen: list[dict] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"collection": c, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = admin.client.get("/v1/events", params=params).json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [e["type"] for e in seen] == [
        "collection.created",
        "upload.decided",
        "policy.changed",
        "image.blocked",
        "image.deleted",
    ]
    assert [e["actor"] for e in seen] == [actor, "system", actor, actor, actor]
    assert seen[1]["data"]["decision"]["image_id"] == image
    assert seen[4]["data"]["image_id"] == image
    assert all(e["created_at"].endswith("+00:00") for e in seen)
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
