"""Values at the edges get the same declared 4xx on every backend, never a 500.

What the app alone decides runs on it in this process (`api`); what depends on how bodies
arrive over a real connection runs against a running `dupgate serve` (`server`), or uvicorn
serving the app in this process (`http_api`)."""

import io
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import photo
from tests.receiver import SECRET
from tests.servers import KEY, Server, in_process_http_server

TOO_BIG = 2**64
# A scan id no scan has (fixed, so that the test ids are the same in every run).
NO_SCAN = "00000000-0000-4000-8000-000000000000"
# A body that stops arriving for this long is refused (by the `http_api` server).
BODY_IDLE_TIMEOUT = 2


def new_collection(server: Server) -> str:
    name = f"edge-{uuid.uuid4().hex[:8]}"
    server.put_collection(name)
    return name


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An error in the documented shape: a sentence for people and a code for programs."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str)
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/keys", {"tenant": "acme", "scopes": ["read"], "name": "n" * 201}),
        ("/v1/keys", {"tenant": "acme", "scopes": ["read"], "name": "nul\x00name"}),
        ("/v1/keys", {"tenant": "t" * 101, "scopes": ["read"]}),
        ("/v1/webhooks", {"url": "http://127.0.0.1:9/" + "a" * 2000, "secret": SECRET}),
        ("/v1/webhooks", {"url": "http://127.0.0.1:9/\x00", "secret": SECRET}),
        ("/v1/webhooks", {"url": "http://127.0.0.1:9/", "secret": "s" * 501}),
        ("/v1/webhooks", {"url": "http://127.0.0.1:9/", "secret": SECRET + "\x00"}),
        ("/v1/not-duplicates", {"image_ids": ["a\x00", "b"]}),
    ],
)
def test_long_or_nul_values_in_json_are_refused_with_422(
    api: Server, path: str, body: dict[str, Any]
) -> None:
    r = api.client.post(path, json=body)
    error = assert_error(r, 422, "invalid_request")
    # Which value was wrong is said; the value itself (a secret, perhaps) is not echoed.
    assert error["errors"][0]["loc"][0] == "body"
    assert SECRET not in r.text


def test_long_or_nul_form_values_are_refused_with_422(api: Server) -> None:
    c = new_collection(api)
    jpeg = photo("n01440764").read_bytes()
    for fields, filename in (
        ({"external_id": "e" * 501}, "photo.jpg"),
        ({"external_id": "nul\x00id"}, "photo.jpg"),
        ({"labels": '["ok", "' + "l" * 201 + '"]'}, "photo.jpg"),
        ({}, "f" * 501 + ".jpg"),
    ):
        r = api.post_image(c, jpeg, filename=filename, **fields)
        assert_error(r, 422)
    r = api.client.post(
        f"/v1/collections/{c}/blocklist",
        files={"file": ("photo.jpg", io.BytesIO(jpeg))},
        data={"reason": "r\x00"},
    )
    assert_error(r, 422)


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/events?after={TOO_BIG}",
        f"/v1/scans/{NO_SCAN}/groups?limit={TOO_BIG}",
        f"/v1/scans/{NO_SCAN}/report.html?page={TOO_BIG}",
        f"/v1/collections/anything/review?limit={TOO_BIG}",
        "/v1/keys?limit=0",
        "/v1/events?cursor=" + "c" * 1001,
        "/v1/images/a%00b",
        "/v1/uploads/" + "u" * 65,
        "/v1/events?collection=a%00b",
        "/v1/events?tenant=a%00b",
    ],
)
def test_out_of_range_integers_and_malformed_ids_are_refused_with_422(
    api: Server, path: str
) -> None:
    assert_error(api.client.get(path), 422, "invalid_request")


