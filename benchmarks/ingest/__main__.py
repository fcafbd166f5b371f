"""Ingestion speed of a real `dupgate serve` (gateway, embedded Redis, worker processes, SQLite).

    .venv/bin/python -m benchmarks.ingest [--images 400] [--workers 2] [--clients 8]

Measures, on the same photos in the same run:
- analysis alone, in one process (decode + every signal): the floor for a worker;
- the gateway's answer time (POST until 202) under `--clients` concurrent uploaders;
- throughput: photos uploaded by the clients until the last one is decided;
- decision latency of single uploads on an idle server (POST until the long-poll returns),
  into a collection that already holds `--collection-size` committed images (default 10,000:
  the scan benchmark's real 10k set, 1,000 ImageNet photos and 9 edits of each, written to the
  database as committed rows before the server starts). Half of those uploads are clothing
  photos (unique there), half ImageNet photos (copies of committed images, so each decision
  verifies candidates).
A quarter of the throughput uploads are resized copies of earlier ones, so the index is
exercised too.
Writes the table to benchmarks/ingest/RESULTS.md.
"""

import argparse
import concurrent.futures
import io
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import Image

from dupgate.analysis import analyze, load_embedder
from dupgate.store.db import migrate

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
CLOTHING = ROOT.parent / "shared" / "datasets" / "clothing" / "images"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
KEY = "benchmark-key-that-is-long-enough-000"


