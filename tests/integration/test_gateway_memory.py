"""The gateway stays small however large the images it is sent: it never decodes them."""

import asyncio
import io
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.servers import KEY, Server, server_pids

CHECKS = 20
LIMIT_BYTES = 1536 * 1024 * 1024


def large_png() -> bytes:
    """A 7999×7999 PNG (just under the default 64-megapixel limit) of a few hundred kilobytes."""
    image = Image.new("RGB", (7999, 7999), (200, 220, 240))
    draw = ImageDraw.Draw(image)
    for i in range(0, 7999, 400):
        draw.rectangle((i, i, i + 1200, i + 300), fill=(i % 256, 90, 160))
        draw.ellipse((7999 - i - 500, i, 7999 - i, i + 500), fill=(30, i % 256, 60))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=9)
    return out.getvalue()


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_twenty_concurrent_checks_of_a_large_png_keep_the_gateway_under_1_5_gb(
    server: Server,
) -> None:
    # Ten concurrent /checks of such a PNG used to leave the gateway at 9-9.8 GB resident. On
    # the session's server the peak also covers every test before: a stricter bound.
    content = large_png()
    assert len(content) < 2 * 1024 * 1024
    collection = f"big-{uuid.uuid4().hex[:8]}"
    server.put_collection(collection)
    (pid,) = server_pids(server, b"dupgate.gateway.app:app")

    async def check_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=300
        ) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"/v1/collections/{collection}/check", files={"file": ("b.png", content)}
                    )
                    for _ in range(CHECKS)
                )
            )

    answers = asyncio.run(check_all())

    assert [r.status_code for r in answers] == [200] * CHECKS, answers[0].text
    assert {r.json()["tier"] for r in answers} == {"unique"}
    # VmHWM: the most the gateway was ever resident, not only now.
    peak = memory_kib(pid, "VmHWM") * 1024
    assert peak < LIMIT_BYTES, f"gateway peaked at {peak / 2**30:.2f} GiB"
