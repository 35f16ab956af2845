"""Headless Chromium (Debian's, installed by `make test`) for tests of the pages we write."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("chromium is not installed: run `make debian-packages` (make test does)")
    return found


def rendered_dom(page: Path, screenshot: str | None = None) -> str:
    """The DOM Chromium builds from the file ``page``; a screenshot to test-artifacts/ if named."""
    with tempfile.TemporaryDirectory() as profile:
        args = [chromium(), *FLAGS, f"--user-data-dir={profile}"]
        if screenshot:
            ARTIFACTS.mkdir(exist_ok=True)
            shot = [f"--screenshot={ARTIFACTS / screenshot}", "--window-size=1400,3000"]
            _run([*args, *shot, page.resolve().as_uri()])
        return _run([*args, "--dump-dom", page.resolve().as_uri()])


def _run(command: list[str]) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout


@contextmanager
def chrome_driver(window_size: tuple[int, int] = (1400, 1000)) -> Iterator[WebDriver]:
    """A selenium-driven headless Chromium (Debian's browser and driver), closed on exit.

    ``SE_OFFLINE`` keeps Selenium Manager from looking for drivers on the internet; each session
    gets a fresh profile directory.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        width, height = window_size
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        try:
            yield driver
        finally:
            driver.quit()
