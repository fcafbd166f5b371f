"""Each fault against a real dupgate with the shipped recovery defaults, and a table of results.

    .venv/bin/python -m benchmarks.chaos [--postgres URL] [--uploads 40] [--only redis,...]

Faults: the broker restarted (the embedded Redis keeps nothing, so every queued message is
lost), the database away for 60 s (PostgreSQL refusing connections and cutting the open ones;
needs --postgres, an admin URL on which a database can be created), the disk full for 30 s
(a tmpfs in a user namespace, filled and then freed), and a worker host killed with SIGKILL
while it holds an upload. Uploads are sent before the fault and a client keeps sending during
it, retrying each refused one (503/507) after its Retry-After with the same Idempotency-Key,
as a real client would. Results go to benchmarks/chaos/RESULTS.md.
"""

import argparse
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.chaos.cluster import Cluster, photos, wait_decided

RESULTS = Path(__file__).parent / "RESULTS.md"


@dataclass
class Row:
    fault: str
    sent: int
    refused: int
    lost: int
    twice: int
    failed: int
    undecided: int
    recovery_s: float


class Sender:
    """A client sending photos one after another, retrying refusals with the same key."""

    def __init__(self, cluster: Cluster, collection: str, contents: list[bytes]) -> None:
        self.cluster, self.collection, self.contents = cluster, collection, contents
        self.sent: list[str] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(base_url=self.cluster.url, headers=self.cluster.client.headers) as c:
            for content in self.contents:
                key = uuid.uuid4().hex
                while not self.stop.is_set():
                    try:
                        r = c.post(
                            f"/v1/collections/{self.collection}/images",
                            files={"file": ("photo.jpg", content)},
                            headers={"Idempotency-Key": key},
                            timeout=30,
                        )
                    except httpx.TransportError:
                        time.sleep(1)
                        continue
                    if r.status_code == 202:
                        self.sent.append(r.json()["upload_id"])
                        break
                    self.refused += 1
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                time.sleep(0.2)


def scenario(name: str, args: argparse.Namespace) -> Row:
    pg_name = None
    database_url = None
    if name == "database":
        base = make_url(args.postgres)
        pg_name = f"dupgate_chaos_{uuid.uuid4().hex[:8]}"
        with create_engine(base, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f'CREATE DATABASE "{pg_name}"'))
        database_url = base.set(database=pg_name).render_as_string(hide_password=False)
    cluster = Cluster.create(database_url, tmpfs_mib=256 if name == "disk" else None)
    try:
        cluster.start(workers=2, concurrency=1)
        collection = f"chaos-{name}"
        cluster.put_collection(collection)
        before = [cluster.upload(collection, p) for p in photos(args.uploads, start=0)]
        sender = Sender(cluster, collection, photos(args.uploads, start=args.uploads))
        sender.thread.start()
        fault_end = do_fault(name, cluster, args, pg_name)
        sender.thread.join(timeout=300)
        sender.stop.set()
        sent = before + sender.sent
        outcome = wait_decided(cluster, sent, timeout=300)
        return Row(
            name,
            len(sent),
            sender.refused,
            len(outcome.lost),
            len(outcome.decided_twice),
            len(outcome.failed),
            len(outcome.undecided),
            outcome.last_decided_after(fault_end),
        )
    finally:
        cluster.close()
        if pg_name:
            with create_engine(args.postgres, isolation_level="AUTOCOMMIT").connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


def do_fault(name: str, cluster: Cluster, args: argparse.Namespace, pg: str | None) -> datetime:
    """Do the fault, wait while it lasts, end it; returns when it ended."""
    time.sleep(1)
    if name == "redis":
        cluster.stop_redis()
        time.sleep(10)
        cluster.start_redis()
    elif name == "database":
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{pg}" ALLOW_CONNECTIONS false'))
            c.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": pg},
            )
        time.sleep(60)
        with admin.connect() as c:
            c.execute(text(f'ALTER DATABASE "{pg}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    elif name == "disk":
        filler = cluster.visible_data_dir / "filler"
        try:
            with filler.open("wb") as f:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
        except OSError:
            pass
        time.sleep(30)
        filler.unlink()
    elif name == "host":
        # The second worker (no beat) dies with what it holds; nothing restarts it.
        doomed = cluster.processes[-1]
        cluster.kill(doomed)
    return datetime.now(UTC)


def table(rows: list[Row]) -> str:
    lines = [
        "| fault | uploads sent | refusals (503/507, retried) | lost | decided twice | failed "
        "| undecided | seconds from fault end to last decision |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.fault} | {r.sent} | {r.refused} | {r.lost} | {r.twice} | {r.failed} "
        f"| {r.undecided} | {r.recovery_s:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


FAULTS = {
    "redis": "Redis restarted (down 10 s, every queued message lost)",
    "database": "PostgreSQL refusing connections for 60 s",
    "disk": "disk full for 30 s, then freed",
    "host": "a worker host killed (SIGKILL) mid-upload, not restarted",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL for the database fault")
    parser.add_argument("--uploads", type=int, default=40, help="sent before, and during, a fault")
    parser.add_argument("--only", default=",".join(FAULTS))
    args = parser.parse_args()
    rows = []
    for name in args.only.split(","):
        if name == "database" and not args.postgres:
            print("skipping the database fault: give --postgres URL")
            continue
        rows.append(scenario(name, args))
        rows[-1].fault = FAULTS[name]
        print(table(rows[-1:]), flush=True)
    result = table(rows)
    print(result)
    RESULTS.write_text(
        "# Chaos: recovery after ordinary faults, with the shipped defaults\n\n"
        "`.venv/bin/python -m benchmarks.chaos --postgres postgresql://postgres@127.0.0.1/test`"
        f" on this project's 2-core machine, {datetime.now(UTC):%Y-%m-%d}: SQLite (PostgreSQL "
        "for the database fault), embedded Redis, two worker processes of one slot each "
        "(the first runs beat; the disk fault runs `dupgate serve` with one worker process "
        "inside a user namespace on a 256 MiB tmpfs); "
        f"{args.uploads} uploads sent before each fault and {args.uploads} by a client during "
        "it, retrying refusals after Retry-After with the same Idempotency-Key. The recovery "
        "time is from the end of the fault to the last upload's decision.\n\n" + result + "\n"
    )


if __name__ == "__main__":
    main()
