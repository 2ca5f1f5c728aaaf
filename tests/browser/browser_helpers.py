"""Chromium under Selenium for the browser tests: a fake microphone fed from a WAV file.

A missing chromium or chromedriver fails the test (under CI=true always; locally unless
TRIO_PIPE_NO_BROWSER=1 is set, then it skips), as ``required_services`` does for Redis.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from required_services import missing

NO_BROWSER = "TRIO_PIPE_NO_BROWSER"
INSTALL = "apt-get install chromium chromium-driver (as .ci/run does)"

#: The flags every run uses (a fresh profile is added per run).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
)


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or the test fails/skips with how to install them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        missing("chromium and chromedriver are not installed", INSTALL, NO_BROWSER)
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing("selenium is not installed", "pip install -e '.[dev]'", NO_BROWSER)
    return browser, driver


@contextmanager
def chromium(mic_wav: Path) -> Iterator[object]:
    """A headless Chromium whose microphone plays ``mic_wav`` once; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = chromium_paths()
    with tempfile.TemporaryDirectory(prefix="trio-pipe-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--use-file-for-fake-audio-capture={mic_wav}%noloop")
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        web = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        try:
            yield web
        finally:
            web.quit()
