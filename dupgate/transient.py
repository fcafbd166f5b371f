"""Faults that pass by themselves: a database or broker that is restarting, a full disk.

Work that meets one is retried with backoff until a deadline instead of a fixed number of
times, so an outage of any length up to the deadline costs only its own duration.
"""

import errno
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from dupgate.store.blobs import BlobStoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# No space, or no quota, left: freed by someone, so worth waiting for; never the upload's fault.
STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def storage_full(e: BaseException) -> bool:
    """Whether `e` (or what caused it) is a write refused for want of space."""
    return any(isinstance(x, OSError) and x.errno in STORAGE_FULL for x in _chain(e))


def database_unavailable(e: BaseException) -> bool:
    """Whether `e` says the database cannot be reached or refuses work for now.

    OperationalError covers refused and dropped connections, a database that refuses
    connections, SQLite's unopenable or locked file and a full disk under either.
    """
    return isinstance(e, OperationalError | InterfaceError) or (
        isinstance(e, DBAPIError) and e.connection_invalidated
    )


def broker_unavailable(e: BaseException) -> bool:
    """Whether `e` says the broker (Redis) cannot be reached."""
    return isinstance(e, BrokerError | RedisConnectionError | RedisTimeoutError)


def blob_store_unavailable(e: BaseException) -> bool:
    """Whether `e` (or what caused it) says the blob store (an S3 server) cannot be reached."""
    return any(isinstance(x, BlobStoreUnavailable) for x in _chain(e))


def is_transient(e: BaseException) -> bool:
    """Whether retrying the same work later may succeed without anyone changing it."""
    return (
        database_unavailable(e)
        or broker_unavailable(e)
        or storage_full(e)
        or blob_store_unavailable(e)
    )


def retry_transient(
    work: Callable[[], T],
    *,
    deadline_seconds: float,
    first_interval: float = 0.5,
    max_interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run `work`; on a transient error wait (doubling up to `max_interval`) and run it again,
    until `deadline_seconds` have passed. Other errors, and the last transient one, propagate."""
    deadline = clock() + deadline_seconds
    interval = first_interval
    while True:
        try:
            return work()
        except Exception as e:
            if not is_transient(e) or clock() + interval > deadline:
                raise
            log.warning(
                "transient fault (%s: %s); retrying in %.1fs", type(e).__name__, e, interval
            )
        sleep(interval)
        interval = min(interval * 2, max_interval)


def _chain(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = e
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
