"""Bad input gets a clear error, the worker keeps running, and nothing half-committed remains.

What the gateway refuses by itself runs on the app in this process (`api`)."""

import io
import uuid

from PIL import Image

from tests.conftest import DATASETS, photo
from tests.images import encode, giant_png
from tests.servers import Server


def new_collection(server: Server) -> str:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    server.put_collection(name)
    return name


def test_files_that_are_plainly_not_images_are_refused_at_once(api: Server) -> None:
    c = new_collection(api)
    cases = {
        b"": (400, "empty"),
        b"just some text, not a picture\n": (415, "not_an_image"),
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>': (
            415,
            "unsupported_format",
        ),
        b"<svg xmlns='http://www.w3.org/2000/svg'/>": (415, "unsupported_format"),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n": (415, "unsupported_format"),
    }
    for content, (status, code) in cases.items():
        r = api.post_image(c, content)
        assert (r.status_code, r.json()["code"]) == (status, code), (content, r.text)


def test_form_mistakes_are_explained(api: Server) -> None:
    c = new_collection(api)
    r = api.client.post(
        f"/v1/collections/{c}/images", data={"external_id": "x"}, files={"other": ("a", b"1")}
    )
    assert r.status_code == 422 and "`file`" in r.json()["detail"]
    r = api.client.post(f"/v1/collections/{c}/images", content=b"raw bytes")
    assert r.status_code == 422 and "multipart" in r.json()["detail"]
    r = api.post_image(c, photo("n01440764").read_bytes(), labels="shoes")
    assert r.status_code == 422 and "JSON list" in r.json()["detail"]
    r = api.post_image("no-such-collection", photo("n01440764").read_bytes())
    assert r.status_code == 404 and "PUT /v1/collections/no-such-collection" in r.json()["detail"]


def test_a_body_over_the_limit_is_refused(api: Server) -> None:
    # The test servers' limit is 8 MiB (tests.servers.TEST_SETTINGS).
    r = api.post_image(new_collection(api), b"\xff\xd8\xff" + b"\0" * (9 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_broken_images_end_rejected_with_a_reason(server: Server) -> None:
    c = new_collection(server)
    jpeg = photo("n01440764").read_bytes()
    truncated = jpeg[: len(jpeg) // 3]
    garbage_png = b"\x89PNG\r\n\x1a\n" + b"\x13" * 500
    for content in (truncated, garbage_png, giant_png()):
        decision = server.decision(c, content)
        assert decision["action"] == "rejected", decision
        assert decision["reason"].startswith("invalid_image"), decision
        assert decision["image_id"] is None
    # The worker is still alive and decides good images.
    assert server.decision(c, jpeg)["action"] == "accepted"


def test_odd_but_valid_images_are_accepted(server: Server) -> None:
    c = new_collection(server)
    base = Image.open(photo("n01443537")).convert("RGB").resize((320, 240))
    odd = {
        "cmyk.jpg": encode(base.convert("CMYK"), "JPEG"),
        "palette.png": encode(base.quantize(64), "PNG"),
        "alpha.png": (DATASETS / "imagededup-tests" / "alpha_channel_image.png").read_bytes(),
        "sixteen.png": encode(base.convert("L").point(lambda v: v * 200).convert("I;16"), "PNG"),
        "animated.gif": _animated_gif(base),
    }
    for name, content in odd.items():
        view = server.decided(server.upload(c, content))
        assert view["status"] == "decided", (name, view)
        assert view["decision"]["action"] in ("accepted", "rejected", "linked"), (name, view)
        assert not view["decision"]["reason"].startswith("invalid_image"), (name, view)


def _animated_gif(base: Image.Image) -> bytes:
    frames = [base.rotate(angle) for angle in (0, 10, 20)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()
