"""How fast the admin console's pages answer on a collection of 10,000 images.

A SQLite database (or `--postgres URL`, a superuser's, which gets a fresh database) is given a
collection of 10,000 images with 10,000 decided uploads (each with stored matches, for the
policy preview), 300 held uploads, 20,000 events and a finished scan of 2,000 groups. Three
photos and their captioned copies go through the real pipeline, so the review page draws real
evidence; the rest are rows written directly (their features are the real photos', shared).
Each page is then asked for through the real app in this process, signed in as an admin, and
the median and slowest of REPEATS answers are printed and written to RESULTS.md.

    .venv/bin/python -m benchmarks.console [--images 10000] [--postgres postgresql://...]
"""

import argparse
import hashlib
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
RESULTS = Path(__file__).with_name("RESULTS.md")
KEY = "benchmark-bootstrap-key-0123456789abcdef"
REPEATS = 7
COLLECTION = "catalog"


def seed(database_url: str, data_dir: Path, images: int) -> dict[str, str]:
    """The database's rows; returns the ids the pages are asked about."""
    from dupgate.analysis import load_embedder
    from dupgate.matching.registry import IndexRegistry
    from dupgate.store.blobs import LocalBlobStore
    from dupgate.store.db import session_scope
    from dupgate.store.models import Event, Image, ImageFeatures, Scan, ScanGroup, Upload, utcnow
    from dupgate.tenancy.collections import PolicyChange, put_collection
    from dupgate.tenancy.keys import BOOTSTRAP
    from dupgate.uploads.intake import NewUpload, create_upload
    from dupgate.uploads.pipeline import run_upload
    from dupgate.vocabulary import Outcome, ScanStatus, Tier, UploadStatus
    from tests.images import with_caption

    store = LocalBlobStore(data_dir / "blobs")
    embedder = load_embedder("onnx")
    with session_scope(database_url) as s:
        put_collection(s, COLLECTION, PolicyChange(actions={"near": "hold"}), BOOTSTRAP)

    def through_pipeline(content: bytes, external_id: str) -> Upload:
        upload_id = str(uuid.uuid4())
        key = f"staging/{upload_id}"
        store.put(key, iter([content]))
        new = NewUpload(
            COLLECTION, key, hashlib.sha256(content).hexdigest(), len(content), None, external_id
        )
        with session_scope(database_url) as s:
            create_upload(s, upload_id, new)
        run_upload(
            partial(session_scope, database_url),
            store,
            lambda: embedder,
            IndexRegistry(),
            upload_id,
            max_attempts=3,
            max_pixels=64_000_000,
        )
        with session_scope(database_url) as s:
            done = s.get(Upload, upload_id)
            assert done is not None
            s.expunge(done)
            return done

    names = ["n01440764_tench", "n01518878_ostrich", "n01534433_junco"]
    originals = [through_pipeline(next(PHOTOS.glob(f"{n}*")).read_bytes(), n) for n in names]
    held = [through_pipeline(with_caption(next(PHOTOS.glob(f"{n}*"))), f"{n}-sale") for n in names]
    assert all(u.action == Outcome.HELD for u in held), [u.reason for u in held]
    real_image = originals[0]
    with session_scope(database_url) as s:
        template = s.get(Image, real_image.image_id)
        assert template is not None
        blob_key, sha = template.blob_key, template.sha256
    rng = random.Random(7)
    now = utcnow()
    image_ids = [str(uuid.uuid4()) for _ in range(images)]
    with session_scope(database_url) as s:
        data = s.get(ImageFeatures, sha)
        assert data is not None
        fake = [f"{i:064x}" for i in range(images)]
        for start in range(0, images, 2000):
            s.execute(
                insert(ImageFeatures),
                [
                    {"sha256": f, "version": data.version, "data": data.data, "created_at": now}
                    for f in fake[start : start + 2000]
                ],
            )
            s.execute(
                insert(Image),
                [
                    {
                        "id": image_ids[i],
                        "collection": COLLECTION,
                        "sha256": fake[i],
                        "blob_key": blob_key,
                        "external_id": f"sku-{i}",
                        "labels": [],
                        "width": 500,
                        "height": 375,
                        "format": "JPEG",
                        "size": 40_000,
                        "created_at": now - timedelta(seconds=images - i),
                        "updated_at": now,
                    }
                    for i in range(start, min(start + 2000, images))
                ],
            )
        outcomes = [(Outcome.ACCEPTED, Tier.UNIQUE), (Outcome.LINKED, Tier.NEAR)]
        outcomes += [(Outcome.REJECTED, Tier.EXACT)]
        rows = []
        for i in range(images):
            action, tier = outcomes[i % 3]
            score = {Tier.UNIQUE: 0.0, Tier.NEAR: rng.uniform(0.4, 0.95), Tier.EXACT: 0.99}[tier]
            matches = (
                []
                if tier == Tier.UNIQUE
                else [
                    {
                        "image_id": rng.choice(image_ids),
                        "collection": COLLECTION,
                        "external_id": None,
                        "score": round(score, 4),
                        "tier": tier,
                    }
                ]
            )
            moment = now - timedelta(seconds=2 * images - i)
            rows.append(
                {"id": str(uuid.uuid4()), "collection": COLLECTION, "sha256": fake[i],
                 "status": UploadStatus.DECIDED, "size": 40_000, "labels": [], "attempts": 1,
                 "action": action, "tier": tier, "matches": matches, "reason": "seeded",
                 "policy_version": 1, "created_at": moment, "updated_at": moment,
                 "decided_at": moment, "image_id": image_ids[i]}
            )  # fmt: skip
        for i in range(300):  # more held uploads, newer than the real ones
            moment = now + timedelta(seconds=i)
            rows.append(
                {"id": str(uuid.uuid4()), "collection": COLLECTION, "sha256": held[0].sha256,
                 "status": UploadStatus.DECIDED, "size": 40_000, "labels": [], "attempts": 1,
                 "action": Outcome.HELD, "tier": Tier.NEAR, "matches": held[0].matches,
                 "reason": "seeded", "policy_version": 1, "created_at": moment,
                 "updated_at": moment, "decided_at": moment,
                 "staging_key": held[0].staging_key}
            )  # fmt: skip
        for start in range(0, len(rows), 2000):
            s.execute(insert(Upload), rows[start : start + 2000])
        events = [
            {"id": f"evt_{uuid.uuid4().hex}", "tenant": "default", "collection": COLLECTION,
             "type": rng.choice(["upload.decided", "upload.reviewed", "image.deleted"]),
             "actor": "system", "data": {"upload_id": str(uuid.uuid4())}, "created_at": now}
            for _ in range(2 * images)
        ]  # fmt: skip
        for start in range(0, len(events), 2000):
            s.execute(insert(Event), events[start : start + 2000])
        scan_id = str(uuid.uuid4())
        groups = images // 5
        s.add(
            Scan(id=scan_id, collection=COLLECTION, status=ScanStatus.DONE, threshold=0.4,
                 filters={}, total=images, done=images, groups=groups, actor="bootstrap",
                 created_at=now, updated_at=now, started_at=now, finished_at=now)
        )  # fmt: skip
        s.flush()
        s.execute(
            insert(ScanGroup),
            [
                {"scan_id": scan_id, "number": g + 1, "keeper": image_ids[3 * g],
                 "keeper_rule": "largest", "images": image_ids[3 * g : 3 * g + 3],
                 "pairs": [{"a": image_ids[3 * g], "b": image_ids[3 * g + k], "score": 0.9,
                            "tier": "near"} for k in (1, 2)]}
                for g in range(groups)
            ],
        )  # fmt: skip
    return {"scan": scan_id, "held": held[1].id, "image": image_ids[0]}


