"""Request bodies are bounded in time: one that trickles in is refused at the read deadline."""

import asyncio
from typing import Any

from fastapi import FastAPI, Request

from dupgate.gateway.limits import BodyLimits


def test_a_body_that_trickles_in_is_refused_at_the_read_deadline() -> None:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    # One byte every 0.2 s never stalls for the idle timeout (1 s) but passes the deadline (2 s).
    limited = BodyLimits(app, max_upload_bytes=1000, idle_timeout=1.0, read_timeout=2.0)
    sent: list[dict[str, Any]] = []

    async def trickle() -> dict[str, Any]:
        await asyncio.sleep(0.2)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "root_path": "",
    }
    started = asyncio.run(_timed(limited(scope, trickle, send)))  # type: ignore[arg-type]

    assert sent[0]["status"] == 408
    answer = b"".join(m.get("body", b"") for m in sent[1:])
    assert b"took longer than 2 s" in answer
    assert 1.9 < started < 4


async def _timed(call: Any) -> float:
    loop = asyncio.get_running_loop()
    began = loop.time()
    await call
    return loop.time() - began
