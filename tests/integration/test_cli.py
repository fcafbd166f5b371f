"""The `dupgate` command as a user runs it."""

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.integration.conftest import Server, base_env


def dupgate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dupgate.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_parts_refuse_an_unmigrated_database_and_say_what_to_run(tmp_path: Path) -> None:
    env = base_env(
        tmp_path,
        None,
        DUPGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'external.db'}",
        DUPGATE_REDIS_URL="redis://127.0.0.1:1/0",
    )
    for part in ("worker", "web"):
        result = dupgate(part, env=env)
        assert result.returncode == 2, result
        assert "dupgate migrate" in result.stderr

    assert dupgate("migrate", env=env).returncode == 0
    assert "newest schema" in dupgate("migrate", env=env).stdout


def test_parts_without_a_redis_say_how_to_get_one(tmp_path: Path) -> None:
    result = dupgate("worker", env=base_env(tmp_path, None))
    assert result.returncode == 2
    assert "DUPGATE_REDIS_URL" in result.stderr and "dupgate serve" in result.stderr


def test_a_created_key_opens_the_api(server: Server) -> None:
    result = dupgate(
        "keys", "create", "--name", "ci", env=base_env(server.data_dir, server.database_url)
    )
    key = result.stdout.strip()
    assert result.returncode == 0 and key.startswith("dg_")

    r = httpx.put(
        f"{server.url}/v1/collections/keyed", json={}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 200, r.text


def test_serve_prints_the_url_a_key_and_a_curl_example(server: Server) -> None:
    printed = server.log.read_text()
    assert f"serving on {server.url}" in printed
    assert "API key: test-bootstrap-key" in printed
    assert "curl -H 'Authorization: Bearer test-bootstrap-key' -F file=@photo.jpg" in printed
