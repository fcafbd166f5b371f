"""The admin console driven in a real headless Chromium (Debian's, as the report test does)
against a running `dupgate serve` with real workers: sign in, the review queue with the
verification's evidence drawn, "not a duplicate", a policy preview, resolving a scan group,
CSRF and tenants. The review queue's and a scan's screenshots go to docs/screenshots/."""

import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import photo
from tests.images import resized_jpeg, with_caption
from tests.servers import Server
from tests.videos import clip, transcode, video_decision
from tests.waiting import wait_until

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Admin:
    """A fresh tenant's admin: its API (as the key) and the key, to sign in with."""

    api: Server
    key_id: str
    key: str


def new_admin(server: Server) -> Admin:
    key_id, key = server.new_key(f"t-{uuid.uuid4().hex[:8]}", "admin")
    return Admin(server.with_key(key), key_id, key)


def new_collection(admin: Admin, body: dict | None = None) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    admin.api.put_collection(name, body)
    return name


def by_css(browser: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, selector)


def all_css(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def heading(browser: Any) -> str:
    return str(by_css(browser, "h1").text)


def sign_in(browser: Any, server: Server, key: str) -> None:
    browser.set_window_size(1280, 1000)
    browser.get(f"{server.url}/admin")
    assert heading(browser) == "Sign in"
    by_css(browser, "#key").send_keys(key)
    submit(browser, by_css(browser, "form[action='/admin/login'] button"))
    wait_until(lambda: heading(browser) == "Collections", timeout=10, what="signed in")


def submit(browser: Any, button: Any) -> None:
    """Click a button that submits a form, and wait for the page it leads to."""
    leave_page(browser, button.click)


def leave_page(browser: Any, act: Any) -> None:
    """Do what leads to another page, and wait until that page has loaded: the old page's
    window is marked first, and the new one has no mark. (Watching the old page's elements
    go stale raced Chromium's teardown of its document.)"""
    from selenium.common.exceptions import WebDriverException

    def arrived() -> bool:
        try:
            return bool(
                browser.execute_script(
                    "return window.__leaving === undefined && document.readyState === 'complete'"
                )
            )
        except WebDriverException:  # between two documents
            return False

    browser.execute_script("window.__leaving = true;")
    act()
    wait_until(arrived, timeout=30, what="the next page loaded")


def images_loaded(browser: Any) -> list[bool]:
    return list(
        browser.execute_script(
            "return [...document.images].map(i => i.complete && i.naturalWidth > 0);"
        )
    )


def press(browser: Any, key: str) -> None:
    """Press a key shortcut that leads to another page, and wait for it."""
    from selenium.webdriver.common.action_chains import ActionChains

    leave_page(browser, lambda: ActionChains(browser).send_keys(key).perform())


def test_sign_in_takes_an_admin_key_only_and_sign_out_ends_the_session(
    server: Server, browser: Any
) -> None:
    admin = new_admin(server)
    _, uploader = server.new_key(f"t-{uuid.uuid4().hex[:8]}", "upload", "read")
    browser.get(f"{server.url}/admin/collections")
    assert heading(browser) == "Sign in"  # sent to sign in first

    by_css(browser, "#key").send_keys(uploader)
    submit(browser, by_css(browser, "form[action='/admin/login'] button"))
    assert "admin scope" in by_css(browser, "[role=alert]").text
    by_css(browser, "#key").send_keys("dg_not-a-key")
    submit(browser, by_css(browser, "form[action='/admin/login'] button"))
    assert "not valid" in by_css(browser, "[role=alert]").text

    sign_in(browser, server, admin.key)
    cookie = browser.get_cookie("dupgate_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/admin"
    assert admin.key not in cookie["value"]

    submit(browser, by_css(browser, "header form[action='/admin/logout'] button"))
    assert heading(browser) == "Sign in"
    browser.get(f"{server.url}/admin/collections")
    assert heading(browser) == "Sign in"


def test_a_held_upload_shows_its_match_with_the_evidence_and_not_a_duplicate_sticks(
    server: Server, browser: Any
) -> None:
    admin = new_admin(server)
    first = new_collection(admin, {"policy": {"near": "hold"}})
    second = new_collection(admin, {"policy": {"near": "hold"}})
    picture = photo("n01518878_ostrich").read_bytes()
    captioned = with_caption(photo("n01518878_ostrich"), "NOT THE SAME BIRD")
    original = admin.api.decision(first, picture, external_id="ostrich")
    held_id = admin.api.upload(first, captioned, external_id="ostrich-sale")
    assert admin.api.decided(held_id)["decision"]["action"] == "held"

    sign_in(browser, server, admin.key)
    browser.set_window_size(1280, 1300)  # the whole item, for the screenshot
    browser.get(f"{server.url}/admin/collections/{first}/review")

    assert by_css(browser, "#item").text == "Held upload ostrich-sale"
    match = by_css(browser, ".matches a[aria-current=true]")
    assert "ostrich" in match.text and "near" in match.text
    wait_until(lambda: all(images_loaded(browser)), timeout=10, what="the pictures loaded")
    assert len(images_loaded(browser)) == 2
    drawn = all_css(browser, "svg.evidence")
    assert len(drawn) == 2  # on the upload and on its match
    points = [int(svg.get_attribute("data-points")) for svg in drawn]
    assert points[0] == points[1] >= 12  # the verification's inliers, pair by pair
    assert len(all_css(browser, "svg.evidence circle")) == sum(points)
    assert "Matched keypoints" in by_css(browser, "#why").text
    assert "n not a duplicate" in by_css(browser, "#shortcuts").text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "review-queue.png"))

    press(browser, "n")  # "not a duplicate": accept, and never pair these two again

    wait_until(
        lambda: "not a duplicate" in by_css(browser, "#announce").text, timeout=10, what="done"
    )
    assert by_css(browser, "#item").text == "Nothing to review"
    done = admin.api.client.get(f"/v1/uploads/{held_id}").json()["decision"]
    assert done["action"] == "accepted" and done["reviewed_by"] == admin.key_id
    # The same picture again in the same collection: an exact copy of the upload accepted now,
    # never flagged against the original it was declared not a duplicate of.
    same = admin.api.decision(first, captioned)
    assert (same["action"], same["tier"]) == ("rejected", "exact")
    assert [m["image_id"] for m in same["matches"]] == [done["image_id"]]
    # The same two pictures meet again in another collection with the same policy: not held.
    admin.api.decision(second, picture)
    again = admin.api.decision(second, captioned)
    assert (again["action"], again["matches"]) == ("accepted", [])
    assert original["image_id"] not in {m["image_id"] for m in again["matches"]}


