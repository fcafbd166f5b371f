"""Waiting for what a test can observe, instead of sleeping for a guess."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float, interval: float = 0.05, what: str = ""
) -> T:
    """Call `condition` until it returns something true, and return that; fail with `what`
    (or the condition's name) when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout} s: {what or condition.__name__}")
        time.sleep(interval)
