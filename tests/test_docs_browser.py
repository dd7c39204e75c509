"""The docs page in a real browser: Swagger UI renders and calls the API.

Runs headless Chromium through chromedriver (Debian's `chromium` and
`chromium-driver` packages) with Selenium; nothing is downloaded, and the
page loads nothing but this server's files. Skipped without Chromium.
"""
import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import api_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("no Chromium: to run this test, install Debian's chromium "
                "and chromium-driver (apt-get install -y chromium "
                "chromium-driver)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_SECONDS = 20
"""The longest wait for any one thing the page should show."""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,2000"]


@pytest.fixture
def browser(tmp_path: Path):
    """Yield a headless Chromium driven by chromedriver; quit it after."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tmp_path.parent / (tmp_path.name + "-chromium-profile")
    profile.mkdir()
    options.add_argument("--user-data-dir={}".format(profile))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER),
                              options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def test_swagger_ui_lists_the_routes_and_runs_a_request(workdir, browser):
    started = time.monotonic()
    with api_server(workdir, AUTH_TYPE="basic_auth") as server:
        browser.get(server.url + "/api/v1/docs")
        wait = WebDriverWait(browser, WAIT_SECONDS)
        wait.until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, ".opblock-summary-path")))

        title = browser.find_element(By.CSS_SELECTOR, ".info .title")
        assert title.text.startswith("Session API")
        listed = [(block.find_element(
            By.CSS_SELECTOR, ".opblock-summary-method").text,
            block.find_element(
            By.CSS_SELECTOR, ".opblock-summary-path").get_attribute(
            "data-path")) for block in browser.find_elements(
            By.CSS_SELECTOR, ".opblock")]
        assert ("GET", "/api/v1/status") in listed
        assert ("POST", "/api/v1/auth_session/login") in listed
        assert ("DELETE", "/api/v1/auth_session/sessions/{handle}") in listed
        assert len(listed) == len(set(listed)) == 16
        schemes = browser.find_element(
            By.CSS_SELECTOR, ".auth-wrapper .authorize")
        assert schemes.is_displayed()

        status = browser.find_element(By.ID, "operations-status-getStatus")
        status.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        wait.until(EC.element_to_be_clickable(
            (By.CSS_SELECTOR, "#operations-status-getStatus .try-out__btn")
        )).click()
        wait.until(EC.element_to_be_clickable(
            (By.CSS_SELECTOR, "#operations-status-getStatus .execute")
        )).click()
        code = wait.until(EC.visibility_of_element_located(
            (By.CSS_SELECTOR, "#operations-status-getStatus "
             ".live-responses-table .response .response-col_status")))
        assert code.text.strip() == "200"
        body = browser.find_element(
            By.CSS_SELECTOR, "#operations-status-getStatus "
            ".live-responses-table .response-col_description pre")
        assert json.loads(body.text) == {"status": "OK"}
        assert "/api/v1/status" in server.output()

        errors = [entry for entry in browser.get_log("browser")
                  if entry["level"] == "SEVERE"]
        assert errors == []
    assert time.monotonic() - started < 60