def test_a_threshold_change_shows_its_preview_then_takes_effect(
    server: Server, browser: Any
) -> None:
    admin = new_admin(server)
    c = new_collection(admin)
    admin.api.decision(c, photo("n01440764_tench").read_bytes(), external_id="tench")
    resized = admin.api.decision(
        c, resized_jpeg(photo("n01440764_tench"), scale=0.5), external_id="tench-small"
    )
    assert (resized["action"], resized["tier"]) == ("rejected", "exact")

    sign_in(browser, server, admin.key)
    browser.get(f"{server.url}/admin/collections/{c}/policy")
    exact = by_css(browser, "#exact")
    exact.clear()
    exact.send_keys("1")  # only identical bytes are exact now: a resized copy is near
    submit(browser, by_css(browser, "section[aria-labelledby=change] button"))

    summary = by_css(browser, "#preview-summary").text
    assert summary.startswith("1 of the last 2 decided uploads would have been decided")
    row = by_css(browser, "#preview tbody tr").text
    assert "tench-small" in row and "rejected (exact)" in row and "linked (near)" in row
    # Nothing is saved by a preview.
    assert admin.api.client.get(f"/v1/collections/{c}").json()["policy_version"] == 1
    browser.save_screenshot(str(SCREENSHOTS / "policy-preview.png"))

    submit(browser, by_css(browser, "#preview form button"))

    assert "Saved as policy version 2" in by_css(browser, "[role=status]").text
    history = [r.text for r in all_css(browser, "section[aria-labelledby=history] tbody tr")]
    assert len(history) == 2 and history[0].startswith("2") and admin.key_id in history[0]
    assert "exact threshold 0.95 → 1.00" in history[0] and "created" in history[1]
    again = admin.api.decision(c, resized_jpeg(photo("n01440764_tench"), scale=0.4))
    assert (again["action"], again["tier"], again["policy_version"]) == ("linked", "near", 2)


