"""The staged form: the file streamed to disk and hashed, text fields small, part headers bounded."""

import asyncio
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from dupgate.gateway.limits import BodyTooLarge
from dupgate.gateway.staging import MAX_HEADER_BYTES, BadForm, StagedForm, stage_form


def request(body: Iterable[bytes]) -> Request:
    chunks = list(body)

    async def receive() -> dict[str, Any]:
        return {
            "type": "http.request",
            "body": chunks.pop(0) if chunks else b"",
            "more_body": len(chunks) > 0,
        }

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-type", b"multipart/form-data; boundary=B")],
    }
    return Request(scope, receive)


def part(name: str, content: bytes, *headers: str) -> bytes:
    lines = [f'Content-Disposition: form-data; name="{name}"', *headers]
    return b"--B\r\n" + "\r\n".join(lines).encode() + b"\r\n\r\n" + content + b"\r\n"


def stage(tmp_path: Path, *parts: bytes, limit: int = 1 << 20) -> StagedForm:
    body = b"".join(parts) + b"--B--\r\n"
    # In small chunks, so that parts and headers straddle them.
    chunks = (body[i : i + 7] for i in range(0, len(body), 7))
    return asyncio.run(stage_form(request(chunks), tmp_path, limit))


def test_the_file_is_streamed_to_disk_and_hashed(tmp_path: Path) -> None:
    content = bytes(range(256)) * 40
    form = stage(
        tmp_path,
        part("external_id", b"x-1"),
        part("file", content, "Content-Type: image/jpeg").replace(
            b'name="file"', b'name="file"; filename="a.jpg"'
        ),
        part("labels", b'["a"]'),
    )
    assert form.fields == {"external_id": "x-1", "labels": '["a"]'}
    assert form.file is not None
    assert form.file.path.parent == tmp_path
    assert form.file.path.read_bytes() == content
    assert form.file.sha256 == hashlib.sha256(content).hexdigest()
    assert (form.file.size, form.file.filename) == (len(content), "a.jpg")
    assert form.file.head == content[:64]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((part("file", b"1"), part("file", b"2")), "one `file` part"),
        ((part("labels", b"[]"), part("labels", b"[]")), "sent twice"),
        ((part("labels", b"x" * (65 * 1024)),), "too long"),
        (tuple(part(f"f{i}", b"") for i in range(17)), "more than 16 parts"),
        ((part("file", b"1", "X-Long: " + "x" * MAX_HEADER_BYTES),), "header size"),
        ((part("file", b"1", *[f"X-{i}: x" for i in range(8)]),), "header count"),
    ],
)
def test_forms_that_are_not_ours_are_refused_and_leave_nothing(
    tmp_path: Path, parts: tuple[bytes, ...], message: str
) -> None:
    with pytest.raises(BadForm, match=message):
        stage(tmp_path, *parts)
    assert list(tmp_path.iterdir()) == []


def test_a_file_over_the_limit_is_refused_while_it_streams(tmp_path: Path) -> None:
    with pytest.raises(BodyTooLarge, match="file is larger than the limit of 100 bytes"):
        stage(tmp_path, part("file", b"x" * 101), limit=100)
    assert list(tmp_path.iterdir()) == []