def test_thresholds_and_flags_take_only_their_own_types(api: Server) -> None:
    c = new_collection(api)
    before = api.client.get(f"/v1/collections/{c}").json()
    for thresholds in ({"near": False}, {"near": "0.5"}, {"exact": True}):
        r = api.client.put(f"/v1/collections/{c}", json={"thresholds": thresholds})
        assert_error(r, 422, "invalid_request")
    # `false` was stored as a threshold of 0; now nothing changed.
    assert api.client.get(f"/v1/collections/{c}").json() == before
    r = api.client.post(
        f"/v1/uploads/{uuid.uuid4()}/review", json={"action": "accept", "not_duplicate": "yes"}
    )
    assert_error(r, 422, "invalid_request")


def test_domain_errors_have_the_same_shape_as_validation_errors(api: Server) -> None:
    c = new_collection(api)
    r = api.client.put(f"/v1/collections/{c}", json={"thresholds": {"exact": 0.3, "near": 0.5}})
    assert_error(r, 422, "invalid_policy")
    assert_error(api.client.get(f"/v1/images/{uuid.uuid4()}"), 404, "not_found")
    no_key = api.client.get("/v1/collections", headers={"Authorization": ""})
    assert_error(no_key, 401, "unauthorized")


def test_a_second_file_part_is_refused_not_kept_as_a_field(api: Server) -> None:
    c = new_collection(api)
    jpeg = photo("n01440764").read_bytes()
    r = api.client.post(
        f"/v1/collections/{c}/images",
        files=[("file", ("a.jpg", io.BytesIO(jpeg))), ("file", ("b.jpg", io.BytesIO(jpeg)))],
    )
    assert "one `file` part" in assert_error(r, 422, "bad_form")["detail"]


def chunked(*pieces: bytes, repeat: int = 1) -> Iterator[bytes]:
    for _ in range(repeat):
        yield from pieces


def test_thousands_of_text_fields_are_refused_while_streaming(server: Server) -> None:
    # 15,000 fields, sent chunked (no Content-Length): refused after a few, never buffered.
    c = new_collection(server)
    fields = (
        f'--B\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode()
        + b"x" * 60_000
        + b"\r\n"
        for i in range(15_000)
    )
    r = server.client.post(
        f"/v1/collections/{c}/images",
        content=fields,
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert "more than 16 parts" in assert_error(r, 422, "bad_form")["detail"]


def test_a_body_over_its_budget_is_refused_while_streaming_chunked_or_not(server: Server) -> None:
    c = new_collection(server)
    jpeg = photo("n01440764").read_bytes()
    form = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        + jpeg
        + b"\r\n--B--\r\n"
    )
    # After the form's closing boundary the parser ignores everything: 10 MiB of it, chunked.
    r = server.client.post(
        f"/v1/collections/{c}/images",
        content=chunked(form, *[b"\0" * (1 << 20)] * 10),
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert_error(r, 413, "too_large")
    # A JSON body has a small budget, announced or not.
    padding = b" " * (2 << 20)
    r = server.client.put(
        f"/v1/collections/{c}",
        content=chunked(b"{", padding, b"}"),
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 413, "too_large")
    r = server.client.put(
        f"/v1/collections/{c}",
        content=b"{" + padding + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 413, "too_large")


@pytest.fixture
def http_api(
    database_url: str, broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    """The app in this process behind uvicorn, refusing a body idle for BODY_IDLE_TIMEOUT s.

    The spawned servers keep the shipped timeout (30 s): a busy machine may pause a body for
    seconds, which must not be refused there."""
    with in_process_http_server(
        monkeypatch,
        database_url,
        tmp_path / "data",
        broker,
        DUPGATE_BODY_IDLE_TIMEOUT_SECONDS=str(BODY_IDLE_TIMEOUT),
    ) as served:
        yield served


def test_a_body_that_stops_arriving_is_answered_408_and_the_connection_closed(
    http_api: Server,
) -> None:
    c = new_collection(http_api)
    host, port = http_api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(
            f"POST /v1/collections/{c}/images HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {KEY}\r\n"
            "Content-Type: multipart/form-data; boundary=B\r\n"
            "Content-Length: 100000\r\n\r\n--B\r\n".encode()
        )
        started = time.monotonic()
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":"body_timeout"' in answer
    assert BODY_IDLE_TIMEOUT - 1 < waited < BODY_IDLE_TIMEOUT + 20
