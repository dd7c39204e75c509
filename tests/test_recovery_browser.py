"""The recovery page in a real browser (account-security §7.4).

Headless Chromium (Debian's `chromium` and `chromium-driver`, through
Selenium) asks for a reset on `/account/recover`, the test reads the
message from a real SMTP server (aiosmtpd in this process), follows its
link, and sets the new password on the page. Skipped without Chromium.
"""
import time
from pathlib import Path

import pytest
import requests

from chromium import MISSING, SKIP_REASON, WAIT_SECONDS, open_chromium
from conftest import api_server, create_user
from mail_sink import link_of

if MISSING:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PUBLIC = "http://public.example"
"""`PUBLIC_BASE_URL` of the server; the test swaps it for the real URL."""
BOB = ("bob@hbtn.io", "H0lberton!")
NEW = "a brand new passphrase"


@pytest.fixture
def browser(tmp_path: Path):
    """Yield a headless Chromium; quit it after."""
    driver = open_chromium(tmp_path, "1000,900")
    try:
        yield driver
    finally:
        driver.quit()


def status_text(browser, contains: str) -> str:
    """Return the page's status line once it holds `contains`."""
    try:
        WebDriverWait(browser, WAIT_SECONDS).until(
            EC.text_to_be_present_in_element((By.ID, "status"), contains))
    except Exception:
        raise AssertionError("status: {!r}; console: {}".format(
            browser.find_element(By.ID, "status").text,
            browser.get_log("browser")))
    return browser.find_element(By.ID, "status").text


def test_forgot_password_from_the_page_to_a_new_password(workdir, browser,
                                                         sink):
    started = time.monotonic()
    create_user(*BOB)
    with api_server(workdir, AUTH_TYPE="session_db_auth", MAIL_URL=sink.url,
                    PUBLIC_BASE_URL=PUBLIC, NOTICES="") as server:
        page = requests.get(server.url + "/account/recover", timeout=10)
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "script-src 'self'" in page.headers[
            "Content-Security-Policy"]
        old = requests.post(server.url + "/api/v1/auth_session/login",
                            data={"email": BOB[0], "password": BOB[1]},
                            timeout=10).cookies["_my_session_id"]

        browser.get(server.url + "/account/recover")
        assert browser.find_element(By.ID, "reset-section").get_attribute(
            "hidden") is not None
        browser.find_element(By.ID, "email").send_keys(BOB[0])
        browser.find_element(By.ID, "request-button").click()
        assert "a message is on its way" in status_text(
            browser, "on its way")

        [message] = sink.wait_for(1)
        link, token = link_of(message)
        assert link.startswith(PUBLIC + "/account/recover#token=")
        browser.get(link.replace(PUBLIC, server.url))
        WebDriverWait(browser, WAIT_SECONDS).until(
            EC.visibility_of_element_located((By.ID, "new-password")))
        assert token not in browser.current_url   # dropped from history
        browser.find_element(By.ID, "new-password").send_keys(NEW)
        browser.find_element(By.ID, "new-password-again").send_keys(NEW)
        browser.find_element(By.ID, "reset-button").click()
        assert "Your password was changed" in status_text(
            browser, "password was changed")

        # The same link again: used.
        browser.get(link.replace(PUBLIC, server.url))
        WebDriverWait(browser, WAIT_SECONDS).until(
            EC.visibility_of_element_located((By.ID, "new-password")))
        browser.find_element(By.ID, "new-password").send_keys(NEW)
        browser.find_element(By.ID, "new-password-again").send_keys(NEW)
        browser.find_element(By.ID, "reset-button").click()
        assert "no longer valid" in status_text(browser, "no longer valid")

        me = requests.get(server.url + "/api/v1/users/me",
                          cookies={"_my_session_id": old}, timeout=10)
        assert me.status_code == 403
        login = requests.post(server.url + "/api/v1/auth_session/login",
                              data={"email": BOB[0], "password": NEW},
                              timeout=10)
        assert login.status_code == 200
        # The token never reached the server's log (it is in the fragment).
        assert token not in server.output()
        severe = [entry for entry in browser.get_log("browser")
                  if entry["level"] == "SEVERE"
                  and "recovery/confirm" not in entry["message"]]
        assert severe == []
    assert time.monotonic() - started < 60
