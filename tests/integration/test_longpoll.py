"""Long-polls (`?wait=`) wait on decision notifications and hold no database connection."""

import asyncio
import contextlib
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PHOTOS
from tests.databases import admin_url
from tests.servers import KEY, Server, running_server, server_pids
from tests.waiting import wait_until

WAITERS = 200
UPLOADERS = 4
PER_UPLOADER = 8


@pytest.fixture(scope="module")
def longpoll_server(server: Server) -> Server:
    # Two hundred clients on one event loop, on a busy machine, may pause an upload's body for
    # seconds: the server keeps the shipped idle timeout (30 s), which tells a stall from that.
    server.put_collection("longpoll")
    return server


def transactions(server: Server, complete: bool = True) -> int:
    """Transactions PostgreSQL has counted in the server's database: once all are counted, or
    (not `complete`) those it has taken in so far.

    A backend reports its counts at the end of a transaction at most every second, and what it
    has not reported yet 10 s after it went idle, or when it exits. So to count all at once,
    the idle backends of the database are ended (the server's pools reconnect when next used);
    a paused worker's open transaction is left alone: it has nothing to report until it goes
    on. Both are read from another database, so that reading them adds nothing to the count."""
    assert server.database_url is not None
    name = make_url(server.database_url).database
    engine = create_engine(admin_url())
    backends = " FROM pg_stat_activity WHERE datname = :name AND backend_type = 'client backend'"
    end_idle = text(f"SELECT pg_terminate_backend(pid){backends} AND state = 'idle'")
    left = text(f"SELECT count(*){backends} AND state IN ('idle', 'active')")
    count = text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :name")

    def reported() -> bool:
        with engine.connect() as c:
            c.execute(end_idle, {"name": name})
            return c.execute(left, {"name": name}).scalar_one() == 0

    try:
        if complete:
            wait_until(reported, timeout=60, interval=0.2, what="the server's backends reported")
        with engine.connect() as c:
            return int(c.execute(count, {"name": name}).scalar_one())
    finally:
        engine.dispose()


def photos(count: int, skip: int = 0) -> list[Path]:
    found = sorted(PHOTOS.glob("*.JPEG"))[skip : skip + count]
    if len(found) < count:
        pytest.skip(f"the shared dataset {PHOTOS} is not here")
    return found


async def crowd(server: Server, uploads: list[list[Path]], waiters: int) -> dict[str, Any]:
    """Uploading clients post their photos while `waiters` clients long-poll undecided uploads."""
    # The gateway closes a connection idle for 5 s (uvicorn's keep-alive timeout). A client that
    # keeps idle connections exactly as long (httpx's default) may send a request on one just as
    # the gateway closes it, and reads a reset: a client-side race, not the gateway's answer.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2)
    statuses: Counter[int] = Counter()
    undecided: list[str] = []
    decided: dict[str, str] = {}
    uploading = len(uploads)
    in_flight = most_in_flight = 0
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=90, limits=limits
    ) as client:

        async def long_poll(upload_id: str) -> dict[str, Any]:
            nonlocal in_flight, most_in_flight
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
            try:
                r = await client.get(f"/v1/uploads/{upload_id}", params={"wait": 30})
            finally:
                in_flight -= 1
            statuses[r.status_code] += 1
            view: dict[str, Any] = r.json() if r.status_code == 200 else {}
            if view.get("status") in ("decided", "failed"):
                decided[upload_id] = view["status"]
                if upload_id in undecided:
                    undecided.remove(upload_id)
            return view

        async def uploader(own: list[Path]) -> None:
            nonlocal uploading
            ids = []
            for path in own:
                r = await client.post(
                    "/v1/collections/longpoll/images",
                    files={"file": (path.name, path.read_bytes())},
                )
                statuses[r.status_code] += 1
                ids.append(r.json()["upload_id"])
                undecided.append(ids[-1])
            for upload_id in ids:
                while (await long_poll(upload_id)).get("status") not in ("decided", "failed"):
                    pass
            uploading -= 1

        async def waiter() -> None:
            while uploading or undecided:
                if not undecided:
                    await asyncio.sleep(0.01)
                    continue
                await long_poll(undecided[-1])

        await asyncio.gather(*(uploader(u) for u in uploads), *(waiter() for _ in range(waiters)))
    return {"statuses": statuses, "decided": decided, "most_in_flight": most_in_flight}


