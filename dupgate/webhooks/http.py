"""Webhook requests on the wire: the signature, and one HTTP POST to a checked address.

    X-Dupgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

`verify` is what a receiver runs (see the README for a copy in a few lines).
"""

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from dupgate.settings import Network
from dupgate.webhooks.targets import RefusedTarget, resolve

SIGNATURE_HEADER = "X-Dupgate-Signature"


@dataclass(frozen=True)
class Attempt:
    """What one HTTP request of a delivery came back with."""

    status_code: int | None
    latency_ms: float
    # A short class, never the receiver's words: "timeout", "connection_refused", "http_500"…
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Dupgate-Signature value for a body sent at `timestamp` (unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """Whether a signature header is valid for the body and recent (what a receiver checks)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def post(
    url: str,
    headers: dict[str, str],
    body: bytes,
    timeout: float = 10.0,
    allowed: Sequence[Network] = (),
) -> Attempt:
    """Send one delivery over HTTP; any answer but 2xx, and any error, is a failure.

    The host is resolved and checked here, at connect time, and the request goes to the checked
    address. Nothing of the answer but its status is kept: a tenant must not read back what an
    endpoint says, nor learn more of a network than whether a delivery arrived.
    """
    started = time.perf_counter()
    try:
        target = resolve(url, allowed)
    except RefusedTarget as e:
        return Attempt(None, (time.perf_counter() - started) * 1000, e.error_class)
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    try:
        # No proxies from the environment and no redirects: only the checked address is called.
        with (
            httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client,
            client.stream(
                "POST",
                target.url,
                content=body,
                headers={**headers, "Host": target.host},
                extensions=extensions,
            ) as response,
        ):
            status = response.status_code  # the body is never read
    except httpx.HTTPError as e:
        return Attempt(None, (time.perf_counter() - started) * 1000, error_class(e))
    elapsed = (time.perf_counter() - started) * 1000
    return Attempt(status, elapsed, None if 200 <= status < 300 else f"http_{status}")


def error_class(e: httpx.HTTPError) -> str:
    """A short name for what went wrong with a request, without the details."""
    if isinstance(e, httpx.TimeoutException):
        return "timeout"
    if isinstance(e, httpx.ConnectError):
        text = str(e).lower()
        if "refused" in text:
            return "connection_refused"
        if "ssl" in text or "certificate" in text or "tls" in text:
            return "tls_error"
        return "connection_error"
    if isinstance(e, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "protocol_error"
    return "request_error"
