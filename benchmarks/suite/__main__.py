"""How long the test suite takes here and at an older commit, in one run of each, one after the other.

    .venv/bin/python -m benchmarks.suite [--base 3866b0f] [--skip-base]

The older commit is checked out with `git worktree` into a temporary folder and run with this
checkout's .venv (its code first on PYTHONPATH, so its own gateway, workers and domain are
imported, also by the servers it spawns). This checkout is then run twice: as `scripts/test`
runs it by default, and with `--run-slow` as CI does. Every run is plain pytest (no ruff or
mypy), with what the environment sets: DUPGATE_TEST_POSTGRES_URL adds the PostgreSQL runs,
DUPGATE_TEST_BROWSER=required the browser test. Nothing else should run on the machine
meanwhile. Prints a table and appends it to benchmarks/suite/RESULTS.md.
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
# The last commit before the suite's rework (issue 10): every test migrated a fresh database,
# no test ran the app in-process, the 1,000-photo scan ran by default.
BASE = "3866b0f"


@dataclass
class Run:
    label: str
    commit: str
    seconds: float
    summary: str  # pytest's last line, e.g. "456 passed, 1 skipped in 273.53s"
    ok: bool


def run_pytest(label: str, code: Path, *args: str) -> Run:
    """One pytest run of the checkout at `code`, timed as a whole process."""
    env = dict(os.environ, PYTHONPATH=str(code))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    print(f"{label}: {' '.join(argv[1:])} in {code}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = next(
        (x.strip("= ") for x in reversed(lines) if re.search(r"\d+ (passed|failed)", x)), ""
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=code, capture_output=True, text=True
    ).stdout.strip()
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    return Run(label, commit, seconds, summary, done.returncode == 0)


def table(runs: list[Run], base: Run | None) -> list[str]:
    rows = [
        "| run | commit | wall seconds | vs base | pytest says |",
        "|---|---|---:|---:|---|",
    ]
    for r in runs:
        ratio = f"{(r.seconds / base.seconds - 1) * 100:+.1f}%" if base else "–"
        flag = "" if r.ok else " (FAILED)"
        rows.append(f"| {r.label} | {r.commit} | {r.seconds:.1f} | {ratio} | {r.summary}{flag} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=BASE, help="the older commit to compare with")
    parser.add_argument("--skip-base", action="store_true", help="time this checkout only")
    args = parser.parse_args()

    runs: list[Run] = []
    base: Run | None = None
    if not args.skip_base:
        with tempfile.TemporaryDirectory(prefix="dupgate-suite-") as tmp:
            tree = Path(tmp) / "base"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), args.base], cwd=ROOT, check=True
            )
            (tree / ".venv").symlink_to(ROOT / ".venv")
            # The tests read ../shared/datasets beside the checkout.
            (Path(tmp) / "shared").symlink_to(ROOT.parent / "shared")
            try:
                base = run_pytest(f"base ({args.base})", tree)
                runs.append(base)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    runs.append(run_pytest("this checkout", ROOT))
    runs.append(run_pytest("this checkout, --run-slow (as CI)", ROOT, "--run-slow"))

    backends = "SQLite and PostgreSQL" if os.environ.get("DUPGATE_TEST_POSTGRES_URL") else "SQLite"
    browser = os.environ.get("DUPGATE_TEST_BROWSER", "if found")
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores",
        "",
        f"Databases: {backends}; browser: {browser}. One run of each, one after the other.",
        "",
        *table(runs, base),
        "",
    ]
    print("\n".join(lines))
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
