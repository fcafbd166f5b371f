"""A real headless browser for the tests that open HTML reports: Debian's Chromium through its
chromedriver, never a downloaded one. CI sets DUPGATE_TEST_BROWSER=required, so that a missing
browser fails there instead of skipping."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def chromium() -> Iterator[tuple[Any, dict[str, int]]]:
    """Debian's Chromium through its chromedriver, started once for the session (never a
    downloaded browser), and its window's size at the start."""
    required = os.environ.get("DUPGATE_TEST_BROWSER") == "required"
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        message = f"no headless browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver)"
        if required:
            pytest.fail(message + "; DUPGATE_TEST_BROWSER=required")
        pytest.skip(message)
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must not try to fetch anything
    profile = tempfile.mkdtemp(prefix="dg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver, driver.get_window_size()
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium: tuple[Any, dict[str, int]]) -> Any:
    """The session's browser as a new visitor sees it: no cookies (the console's session is
    its only state), a blank page and the window size it started with. Starting Chromium for
    every test cost about a second each."""
    driver, size = chromium
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.get("about:blank")
    driver.set_window_size(size["width"], size["height"])
    return driver


def shown_in_browser(browser: Any, page: Path) -> dict[str, Any]:
    """Open a report file and read what it shows: groups, images (and how many loaded), keepers,
    the title, and each image's first caption line."""
    browser.get(page.as_uri())
    seen: dict[str, Any] = browser.execute_script(
        """
        const images = [...document.images];
        return {
          groups: document.querySelectorAll("section.group").length,
          images: images.length,
          loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
          keepers: document.querySelectorAll("figure.keeper img").length,
          title: document.title,
          labels: [...document.querySelectorAll("figcaption > div:first-child")].map(d => d.textContent),
        };
        """
    )
    return seen