def workload(count: int) -> list[bytes]:
    """Photos, with every fourth upload a resized JPEG copy of an earlier photo."""
    photos = sorted(PHOTOS.glob("*.JPEG"))[:-40]
    uploads: list[bytes] = []
    for i in range(count):
        if i % 4 == 3:
            image = Image.open(io.BytesIO(uploads[i - 3])).convert("RGB")
            out = io.BytesIO()
            image.resize((image.width * 2 // 3, image.height * 2 // 3)).save(
                out, "JPEG", quality=80
            )
            uploads.append(out.getvalue())
        else:
            uploads.append(photos[i % len(photos)].read_bytes())
    return uploads


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_server(
    data_dir: Path, workers: int, *, code: Path = ROOT, database_url: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`dupgate serve` of the code in `code` (this checkout by default), once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPGATE_")}
    env.update(DUPGATE_DATA_DIR=str(data_dir), DUPGATE_BOOTSTRAP_KEY=KEY, PYTHONPATH=str(code))
    # One key imports everything as fast as it can: no per-key rate limit.
    env["DUPGATE_RATE_LIMIT_PER_SECOND"] = "0"
    if database_url:
        env["DUPGATE_DATABASE_URL"] = database_url
        # With the served code's migrations: an older checkout refuses a newer schema.
        argv = [sys.executable, "-m", "dupgate.cli", "migrate"]
        subprocess.run(argv, env=env, cwd=code, check=True, stdout=subprocess.DEVNULL)
    log = (data_dir / "serve.log").open("wb")
    argv = [sys.executable, "-m", "dupgate.cli", "serve", "--port", str(port)]
    argv += ["--workers", str(workers)]
    process = subprocess.Popen(argv, env=env, cwd=code, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"dupgate serve did not start; see {data_dir / 'serve.log'}")


def seed_collection(data_dir: Path, size: int) -> None:
    """Write `size` committed images of the scan benchmark's real set into collection "single"."""
    from benchmarks.scan.server import store_collection

    url = f"sqlite:///{data_dir / 'dupgate.db'}"
    migrate(url)
    store_collection(url, size, workers=os.cpu_count() or 1, name="single")


def single_uploads() -> list[bytes]:
    """20 clothing photos and 20 ImageNet photos, each uploaded once on an idle server."""
    clothing = sorted(CLOTHING.glob("*.jpg"))[:20]
    imagenet = sorted(PHOTOS.glob("*.JPEG"))[-20:]
    return [p.read_bytes() for pair in zip(clothing, imagenet, strict=True) for p in pair]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--collection-size", type=int, default=10_000)
    args = parser.parse_args()
    uploads = workload(args.images)

    embedder = load_embedder("onnx")
    analyze(uploads[0], embedder)  # load the model before timing
    started = time.perf_counter()
    for content in uploads:
        analyze(content, embedder)
    analysis_ms = (time.perf_counter() - started) / len(uploads) * 1000

    data_dir = Path(tempfile.mkdtemp(prefix="dg-bench-", dir="/tmp"))
    if args.collection_size:
        seed_collection(data_dir, args.collection_size)
    process, url = start_server(data_dir, args.workers)
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            client.put("/v1/collections/bench", json={}).raise_for_status()
            # Warm every worker process (model load) before timing anything.
            client.put("/v1/collections/warm", json={}).raise_for_status()
            for _ in range(args.workers * 2):
                r = client.post(
                    "/v1/collections/warm/images", files={"file": ("w.jpg", uploads[0])}
                )
                client.get(f"/v1/uploads/{r.json()['upload_id']}", params={"wait": 30})

            answer_ms: list[float] = []

            def post(content: bytes) -> str:
                t = time.perf_counter()
                r = client.post("/v1/collections/bench/images", files={"file": ("p.jpg", content)})
                answer_ms.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                return str(r.json()["upload_id"])

            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
                ids = list(pool.map(post, uploads))
            posted = time.perf_counter() - started
            actions: dict[str, int] = {}
            for upload_id in ids:
                while True:
                    view = client.get(f"/v1/uploads/{upload_id}", params={"wait": 30}).json()
                    if view["status"] in ("decided", "failed"):
                        break
                action = view.get("decision", {}).get("action", view["status"])
                actions[action] = actions.get(action, 0) + 1
            throughput = len(ids) / (time.perf_counter() - started)

            if not args.collection_size:
                client.put("/v1/collections/single", json={}).raise_for_status()
            single_ms = []
            # Photos no earlier upload used, so that each one is analysed.
            for content in single_uploads():
                t = time.perf_counter()
                r = client.post("/v1/collections/single/images", files={"file": ("p.jpg", content)})
                client.get(f"/v1/uploads/{r.json()['upload_id']}", params={"wait": 30})
                single_ms.append((time.perf_counter() - t) * 1000)
    finally:
        process.send_signal(2)
        process.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)

    rows = [
        (
            "analysis alone, 1 process (decode + all signals)",
            f"{analysis_ms:.1f} ms/image",
            f"{1000 / analysis_ms:.1f} images/s",
        ),
        (
            f"gateway answer (POST → 202), {args.clients} clients",
            f"p50 {statistics.median(answer_ms):.1f} ms",
            f"p95 {percentile(answer_ms, 95):.1f} ms",
        ),
        (
            f"throughput, {args.workers} worker processes",
            f"{throughput:.1f} images/s",
            f"{len(ids)} uploads posted in {posted:.1f} s",
        ),
        (
            f"decision latency, one upload at a time, into {args.collection_size:,} images",
            f"p50 {statistics.median(single_ms):.0f} ms",
            f"p95 {percentile(single_ms, 95):.0f} ms",
        ),
    ]
    table = "| measure | value | |\n|---|---|---|\n" + "\n".join(
        f"| {a} | {b} | {c} |" for a, b, c in rows
    )
    decided = ", ".join(f"{k}: {v}" for k, v in sorted(actions.items()))
    report = (
        "# Ingestion speed\n\n"
        f"Command: `.venv/bin/python -m benchmarks.ingest --images {args.images} --workers {args.workers} --clients {args.clients} --collection-size {args.collection_size}`  \n"
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        "SQLite and the embedded Redis (the defaults), clients on the same machine.\n\n"
        f"{table}\n\nDecisions of the throughput run: {decided}.\n"
    )
    print(report)
    RESULTS.write_text(report)


if __name__ == "__main__":
    main()