def test_a_scan_group_is_resolved_from_its_page(server: Server, browser: Any) -> None:
    admin = new_admin(server)
    c = new_collection(admin, {"policy": {"exact": "accept", "near": "accept"}})
    ids = {
        name: admin.api.decision(c, content, external_id=name)["image_id"]
        for name, content in (
            ("tench", photo("n01440764_tench").read_bytes()),
            ("tench-small", resized_jpeg(photo("n01440764_tench"), scale=0.5)),
            ("tench-sale", with_caption(photo("n01440764_tench"))),
            ("junco", photo("n01534433_junco").read_bytes()),
        )
    }

    sign_in(browser, server, admin.key)
    browser.get(f"{server.url}/admin/collections/{c}/scans")
    submit(browser, by_css(browser, "section[aria-labelledby=start] button"))
    wait_until(lambda: all_css(browser, "#summary"), timeout=120, what="the scan finished")

    assert by_css(browser, "#summary").text.startswith("1 group of duplicates among 4 images")
    group = by_css(browser, "section.group")
    assert len(all_css(browser, "section.group figure")) == 3
    keeper = by_css(browser, "section.group figure.keeper")
    assert "Keeper" in keeper.text and "tench" in keeper.text
    wait_until(lambda: all(images_loaded(browser)), timeout=10, what="the thumbnails loaded")
    browser.save_screenshot(str(SCREENSHOTS / "scan.png"))
    kept = by_css(group, "input[name=keep]:checked").get_attribute("value")
    assert kept == ids["tench"]

    submit(browser, by_css(group, "button[value=link]"))

    assert "Group 1 resolved: 2 image(s) linked to" in by_css(browser, "#announce").text
    assert "resolved" in by_css(browser, "section.group h2").text
    for name in ("tench-small", "tench-sale"):
        image = admin.api.client.get(f"/v1/images/{ids[name]}").json()
        assert image["linked_to"] == ids["tench"]


def test_a_group_of_videos_shows_their_length_and_is_resolved_from_its_page(
    server: Server, browser: Any
) -> None:
    admin = new_admin(server)
    c = new_collection(admin, {"policy": {"exact": "accept", "near": "accept"}})
    chair = clip("chair-orig-22-sd-bar")
    ids = {
        name: video_decision(admin.api, c, content, external_id=name)["video_id"]
        for name, content in (
            ("chair", transcode(chair, seconds=4)),
            ("chair-small", transcode(chair, seconds=4, scale=0.35, crf=34)),
        )
    }
    scan_id = admin.api.client.post(f"/v1/collections/{c}/scans", json={}).json()["scan_id"]

    sign_in(browser, server, admin.key)
    browser.get(f"{server.url}/admin/scans/{scan_id}")
    wait_until(lambda: all_css(browser, "#summary"), timeout=120, what="the scan finished")

    group = by_css(browser, "section.group[data-media=video]")
    assert "2 videos" in by_css(group, "h2").text
    # Each video shows its first kept frame (kept at analysis) and its length.
    stills = all_css(group, ".video img")
    assert len(stills) == 2 and all("/preview" in img.get_attribute("src") for img in stills)
    wait_until(lambda: all(images_loaded(browser)), timeout=10, what="the first frames loaded")
    lengths = all_css(group, ".video .length")
    assert len(lengths) == 2 and all("4.0 s" in length.text for length in lengths)
    assert "Keeper" in by_css(group, "figure.keeper").text
    assert by_css(group, "input[name=keep]:checked").get_attribute("value") == ids["chair"]

    submit(browser, by_css(group, "button[value=delete]"))

    assert "Group 1 resolved: 1 video(s) deleted, keeping" in by_css(browser, "#announce").text
    assert admin.api.client.get(f"/v1/videos/{ids['chair-small']}").status_code == 404