def measure(
    database_url: str, data_dir: Path, ids: dict[str, str]
) -> list[tuple[str, float, float]]:
    os.environ.update(
        DUPGATE_DATABASE_URL=database_url,
        DUPGATE_DATA_DIR=str(data_dir),
        DUPGATE_BOOTSTRAP_KEY=KEY,
    )
    from starlette.testclient import TestClient

    from dupgate.gateway.app import create_app

    c = f"/admin/collections/{COLLECTION}"
    pages = [
        ("collections", "/admin/collections"),
        ("review queue (evidence drawn)", f"{c}/review"),
        ("review queue, a chosen upload", f"{c}/review?at={ids['held']}"),
        ("policy and history", f"{c}/policy"),
        ("policy preview (500 uploads decided again)", f"{c}/policy?exact=1&near=0.5"),
        ("scans", f"{c}/scans"),
        ("scan groups, page 1", f"/admin/scans/{ids['scan']}"),
        ("scan groups, page 100", f"/admin/scans/{ids['scan']}?page=100"),
        ("events", "/admin/events"),
        ("events, filtered", f"/admin/events?type=image.&collection={COLLECTION}"),
        ("blocklist", f"{c}/blocklist"),
        ("keys", "/admin/keys"),
        ("webhooks", "/admin/webhooks"),
        ("a thumbnail", f"/admin/images/{ids['image']}/preview"),
    ]
    results = []
    with TestClient(create_app(), base_url="http://console") as client:
        csrf = client.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/admin/login", data={"csrf": csrf, "key": KEY}, follow_redirects=False)
        assert r.status_code == 303, r.text
        for name, path in pages:
            times = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - start)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
            results.append((name, statistics.median(times) * 1000, max(times) * 1000))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--postgres", help="a PostgreSQL superuser's URL: a fresh database")
    args = parser.parse_args()
    from dupgate.store.db import migrate

    data_dir = Path(tempfile.mkdtemp(prefix="dg-console-bench-"))
    if args.postgres:
        import psycopg

        name = f"console_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        database_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
        database_url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    else:
        database_url = f"sqlite:///{data_dir / 'dupgate.db'}"
    try:
        migrate(database_url)
        started = time.perf_counter()
        ids = seed(database_url, data_dir, args.images)
        print(f"seeded {args.images} images in {time.perf_counter() - started:.0f} s")
        results = measure(database_url, data_dir, ids)
    finally:
        # The seeded database holds each image's features: most of a gigabyte at 10,000.
        shutil.rmtree(data_dir, ignore_errors=True)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    lines = [
        f"| page ({args.images:,} images, {backend}) | median ms | slowest ms |",
        "|---|---|---|",
        *(f"| {name} | {median:.0f} | {worst:.0f} |" for name, median, worst in results),
    ]
    table = "\n".join(lines)
    print(table)
    header = (
        "# Admin console: page times\n\n`python -m benchmarks.console` (see its docstring): each "
        f"page asked {REPEATS} times through the app in one process, signed in as an admin; "
        "the time to the whole answer, without a network or a browser's rendering.\n\n"
    )
    previous = RESULTS.read_text() if RESULTS.exists() else header
    RESULTS.write_text(previous.rstrip() + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
