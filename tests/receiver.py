"""A real local HTTP endpoint that receives webhooks, for the tests (a fake at the boundary)."""

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dupgate.settings import parse_networks

SECRET = "whsec-test-0123456789abcdef"
# Webhooks may reach only public addresses: tests allow the loopback address their receiver
# listens on, as an operator would allow an internal network.
RECEIVER_NETWORKS = "127.0.0.1/32"
LOCAL = parse_networks(RECEIVER_NETWORKS)


@dataclass
class Receiver:
    """A local HTTP endpoint that answers 500 to its first `failures` calls, then 204."""

    failures: int
    delay: float = 0.0
    failure_body: bytes = b""
    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c["status"] == 204]


@contextmanager
def receiver(
    failures: int = 0, delay: float = 0.0, failure_body: bytes = b""
) -> Iterator[Receiver]:
    """Serve a Receiver on a free port while the block runs; `delay` slows every answer, and
    its 500s answer `failure_body`."""
    state = Receiver(failures, delay, failure_body)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(state.delay)
            with state.lock:
                status = 500 if len(state.calls) < state.failures else 204
                state.calls.append({"status": status, "headers": dict(self.headers), "body": body})
            self.send_response(status)
            payload = state.failure_body if status == 500 else b""
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{http.server_address[1]}/hooks/dupgate"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        http.shutdown()
        http.server_close()


def signature_verifies(header: str, body: bytes, secret: str = SECRET) -> bool:
    """What the README tells receivers to do, in a few lines."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - int(fields["t"])) < 300
    return fresh and hmac.compare_digest(expected.hexdigest(), fields["v1"])