def test_a_form_without_the_csrf_token_is_refused_and_does_nothing(
    server: Server, browser: Any
) -> None:
    admin = new_admin(server)
    c = new_collection(admin)
    sign_in(browser, server, admin.key)
    browser.get(f"{server.url}/admin/collections/{c}/policy?near=0.5")
    browser.execute_script("document.querySelector('#preview input[name=csrf]').remove()")

    submit(browser, by_css(browser, "#preview form button"))

    assert heading(browser) == "Refused"
    assert "did not come from the console" in by_css(browser, "[role=alert]").text
    # A forged request with the session's cookie but another token is refused the same way.
    cookie = browser.get_cookie("dupgate_console")["value"]
    with httpx.Client(base_url=server.url, cookies={"dupgate_console": cookie}) as forged:
        form = {"exact": "0.95", "near": "0.5", "exact_action": "reject"}
        form |= {"near_action": "link", "unique_action": "accept", "csrf": "guessed"}
        r = forged.post(f"/admin/collections/{c}/policy", data=form)
    assert r.status_code == 403
    assert admin.api.client.get(f"/v1/collections/{c}").json()["policy_version"] == 1


def test_another_tenants_admin_sees_none_of_it(server: Server, browser: Any) -> None:
    owner, stranger = new_admin(server), new_admin(server)
    c = new_collection(owner, {"policy": {"near": "hold"}})
    owner.api.decision(c, photo("n01534433_junco").read_bytes())
    held_id = owner.api.upload(c, with_caption(photo("n01534433_junco")))
    assert owner.api.decided(held_id)["decision"]["action"] == "held"
    scan_id = owner.api.client.post(f"/v1/collections/{c}/scans", json={}).json()["scan_id"]

    sign_in(browser, server, stranger.key)

    assert c not in by_css(browser, "main").text
    for path in (
        f"/admin/collections/{c}/review",
        f"/admin/collections/{c}/policy",
        f"/admin/collections/{c}/scans",
        f"/admin/scans/{scan_id}",
        f"/admin/collections/{c}/review?at={held_id}",
    ):
        browser.get(f"{server.url}{path}")
        assert heading(browser) == "Not found", path
    # Nor its bytes, nor acting on its upload with the stranger's own valid session.
    browser.get(f"{server.url}/admin/collections")
    cookie = browser.get_cookie("dupgate_console")["value"]
    csrf = by_css(browser, "header input[name=csrf]").get_attribute("value")
    with httpx.Client(base_url=server.url, cookies={"dupgate_console": cookie}) as theirs:
        assert theirs.get(f"/admin/uploads/{held_id}/content").status_code == 404
        r = theirs.post(f"/admin/uploads/{held_id}/review", data={"action": "accept", "csrf": csrf})
        assert r.status_code == 404
    assert owner.api.client.get(f"/v1/uploads/{held_id}").json()["decision"]["action"] == "held"


@pytest.mark.parametrize("width", [390])
def test_the_review_queue_reads_on_a_phone(server: Server, browser: Any, width: int) -> None:
    admin = new_admin(server)
    c = new_collection(admin, {"policy": {"near": "hold"}})
    admin.api.decision(c, photo("n01534433_junco").read_bytes())
    held_id = admin.api.upload(c, with_caption(photo("n01534433_junco")))
    assert admin.api.decided(held_id)["decision"]["action"] == "held"
    sign_in(browser, server, admin.key)
    browser.set_window_size(width, 900)
    browser.get(f"{server.url}/admin/collections/{c}/review")

    scroll_width = browser.execute_script("return document.documentElement.scrollWidth")
    inner_width = browser.execute_script("return window.innerWidth")
    assert scroll_width <= inner_width  # nothing runs off the side
    unlabelled = browser.execute_script(
        """return [...document.querySelectorAll('input:not([type=hidden]), select')]
             .filter(e => !(e.labels && e.labels.length)).length"""
    )
    assert unlabelled == 0
    browser.save_screenshot(str(SCREENSHOTS / "review-queue-phone.png"))


def test_keys_are_shown_once_and_revoking_one_stops_it(server: Server, browser: Any) -> None:
    admin = new_admin(server)
    sign_in(browser, server, admin.key)
    browser.get(f"{server.url}/admin/keys")
    by_css(browser, "input[name=scopes][value=read]").click()
    by_css(browser, "#key-name").send_keys("catalog sync")

    submit(browser, by_css(browser, "section[aria-labelledby=make] button"))

    key = by_css(browser, "#new-key").get_attribute("value")
    assert key.startswith("dg_")
    assert server.with_key(key).client.get("/v1/collections").status_code == 200
    browser.get(f"{server.url}/admin/keys")  # never shown again
    assert key not in browser.page_source and "catalog sync" in browser.page_source
    submit(browser, by_css(browser, "button[aria-label='Revoke key catalog sync']"))
    assert "revoked" in by_css(browser, "[role=status]").text
    assert "catalog sync" not in by_css(browser, "table").text
    assert server.with_key(key).client.get("/v1/collections").status_code == 401


