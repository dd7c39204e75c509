"""The docs page in a real browser: Swagger UI renders and calls the API.

Runs headless Chromium through chromedriver (Debian's `chromium` and
`chromium-driver` packages) with Selenium; nothing is downloaded, and the
page loads nothing but this server's files. Skipped without Chromium.
"""
import json
import time
from pathlib import Path

import pytest

from api.v1.views.docs import source_document
from chromium import MISSING, SKIP_REASON, WAIT_SECONDS, open_chromium
from conftest import api_server, create_user

if MISSING:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path):
    """Yield a headless Chromium driven by chromedriver; quit it after."""
    driver = open_chromium(tmp_path, "1280,2000")
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
        listed = []
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock"):
            method = block.find_element(
                By.CSS_SELECTOR, ".opblock-summary-method").text
            path = block.find_element(
                By.CSS_SELECTOR, ".opblock-summary-path").get_attribute(
                "data-path")
            listed.append((method, path))
        assert ("GET", "/api/v1/status") in listed
        assert ("POST", "/api/v1/auth_session/login") in listed
        assert ("DELETE", "/api/v1/auth_session/sessions/{handle}") in listed
        documented = {(method.upper(), path) for path, item
                      in source_document()["paths"].items()
                      for method in item if method != "parameters"}
        assert len(listed) == len(set(listed))
        assert set(listed) == documented
        schemes = browser.find_element(
            By.CSS_SELECTOR, ".auth-wrapper .authorize")
        assert schemes.is_displayed()

        code, body = try_it_out(browser, "operations-status-getStatus", {})
        assert code == "200"
        assert json.loads(body) == {"status": "OK"}
        assert "/api/v1/status" in server.output()

        assert severe_console_messages(browser) == []
    assert time.monotonic() - started < 60


def severe_console_messages(browser, expected: str = "\0") -> list:
    """Return the browser console's errors (a refused file, CSP, script).

    Messages that contain `expected` are left out.
    """
    return [entry for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE"
            and expected not in entry["message"]]


def try_it_out(browser, operation: str, values: dict) -> tuple:
    """Run `operation` (its DOM id) from the page with these inputs.

    Returns the status code and body text the page shows.
    """
    wait = WebDriverWait(browser, WAIT_SECONDS)
    root = "#" + operation
    browser.find_element(By.CSS_SELECTOR,
                         root + " .opblock-summary").click()
    wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, root + " .try-out__btn"))).click()
    for name, value in values.items():
        field = wait.until(EC.visibility_of_element_located(
            (By.CSS_SELECTOR, root + ' input[placeholder="{}"]'.format(
                name))))
        field.clear()
        field.send_keys(value)
    browser.find_element(By.CSS_SELECTOR, root + " .execute").click()
    code = wait.until(EC.visibility_of_element_located(
        (By.CSS_SELECTOR, root + " .live-responses-table .response "
         ".response-col_status")))
    body = browser.find_element(
        By.CSS_SELECTOR, root + " .live-responses-table "
        ".response-col_description pre")
    return code.text.strip(), body.text


def test_login_from_the_page_lets_the_page_call_guarded_routes(
        workdir, browser):
    user = create_user("bob@hbtn.io", "H0lberton!")
    with api_server(workdir, AUTH_TYPE="session_db_auth") as server:
        browser.get(server.url + "/api/v1/docs")
        WebDriverWait(browser, WAIT_SECONDS).until(
            EC.presence_of_element_located(
                (By.ID, "operations-sessions-login")))
        code, body = try_it_out(browser, "operations-users-getUser",
                                {"user_id": "me"})
        assert code == "401"
        assert json.loads(body) == {"error": "Unauthorized"}

        code, body = try_it_out(browser, "operations-sessions-login", {
            "email": "bob@hbtn.io", "password": "H0lberton!"})
        assert code == "200"
        assert json.loads(body)["id"] == user.id
        cookie = browser.get_cookie("_my_session_id")
        assert cookie is not None and cookie["httpOnly"]

        browser.find_element(By.CSS_SELECTOR,
                             "#operations-users-getUser .execute").click()
        WebDriverWait(browser, WAIT_SECONDS).until(
            lambda driver: driver.find_element(
                By.CSS_SELECTOR, "#operations-users-getUser "
                ".live-responses-table .response .response-col_status"
            ).text.strip() == "200")
        assert severe_console_messages(
            browser, "/api/v1/users/me - Failed to load resource: the "
            "server responded with a status of 401") == []