def test_200_long_polls_beside_uploading_clients_all_answer_without_errors(
    longpoll_server: Server,
) -> None:
    # Each long-poll used to read the database every 50 ms on a pooled connection: 200 of them
    # beside uploading clients exhausted the pool (500 QueuePool limit reached).
    mine = photos(UPLOADERS * PER_UPLOADER)
    uploads = [mine[i::UPLOADERS] for i in range(UPLOADERS)]
    seen = asyncio.run(crowd(longpoll_server, uploads, WAITERS))

    statuses = seen["statuses"]
    assert set(statuses) == {200, 202}, f"{statuses}; log: {longpoll_server.log}"
    assert statuses[202] == UPLOADERS * PER_UPLOADER
    assert set(seen["decided"].values()) == {"decided"}
    assert len(seen["decided"]) == UPLOADERS * PER_UPLOADER
    # The waiters really waited together (they start as soon as the first upload is posted).
    assert seen["most_in_flight"] >= WAITERS


@contextlib.contextmanager
def workers_paused(server: Server) -> Iterator[None]:
    """Stop the server's workers (SIGSTOP) so that its uploads stay queued, and go on after."""
    pids = server_pids(server, b"celery", b"dupgate.workers.app")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_a_waiting_long_poll_does_not_read_the_database_while_it_waits(
    longpoll_server: Server,
) -> None:
    # Each `?wait=` used to read its upload every 50 ms for as long as it waited: 200 waiters
    # were thousands of reads a second, and exhausted SQLite's pool (500 QueuePool limit
    # reached). PostgreSQL counts every transaction, so there the reads can be counted.
    if longpoll_server.database_url is None:
        pytest.skip("SQLite keeps no count of transactions")
    waiters, wait = 100, 4
    with workers_paused(longpoll_server):
        queued = longpoll_server.upload("longpoll", photos(1, skip=200)[0].read_bytes())
        # What came before and is not counted yet is counted in `used` below: a stricter
        # bound, so this count need not wait for it.
        before = transactions(longpoll_server, complete=False)

        async def wait_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=longpoll_server.url,
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=60,
                limits=httpx.Limits(max_connections=None),
            ) as client:
                return await asyncio.gather(
                    *(
                        client.get(f"/v1/uploads/{queued}", params={"wait": wait})
                        for _ in range(waiters)
                    )
                )

        answers = asyncio.run(wait_all())
        used = transactions(longpoll_server) - before
    assert [r.status_code for r in answers] == [200] * waiters
    assert {r.json()["status"] for r in answers} == {"queued"}
    # Each long-poll reads its upload before and after waiting, however long it waits, and
    # long-polls of one upload that read at once share the read: 80 transactions in all here,
    # 632 before they shared. Reading every 50 ms it was 4,190 (42 each).
    assert used <= 12 * waiters, f"{used} transactions for {waiters} long-polls of {wait} s"
    assert longpoll_server.decided(queued)["status"] == "decided"


def test_long_polls_beyond_the_limit_are_told_to_retry_later() -> None:
    with running_server("sqlite", DUPGATE_MAX_UPLOAD_WAITERS="1") as server:
        server.put_collection("busy")
        ids = [server.upload("busy", p.read_bytes()) for p in photos(6, skip=100)]

        async def poll_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
            ) as client:
                return await asyncio.gather(
                    *(client.get(f"/v1/uploads/{i}", params={"wait": 30}) for i in ids)
                )

        answers = asyncio.run(poll_all())
        busy = [r for r in answers if r.status_code == 503]
        assert busy, "six long-polls of queued uploads, one allowed: some must be refused"
        assert {r.status_code for r in answers} <= {200, 503}
        for r in busy:
            assert r.headers["Retry-After"] == "1"
            assert r.json()["code"] == "too_many_waiters"
        # Polling without waiting is never refused.
        assert all(server.client.get(f"/v1/uploads/{i}").status_code == 200 for i in ids)