def test_blocking_an_image_or_a_video_by_id_refuses_their_copies_and_the_trail_shows_it(
    server: Server, browser: Any
) -> None:
    admin = new_admin(server)
    c = new_collection(admin)
    image_id = admin.api.decision(c, photo("n01443537_goldfish").read_bytes())["image_id"]
    chair = transcode(clip("chair-orig-22-sd-bar"), seconds=5)
    video_id = video_decision(admin.api, c, chair)["video_id"]
    sign_in(browser, server, admin.key)

    def block(committed_id: str, reason: str) -> str:
        browser.get(f"{server.url}/admin/collections/{c}/blocklist")
        by_css(browser, "#committed_id").send_keys(committed_id)
        by_css(browser, "#reason").send_keys(reason)
        submit(browser, by_css(browser, "section[aria-labelledby=block-title] button"))
        return str(by_css(browser, "[role=status]").text)

    assert "Blocked as" in block(image_id, "taken down: DMCA #42")
    assert "Blocked as" in block(video_id, "taken down: DMCA #43")
    table = by_css(browser, "table").text
    assert "taken down: DMCA #42" in table and f"video {video_id}" in table
    copy = admin.api.decision(c, with_caption(photo("n01443537_goldfish")))
    assert copy["action"] == "rejected" and copy["reason"].startswith("blocked: taken down")
    reencoded = transcode(clip("chair-orig-22-sd-bar"), seconds=5, crf=36)
    refused = video_decision(admin.api, c, reencoded)
    assert refused["action"] == "rejected"
    assert refused["reason"].startswith(
        f"blocked: taken down: DMCA #43 (exact duplicate of video {video_id}"
    )
    # An id that is neither says so, and blocks nothing.
    browser.get(f"{server.url}/admin/collections/{c}/blocklist")
    by_css(browser, "#committed_id").send_keys("no-such-id")
    by_css(browser, "#reason").send_keys("typo")
    submit(browser, by_css(browser, "section[aria-labelledby=block-title] button"))
    assert "no image or video with id no-such-id" in by_css(browser, "main").text

    browser.get(f"{server.url}/admin/events?type=image.blocked")
    rows = [r.text for r in all_css(browser, "tbody tr")]
    assert len(rows) == 1 and "image.blocked" in rows[0] and admin.key_id in rows[0]

    browser.get(f"{server.url}/admin/collections/{c}/blocklist")
    for _ in range(2):
        submit(browser, by_css(browser, "button[aria-label^=Unblock]"))
    assert "Nothing is blocked" in by_css(browser, "main").text


def test_a_webhooks_deliveries_show_their_attempts_and_can_be_sent_again(
    server: Server, browser: Any
) -> None:
    from tests.receiver import SECRET, receiver

    admin = new_admin(server)
    sign_in(browser, server, admin.key)
    with receiver(failures=1) as hook:
        browser.get(f"{server.url}/admin/webhooks")
        by_css(browser, "#url").send_keys(hook.url)
        by_css(browser, "#secret").send_keys(SECRET)
        events = by_css(browser, "#events")
        events.clear()
        events.send_keys("collection.*")
        submit(browser, by_css(browser, "section[aria-labelledby=add-title] button"))
        assert "Webhook added." in by_css(browser, "[role=status]").text
        new_collection(admin)
        wait_until(lambda: len(hook.accepted()) == 1, timeout=60, what="delivered")

        browser.refresh()
        attempts = by_css(browser, "tbody tr ol").text
        assert "500" in attempts and "204" in attempts
        submit(browser, by_css(browser, "button[aria-label^='Send collection.created']"))
        assert "Sent again as delivery" in by_css(browser, "[role=status]").text
        wait_until(lambda: len(hook.accepted()) == 2, timeout=60, what="delivered again")


