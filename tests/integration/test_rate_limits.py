"""Per-key rate limits on uploads and /check."""

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.servers import in_process_server


def small_png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (shade, 100, 200)).save(out, "PNG")
    return out.getvalue()


def test_a_key_past_its_rate_is_told_when_to_retry_and_other_keys_are_not_slowed(
    database_url: str, broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit is the gateway's and Redis's: the app in this process, with no worker.
    with in_process_server(
        monkeypatch,
        database_url,
        tmp_path / "data",
        broker,
        DUPGATE_RATE_LIMIT_PER_SECOND="0.2",
        DUPGATE_RATE_LIMIT_BURST="3",
    ) as server:
        server.put_collection("limited")
        busy = server.as_tenant("admin")
        busy.put_collection("limited-busy")
        answers = [busy.post_image("limited-busy", small_png(i)) for i in range(3)]
        assert [r.status_code for r in answers] == [202, 202, 202]

        # The burst is spent: uploads and checks of this key are refused, with when to retry.
        for refused in (
            busy.post_image("limited-busy", small_png(9)),
            busy.client.post(
                "/v1/collections/limited-busy/check", files={"file": ("x.png", small_png(9))}
            ),
        ):
            assert refused.status_code == 429, refused.text
            assert refused.json()["code"] == "rate_limited"
            assert 1 <= int(refused.headers["Retry-After"]) <= 5

        # Another key has its own bucket.
        assert server.post_image("limited", small_png(7)).status_code == 202
