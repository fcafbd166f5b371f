"""Upload throughput of a real `dupgate serve` with and without 200 long-poll waiters.

    .venv/bin/python -m benchmarks.longpoll [--images 160] [--clients 16] [--waiters 200]
        [--postgres URL] [--code DIR --label NAME]

Each run starts a fresh server (2 worker processes) and `--clients` uploading clients, each
posting its share of `--images` distinct photos (a bulk import), then long-polling every one of
its uploads until it is decided. Throughput is images decided per second, first upload
to last decision (the median of `--repeat` runs, alternated with the others). The same run
is then repeated with `--waiters` more clients that long-poll
(`?wait=30`) an upload still undecided, picked at random, over and over, until the uploaders
are done.
Every answer that is not 2xx counts as an error. `--code DIR` serves another checkout of
dupgate (e.g. an older commit, unpacked with `git archive`), to compare with.
Appends the rows to benchmarks/longpoll/RESULTS.md.
"""

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.ingest.__main__ import KEY, start_server

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def gateway_pid(url: str) -> int:
    """The uvicorn process serving `url`."""
    port = url.rsplit(":", 1)[1].encode()
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"dupgate.gateway.app:serving_app" in argv and port in argv:
            return int(proc.name)
    raise RuntimeError(f"no gateway process on {url}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_postgres(base: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"dupgate_longpoll_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


def drop_postgres(base: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


async def crowd(url: str, photos: list[bytes], clients: int, waiters: int) -> dict[str, Any]:
    # Idle connections are dropped before the gateway's 5 s keep-alive timeout closes them, so
    # a request is never sent on a connection the gateway is closing (a reset, not an answer).
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
    statuses: Counter[str] = Counter()
    undecided: list[str] = []
    post_ms: list[float] = []
    uploading = clients
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120, limits=limits
    ) as client:
        await client.put("/v1/collections/bench", json={})
        # Load the model in both worker processes before timing.
        await client.put("/v1/collections/warm", json={})
        for content in photos[:4]:
            r = await client.post("/v1/collections/warm/images", files={"file": ("w.jpg", content)})
            await client.get(f"/v1/uploads/{r.json()['upload_id']}", params={"wait": 30})

        async def request(method: str, path: str, **kw: Any) -> httpx.Response | None:
            try:
                r = await client.request(method, path, **kw)
            except httpx.HTTPError as e:
                statuses[type(e).__name__] += 1
                return None
            statuses[str(r.status_code)] += 1
            return r

        async def long_poll(upload_id: str) -> str:
            r = await request("GET", f"/v1/uploads/{upload_id}", params={"wait": 30})
            status = r.json().get("status", "") if r is not None and r.status_code == 200 else ""
            if status in ("decided", "failed") and upload_id in undecided:
                undecided.remove(upload_id)
            return str(status)

        async def uploader(own: list[bytes]) -> None:
            nonlocal uploading
            ids = []
            for content in own:
                t = time.perf_counter()
                r = await request(
                    "POST", "/v1/collections/bench/images", files={"file": ("p.jpg", content)}
                )
                post_ms.append((time.perf_counter() - t) * 1000)
                if r is not None and r.status_code == 202:
                    ids.append(r.json()["upload_id"])
                    undecided.append(ids[-1])
            for upload_id in ids:
                deadline = time.monotonic() + 300
                while await long_poll(upload_id) not in ("decided", "failed"):
                    if time.monotonic() > deadline:
                        statuses["never decided"] += 1
                        break
            uploading -= 1

        async def waiter() -> None:
            # Plain HTTP/1.1 on one kept-alive socket: httpx costs the client most of a core
            # for 200 waiters, which on a small machine is taken from the workers.
            host, port = url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                while uploading:
                    if not undecided:
                        await asyncio.sleep(0.01)
                        continue
                    upload_id = random.choice(undecided)
                    writer.write(
                        f"GET /v1/uploads/{upload_id}?wait=30 HTTP/1.1\r\nHost: {host}\r\n"
                        f"Authorization: Bearer {KEY}\r\n\r\n".encode()
                    )
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                    body = await reader.readexactly(length)
                    statuses[str(status)] += 1
                    if status == 200 and b'"status":"decided"' in body and upload_id in undecided:
                        undecided.remove(upload_id)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                statuses[type(e).__name__] += 1
            finally:
                writer.close()

        started = time.perf_counter()
        await asyncio.gather(
            *(uploader(photos[i::clients]) for i in range(clients)),
            *(waiter() for _ in range(waiters)),
        )
        elapsed = time.perf_counter() - started
    errors = sum(n for s, n in statuses.items() if not s.startswith("2"))
    return {
        "throughput": len(photos) / elapsed,
        "errors": errors,
        "statuses": dict(statuses),
        "post_p50": statistics.median(post_ms),
    }


def run(code: Path, photos: list[bytes], clients: int, waiters: int, postgres: str | None) -> Any:
    data_dir = Path(tempfile.mkdtemp(prefix="dg-lp-", dir="/tmp"))
    database_url = pg_name = None
    if postgres:
        database_url, pg_name = fresh_postgres(postgres)
    process, url = start_server(data_dir, 2, code=code, database_url=database_url)
    try:
        gateway = gateway_pid(url)
        cpu = cpu_seconds(gateway)
        result = asyncio.run(crowd(url, photos, clients, waiters))
        # Includes the warm-up uploads, the same in every run.
        result["gateway_cpu"] = cpu_seconds(gateway) - cpu
        return result
    finally:
        process.send_signal(2)
        process.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
        if pg_name and postgres:
            drop_postgres(postgres, pg_name)


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeated runs as one row: median throughput and POST p50, summed answers."""
    statuses: Counter[str] = Counter()
    for r in runs:
        statuses.update(r["statuses"])
    return {
        "throughput": statistics.median(r["throughput"] for r in runs),
        "post_p50": statistics.median(r["post_p50"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "gateway_cpu": statistics.median(r["gateway_cpu"] for r in runs),
        "statuses": dict(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--waiters", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, alternated")
    parser.add_argument("--postgres", help="a PostgreSQL URL; each run creates its own database")
    parser.add_argument("--code", type=Path, default=ROOT, help="the dupgate checkout to serve")
    parser.add_argument("--label", default="this commit")
    args = parser.parse_args()
    photos = [p.read_bytes() for p in sorted(PHOTOS.glob("*.JPEG"))[: args.images]]
    backend = "PostgreSQL" if args.postgres else "SQLite"

    # Alternated and repeated: other load on a shared machine hits both sides alike.
    runs: dict[int, list[dict[str, Any]]] = {0: [], args.waiters: []}
    for _ in range(args.repeat):
        for waiters in runs:
            runs[waiters].append(run(args.code, photos, args.clients, waiters, args.postgres))
    without, with_waiters = (combined(r) for r in runs.values())
    share = with_waiters["throughput"] / without["throughput"]
    rows = [
        (f"{args.clients} uploaders", without),
        (f"{args.clients} uploaders + {args.waiters} waiters", with_waiters),
    ]
    lines = [
        f"| {args.label} | {backend} | {name} | {r['throughput']:.1f} images/s | "
        f"{r['post_p50']:.0f} ms | {r['gateway_cpu']:.1f} s | {r['errors']} | "
        + ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        + " |"
        for name, r in rows
    ]
    lines.append(
        f"| {args.label} | {backend} | with waiters / without | **{share:.0%}** | | | | "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores |"
    )
    print("\n".join(lines))
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Upload throughput beside long-poll waiters\n\n"
            "Command: `.venv/bin/python -m benchmarks.longpoll [--postgres URL] "
            "[--code DIR --label NAME]` (defaults: 160 distinct photos, 16 uploading clients, "
            "200 waiters, 2 worker processes, 2 runs of each alternated, median throughput; clients "
            "on the same machine, answers summed over the runs).\n\n"
            "| code | database | clients | throughput (decided) | POST p50 | gateway CPU | errors "
            "| answers |\n|---|---|---|---|---|---|---|---|\n"
        )
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