def test_the_queue_is_walked_and_decided_with_the_keyboard(server: Server, browser: Any) -> None:
    admin = new_admin(server)
    c = new_collection(admin, {"policy": {"near": "hold"}})
    original = admin.api.decision(c, photo("n01518878_ostrich").read_bytes())
    held = [
        admin.api.upload(c, with_caption(photo("n01518878_ostrich"), text), external_id=name)
        for name, text in (("first", "SALE -50% TODAY ONLY"), ("second", "NEW NEW NEW"))
    ]
    assert [admin.api.decided(u)["decision"]["action"] for u in held] == ["held", "held"]
    sign_in(browser, server, admin.key)
    browser.get(f"{server.url}/admin/collections/{c}/review")
    assert by_css(browser, "#item").text == "Held upload first"

    press(browser, "j")
    assert by_css(browser, "#item").text == "Held upload second"
    press(browser, "k")
    assert by_css(browser, "#item").text == "Held upload first"
    press(browser, "l")  # link to the match shown

    wait_until(lambda: "first linked" in by_css(browser, "#announce").text, timeout=10)
    assert by_css(browser, "#item").text == "Held upload second"
    linked = admin.api.client.get(f"/v1/uploads/{held[0]}").json()["decision"]
    image = admin.api.client.get(f"/v1/images/{linked['image_id']}").json()
    assert linked["action"] == "linked" and image["linked_to"] == original["image_id"]
    press(browser, "r")
    assert by_css(browser, "#item").text == "Nothing to review"
    rejected = admin.api.client.get(f"/v1/uploads/{held[1]}").json()["decision"]
    assert rejected["action"] == "rejected"


def test_a_held_video_plays_beside_its_match_and_is_linked_from_the_queue(
    server: Server, browser: Any
) -> None:
    from tests.videos import clip, frame_jpeg, transcode

    def upload_video(content: bytes) -> str:
        r = admin.api.client.post(
            f"/v1/collections/{c}/videos", files={"file": ("clip.mp4", io.BytesIO(content))}
        )
        assert r.status_code == 202, r.text
        return str(r.json()["upload_id"])

    admin = new_admin(server)
    c = new_collection(admin, {"policy": {"near": "hold"}})
    original = transcode(clip("chair-orig-22-sd-bar"), seconds=6)
    video_id = admin.api.decided(upload_video(original))["decision"]
    held_video = upload_video(transcode(clip("chair-22-with-small-logo-bar"), seconds=6))
    assert admin.api.decided(held_video)["decision"]["action"] == "held"
    # A still taken from the video, uploaded as an image: held as near, naming the video.
    still = admin.api.upload(c, frame_jpeg(original, 3.0), external_id="still")
    assert admin.api.decided(still)["decision"]["action"] == "held"

    sign_in(browser, server, admin.key)
    browser.get(f"{server.url}/admin/collections/{c}/review")
    assert by_css(browser, "#item").text.startswith("Held upload")
    players = all_css(browser, ".frame video")
    assert len(players) == 2  # the held video and the video it matched
    assert f"/admin/videos/{video_id['video_id']}/content" in players[1].get_attribute("src")
    wait_until(
        lambda: browser.execute_script(
            "return [...document.querySelectorAll('video')].every(v => v.readyState >= 1);"
        ),
        timeout=20,
        what="both videos' metadata loaded",
    )
    assert "of this upload's seconds" in by_css(browser, "#why").text
    press(browser, "l")  # link the held video to the video it copies

    wait_until(lambda: "linked" in by_css(browser, "#announce").text, timeout=10)
    linked = admin.api.client.get(f"/v1/uploads/{held_video}").json()["decision"]
    assert linked["action"] == "linked"
    assert (
        admin.api.client.get(f"/v1/videos/{linked['video_id']}").json()["linked_to"]
        == (video_id["video_id"])
    )
    # Next: the still, shown beside the video it is a frame of; it can only be accepted or
    # rejected (an image is linked to images only).
    assert by_css(browser, "#item").text == "Held upload still"
    assert "A frame of a video" in by_css(browser, "#why").text
    assert not all_css(browser, "[data-key=l]")
    press(browser, "r")
    assert by_css(browser, "#item").text == "Nothing to review"
