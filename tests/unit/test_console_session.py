"""The console's session cookie: signed, expiring, and bound to the secret; the development
secret is made once per data directory and readable by its owner only."""

import stat
from pathlib import Path

import pytest

from dupgate.gateway.admin.session import (
    CsrfRefused,
    check_csrf,
    console_secret,
    new_visit,
    sign,
    unsign,
)
from dupgate.settings import Settings

SECRET = b"s" * 32


def test_a_signed_visit_reads_back_until_it_expires() -> None:
    visit = new_visit(key_id="key-1")
    value = sign(SECRET, visit)
    assert unsign(SECRET, value, max_age=60) == visit
    assert unsign(SECRET, value, max_age=60, now=visit.signed_in_at + 61) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v.replace(v.split(".")[0], v.split(".")[0][:-2] + "AA"),  # another payload
        lambda v: v.split(".")[0] + ".",  # no signature
        lambda v: v + "x",  # another signature
        lambda v: "not-a-cookie",
    ],
)
def test_a_changed_cookie_is_no_session(tamper: object) -> None:
    value = sign(SECRET, new_visit(key_id="key-1"))
    assert unsign(SECRET, tamper(value), max_age=60) is None  # type: ignore[operator]
    assert unsign(b"t" * 32, value, max_age=60) is None


def test_each_visit_has_its_own_csrf_token_and_only_it_passes() -> None:
    one, two = new_visit(), new_visit()
    assert one.csrf != two.csrf and len(one.csrf) >= 32
    check_csrf(one.csrf, one.csrf)
    for sent in ("", two.csrf, one.csrf[:-1]):
        with pytest.raises(CsrfRefused):
            check_csrf(sent, one.csrf)


def test_development_makes_one_secret_per_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUPGATE_CONSOLE_SECRET", raising=False)
    settings = Settings(data_dir=tmp_path)
    first = console_secret(settings)
    assert len(first) >= 32 and console_secret(Settings(data_dir=tmp_path)) == first
    assert stat.S_IMODE((tmp_path / "console-secret").stat().st_mode) == 0o600
    assert console_secret(Settings(data_dir=tmp_path / "other")) != first
    monkeypatch.setenv("DUPGATE_CONSOLE_SECRET", "x" * 40)
    assert console_secret(Settings(data_dir=tmp_path)) == b"x" * 40
