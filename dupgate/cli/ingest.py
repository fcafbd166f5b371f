"""`dupgate ingest DIR --collection C`: send a folder through a running dupgate, safely rerunnable.

Each image is posted with an Idempotency-Key made of its path and content, so a second run (or
a retry after a dropped connection) finds the first run's uploads instead of making new ones.
"""

import hashlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from dupgate.cli.folder import image_files

ACTIONS = ("accepted", "rejected", "linked", "overwritten", "held", "failed")


DEFAULT_URL = "http://127.0.0.1:8000"


# Uploads in flight at once: enough to keep a server's workers busy, few enough to be polite.
CONCURRENCY = 4


_POLL_SECONDS = 10


_DECISION_TIMEOUT = 600.0


class IngestError(Exception):
    """The ingest cannot go on (wrong URL, refused key, unknown collection); says what to do."""


@dataclass
class IngestResult:
    """How every image of the folder was decided."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    not_images: int = 0


# Rate limits and outages answer "retry after"; an ingest waits that out up to this long per
# request, then counts the file as failed (a rerun sends it again, nothing twice).
_RETRY_LATER_SECONDS = 600.0


def idempotency_key(collection: str, relative_path: str, sha256: str) -> str:
    """The same file at the same place into the same collection always gets the same key."""
    material = "\0".join((collection, relative_path, sha256)).encode()
    return "dupgate-ingest-" + hashlib.sha256(material).hexdigest()


def ingest_folder(
    root: Path,
    collection: str,
    *,
    url: str,
    key: str | None,
    progress: bool = True,
) -> IngestResult:
    """Upload every image under root into `collection` and wait for each decision."""
    if not root.is_dir():
        raise IngestError(f"{root} is not a folder")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60) as client:
        _check_server(client, url, collection)
        paths, others, unreadable = image_files(root)
        result = IngestResult(not_images=others)
        for skipped in unreadable:
            result.counts["failed"] += 1
            result.failures.append(
                (Path(skipped.path).relative_to(root).as_posix(), skipped.message)
            )
        lock = threading.Lock()
        bar = tqdm(
            total=len(paths), desc="ingesting", unit="image", file=sys.stderr, disable=not progress
        )

        def one(path: Path) -> None:
            relative = path.relative_to(root).as_posix()
            action, why = _upload(client, collection, path, relative)
            with lock:
                result.counts[action] += 1
                if why:
                    result.failures.append((relative, why))
                bar.update(1)

        with bar:
            _run_all(one, paths)
    result.failures.sort()
    return result


def _run_all(task: Callable[[Path], None], paths: Sequence[Path]) -> None:
    """Run task on every path, CONCURRENCY at a time; the first IngestError stops the rest."""
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        futures = [pool.submit(task, path) for path in paths]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                for other in futures:
                    other.cancel()
                raise future.exception()  # type: ignore[misc]


def _check_server(client: httpx.Client, url: str, collection: str) -> None:
    """Fail early, and say why, for a wrong URL, a refused key or an unknown collection."""
    try:
        health = client.get("/healthz")
    except httpx.TransportError as e:
        raise IngestError(
            f"cannot reach dupgate at {url} ({type(e).__name__}: {e}); is `dupgate serve` "
            "running there? Set --url or DUPGATE_URL."
        ) from e
    if health.status_code != 200:
        raise IngestError(
            f"{url} does not look like dupgate: GET /healthz answered {health.status_code}"
        )
    response = _request(client, "GET", f"/v1/collections/{collection}")
    if response.status_code == 404:
        raise IngestError(
            f"dupgate at {url} has no collection {collection!r}; create it first, e.g. "
            f"curl -X PUT -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' "
            f"-d '{{}}' {url}/v1/collections/{collection}"
        )
    _refuse_auth_errors(response)


def _refuse_auth_errors(response: httpx.Response) -> None:
    if response.status_code == 401:
        raise IngestError(
            f"dupgate refused the API key (401: {_detail(response)}); pass --key or set "
            "DUPGATE_API_KEY"
        )
    if response.status_code == 403:
        raise IngestError(f"this API key may not upload here (403: {_detail(response)})")


def _request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The answer, after waiting out answers that say "later" (429, 503, 507) for a while."""
    deadline = time.monotonic() + _RETRY_LATER_SECONDS
    while True:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise IngestError(f"lost the connection to dupgate ({type(e).__name__}: {e})") from e
        later = response.headers.get("Retry-After")
        if response.status_code not in (429, 503, 507) or later is None:
            return response
        try:
            wait = min(max(float(later), 0.1), 30.0)
        except ValueError:
            wait = 1.0
        if time.monotonic() + wait > deadline:
            return response
        time.sleep(wait)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("message") or body)
    return str(body)


def _upload(
    client: httpx.Client, collection: str, path: Path, relative: str
) -> tuple[str, str | None]:
    """Post one image and wait for its decision: (action, why it failed or None)."""
    try:
        content = path.read_bytes()
    except OSError as e:
        return "failed", f"unreadable: {e.strerror or e}"
    headers = {
        "Idempotency-Key": idempotency_key(
            collection, relative, hashlib.sha256(content).hexdigest()
        )
    }
    response = _request(
        client,
        "POST",
        f"/v1/collections/{collection}/images",
        files={"file": (path.name, content)},
        data={"external_id": relative},
        headers=headers,
    )
    if response.status_code == 404:
        raise IngestError(f"collection {collection!r} is gone ({_detail(response)})")
    _refuse_auth_errors(response)
    if response.status_code != 202:
        return "failed", f"{response.status_code}: {_detail(response)}"
    upload_id = response.json()["upload_id"]
    deadline = time.monotonic() + _DECISION_TIMEOUT
    while time.monotonic() < deadline:
        view = _request(client, "GET", f"/v1/uploads/{upload_id}", params={"wait": _POLL_SECONDS})
        _refuse_auth_errors(view)
        if view.status_code != 200:
            return "failed", f"GET /v1/uploads/{upload_id}: {view.status_code} {_detail(view)}"
        body = view.json()
        if body["status"] == "decided":
            decision = body["decision"]
            action = str(decision["action"])
            reason = decision.get("reason") if action == "rejected" else None
            return action, reason if reason and reason.startswith("invalid_image") else None
        if body["status"] == "failed":
            return "failed", str(body.get("reason") or "failed")
    return "failed", f"no decision after {_DECISION_TIMEOUT:.0f} s (upload {upload_id})"


def summary(result: IngestResult) -> str:
    """Counts per action, then each failure."""
    counts = ", ".join(f"{action}: {result.counts.get(action, 0)}" for action in ACTIONS)
    extra = [a for a in result.counts if a not in ACTIONS]
    if extra:
        counts += ", " + ", ".join(f"{a}: {result.counts[a]}" for a in sorted(extra))
    lines = [f"{sum(result.counts.values())} images sent: {counts}"]
    if result.not_images:
        lines.append(f"{result.not_images} other files left alone")
    lines.extend(f"  {path}: {why}" for path, why in result.failures)
    return "\n".join(lines)
