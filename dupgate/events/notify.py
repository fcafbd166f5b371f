"""Decision notifications over Redis pub/sub: published after the commit, awaited by long-polls.

Whoever commits a decision (a worker, or the gateway for a review) publishes the upload's id on
one channel once the transaction has committed (`dupgate.events.on_uploads_decided`). Each
gateway process keeps one subscription and wakes the requests waiting for that id, so a
long-poll holds no database connection while it waits: it reads the upload when it starts,
when it is woken and when it gives up, and the long-polls of one upload that read at the same
time share one read (the hundred waiters woken by one decision read it once). A lost
notification (Redis restarting) costs only latency: waiters read again every few seconds, and
all of them when the subscription is back.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

import redis
import redis.asyncio

from dupgate.settings import Settings, embedded_redis_socket

log = logging.getLogger(__name__)


CHANNEL = "dupgate:uploads-decided"


T = TypeVar("T")


def redis_url(settings: Settings) -> str:
    """A redis-py URL for the broker's Redis: the configured one, or the embedded server's."""
    url = settings.redis_url or f"unix://{embedded_redis_socket(settings.data_dir)}"
    # Celery's form for a unix socket; redis-py calls it unix://.
    return url.replace("redis+socket://", "unix://", 1)


@lru_cache(maxsize=4)
def _publisher(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def publish_decided(settings: Settings, upload_ids: Iterable[str]) -> None:
    """Tell every gateway that these uploads are decided (call after the commit)."""
    client = _publisher(redis_url(settings))
    for upload_id in upload_ids:
        client.publish(CHANNEL, upload_id)


class TooManyWaiters(Exception):
    """The process already holds its limit of long-polls."""


class DecisionWaiters:
    """The long-polls of one gateway process, woken by one Redis subscription."""

    # How often a waiter reads the upload again without a notification, in case a publish
    # failed while the subscription stayed up (a lost subscription wakes every waiter anyway).
    recheck_seconds = 10.0

    def __init__(self, url: str, limit: int) -> None:
        self.url = url
        self.limit = limit
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._reads: dict[str, asyncio.Future[Any]] = {}
        self._count = 0
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def count(self) -> int:
        """Requests waiting now."""
        return self._count

    @asynccontextmanager
    async def watch(self, upload_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set when the upload may have been decided; TooManyWaiters past the limit.

        Registered before the caller first reads the upload, so a decision committed after that
        read is never missed.
        """
        if self._count >= self.limit:
            raise TooManyWaiters(
                f"this gateway already holds {self.limit} long-polls; retry shortly, or poll "
                "without wait"
            )
        self._count += 1
        woken = asyncio.Event()
        self._waiting.setdefault(upload_id, set()).add(woken)
        try:
            if self._listener is None or self._listener.done():
                self._listener = asyncio.create_task(self._listen())
            # Redis away: go on without it, reading again every recheck_seconds.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), timeout=2)
            yield woken
        finally:
            self._count -= 1
            waiting = self._waiting.get(upload_id)
            if waiting is not None:
                waiting.discard(woken)
                if not waiting:
                    del self._waiting[upload_id]

    async def shared_read(self, upload_id: str, read: Callable[[], Awaitable[T]]) -> T:
        """What `read()` reads of the upload, shared with the other reads of it in flight.

        A read in flight is joined only while no notification for the upload has come since it
        began, so a waiter never gets the upload as it was before the decision that woke it,
        and a waiter that registered after a decision never gets what was read before it.
        """
        pending = self._reads.get(upload_id)
        if pending is None:
            pending = asyncio.ensure_future(read())
            self._reads[upload_id] = pending
            pending.add_done_callback(lambda done: self._forget_read(upload_id, done))
        # One waiter going away (its client disconnected) does not cancel the others' read.
        result: T = await asyncio.shield(pending)
        return result

    def _forget_read(self, upload_id: str, done: "asyncio.Future[Any]") -> None:
        if self._reads.get(upload_id) is done:
            del self._reads[upload_id]

    async def close(self) -> None:
        """Stop listening (at shutdown)."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    async def _listen(self) -> None:
        while True:
            client = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] == "subscribe":
                            self._subscribed.set()
                            self._wake_all()  # whatever was decided while we were away
                        elif message["type"] == "message":
                            decided = message["data"].decode()
                            self._reads.pop(decided, None)  # read before the decision
                            for woken in self._waiting.get(decided, ()):
                                woken.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lost the decision notifications; reconnecting", exc_info=True)
            finally:
                self._subscribed.clear()
                await client.aclose()
            await asyncio.sleep(1)

    def _wake_all(self) -> None:
        self._reads.clear()
        for waiting in self._waiting.values():
            for woken in waiting:
                woken.set()
