"""Bounds on every request body: how many bytes, and how long it may take to arrive.

Counted as the body streams in, chunked or not, whatever the Content-Length says: a client
cannot make the gateway buffer more than the budget, nor hold a connection open by sending a
byte now and then. A multipart form may be as large as the upload limit plus a little for its
text fields and headers; any other body (JSON) is small.
"""

import asyncio
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Room in a multipart body for its text fields, part headers and boundaries.
FORM_OVERHEAD_BYTES = 1024 * 1024
# JSON bodies (policies, reviews, keys, webhooks) are a few hundred bytes.
MAX_JSON_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    """The body passed its byte budget."""

    code = "too_large"

    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(413, f"the {what} is larger than the limit of {limit} bytes")
        self.limit = limit


class BodyTimeout(HTTPException):
    """The body did not arrive in time."""

    code = "body_timeout"

    def __init__(self, message: str) -> None:
        super().__init__(408, message, headers={"Connection": "close"})


class BodyLimits:
    """ASGI middleware that bounds the size and the arrival time of request bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_upload_bytes: int,
        max_video_upload_bytes: int | None = None,
        idle_timeout: float,
        read_timeout: float,
    ) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_video_upload_bytes = max_video_upload_bytes or max_upload_bytes
        self.idle_timeout = idle_timeout
        self.read_timeout = read_timeout

    def budget(self, scope: Scope) -> int:
        """The most bytes this request's body may have."""
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").lower()
        if content_type.startswith(b"multipart/"):
            if str(scope.get("path", "")).endswith(("/videos", "/check")):
                return self.max_video_upload_bytes + FORM_OVERHEAD_BYTES
            return self.max_upload_bytes + FORM_OVERHEAD_BYTES
        return MAX_JSON_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budget = self.budget(scope)
        deadline = time.monotonic() + self.read_timeout
        received = 0
        complete = False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()  # after the body: only the disconnect, not timed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BodyTimeout(
                    f"the request body took longer than {self.read_timeout:g} s to arrive"
                )
            try:
                message = await asyncio.wait_for(receive(), min(self.idle_timeout, remaining))
            except TimeoutError:
                if remaining <= self.idle_timeout:
                    raise BodyTimeout(
                        f"the request body took longer than {self.read_timeout:g} s to arrive"
                    ) from None
                raise BodyTimeout(
                    f"the request body stopped arriving: nothing for {self.idle_timeout:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > budget:
                    raise BodyTooLarge(budget)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        await self.app(scope, bounded_receive, send)
