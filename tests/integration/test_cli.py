"""The `dupgate` command as a user runs it."""

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from dupgate.cli import embedded_redis
from tests.conftest import ROOT, photo
from tests.servers import (
    KEY,
    Server,
    base_env,
    free_port,
    short_tmp_dir,
    wait_healthy,
)


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


def test_keys_create_makes_a_key_of_one_tenant_with_its_scopes(server: Server) -> None:
    env = base_env(server.data_dir, server.database_url)
    result = dupgate("keys", "create", "--tenant", "acme", "--scopes", "upload", env=env)
    assert result.returncode == 0, result.stderr
    uploader = server.with_key(result.stdout.strip())

    r = uploader.client.put("/v1/collections/acme-shop", json={})
    assert r.status_code == 403 and "'admin' scope" in r.json()["detail"]
    server.put_collection("acme-shop", {"tenant": "acme"})
    assert uploader.post_image("acme-shop", photo("n01440764").read_bytes()).status_code == 202

    bad = dupgate("keys", "create", "--tenant", "acme", "--scopes", "root", env=env)
    assert bad.returncode == 2 and "upload, read, admin" in bad.stderr


def test_serve_prints_the_url_and_a_curl_example_but_never_the_bootstrap_key(
    server: Server,
) -> None:
    assert server.log is not None, "this server was spawned"
    printed = server.log.read_text()
    assert f"serving on {server.url}" in printed
    assert "API key: the one in DUPGATE_BOOTSTRAP_KEY" in printed
    assert 'curl -H "Authorization: Bearer $DUPGATE_BOOTSTRAP_KEY" -F file=@photo.jpg' in printed
    assert f"-F file=@clip.mp4 {server.url}/v1/collections/demo/videos" in printed
    assert f"console: {server.url}/admin" in printed
    assert KEY not in printed


def test_serve_on_a_fresh_data_dir_prints_a_working_key_and_stops_on_ctrl_c() -> None:
    data_dir = short_tmp_dir()
    port = free_port()
    env = base_env(data_dir, None)
    del env["DUPGATE_BOOTSTRAP_KEY"]
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dupgate.cli", "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, log)
        key = re.search(r"API key: (\S+)", log.read_text())
        assert key is not None, log.read_text()
        r = httpx.put(
            f"{url}/v1/collections/first", json={}, headers={"Authorization": f"Bearer {key[1]}"}
        )
        assert r.status_code == 200, r.text
    finally:
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=60)
    assert returncode == 0, log.read_text()
    # The embedded Redis, the gateway and the workers are gone with it.
    assert not embedded_redis.is_running(data_dir)
    assert httpx_refused(f"http://127.0.0.1:{port}/healthz")
    shutil.rmtree(data_dir, ignore_errors=True)


def httpx_refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return True
    return False
