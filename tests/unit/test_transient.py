"""Faults that pass by themselves are retried until a deadline; other errors are not."""

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dupgate.store.db import get_engine, migrate, session_scope
from dupgate.transient import is_transient, retry_transient, storage_full


def test_a_full_disk_is_transient_and_says_so() -> None:
    with pytest.raises(OSError) as full, open("/dev/full", "wb", buffering=0) as f:
        f.write(b"x")
    assert storage_full(full.value) and is_transient(full.value)
    assert not is_transient(IntegrityError("INSERT", {}, Exception("duplicate key")))


def test_work_against_a_vanished_database_succeeds_once_it_is_back(tmp_path: Path) -> None:
    home = tmp_path / "db"
    url = f"sqlite:///{home / 'dupgate.db'}"
    migrate(url)
    get_engine(url).dispose()
    # The database "goes away" for about a second: its directory is moved aside and back, so
    # SQLite cannot open the file (a real OperationalError, as from a database that is down).
    away = home.rename(tmp_path / "away")
    threading.Timer(1.0, away.rename, (home,)).start()
    started = time.monotonic()

    def count_uploads() -> int:
        with session_scope(url) as s:
            return int(s.execute(text("SELECT count(*) FROM uploads")).scalar_one())

    assert retry_transient(count_uploads, deadline_seconds=10, max_interval=0.2) == 0
    assert 0.9 < time.monotonic() - started < 5


def test_a_fault_lasting_past_the_deadline_is_raised() -> None:
    calls = []

    def full_disk() -> None:
        calls.append(1)
        with open("/dev/full", "wb", buffering=0) as f:
            f.write(b"x")

    with pytest.raises(OSError):
        retry_transient(full_disk, deadline_seconds=0.5, first_interval=0.1, max_interval=0.1)
    assert 3 <= len(calls) <= 7
