"""Headless Chromium for the browser tests, driven by chromedriver.

Debian's `chromium` and `chromium-driver` packages, through Selenium;
nothing is downloaded. Test modules skip themselves when `MISSING`.
"""
import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = CHROMIUM is None or CHROMEDRIVER is None
SKIP_REASON = ("no Chromium: to run this test, install Debian's chromium "
               "and chromium-driver (apt-get install -y chromium "
               "chromium-driver)")
WAIT_SECONDS = 20
"""The longest wait for any one thing a page should show."""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def open_chromium(tmp_path: Path, window: str):
    """Start Chromium with a fresh profile beside `tmp_path`.

    `window` is the window size, `"width,height"`. The browser's console
    is kept for the tests to read. The caller quits the driver.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + ["--window-size=" + window]:
        options.add_argument(flag)
    profile = tmp_path.parent / (tmp_path.name + "-chromium-profile")
    profile.mkdir()
    options.add_argument("--user-data-dir={}".format(profile))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER),
                              options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver
