"""The account page in Chromium, passkeys through a virtual authenticator.

Runs headless Chromium through chromedriver (Debian's `chromium` and
`chromium-driver`) against a real server, at `http://localhost:<port>`
(a secure context, and a host name WebAuthn accepts as RP id). The
virtual authenticator is CTAP2 over the internal transport, with
resident keys and user verification, as a phone or laptop's own is.
Skipped without Chromium.
"""
from pathlib import Path

import pyotp
import pytest

from chromium import MISSING, SKIP_REASON, WAIT_SECONDS, open_chromium
from conftest import api_server, create_user

if MISSING:
    pytest.skip(SKIP_REASON, allow_module_level=True)

from PIL import Image  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.virtual_authenticator import (  # noqa: E402
    VirtualAuthenticatorOptions)
from selenium.webdriver.support import expected_conditions as EC  # noqa
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path):
    """Yield a headless Chromium driven by chromedriver; quit it after."""
    driver = open_chromium(tmp_path, "1280,1000")
    try:
        yield driver
    finally:
        driver.quit()


def add_authenticator(browser) -> None:
    options = VirtualAuthenticatorOptions()
    options.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    options.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = True
    options.is_user_verified = True
    options.is_user_consenting = True
    browser.add_virtual_authenticator(options)


def console_errors(browser, allowed: tuple = ()) -> list:
    """Return the console's errors but those naming an `allowed` text."""
    return [entry for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE"
            and not any(text in entry["message"] for text in allowed)]


def visible(browser, element_id: str):
    try:
        return WebDriverWait(browser, WAIT_SECONDS).until(
            EC.visibility_of_element_located((By.ID, element_id)))
    except Exception:
        raise AssertionError("#{} not shown; notice: {!r}; console: {}".format(
            element_id, browser.find_element(By.ID, "notice").text,
            browser.get_log("browser")))


def notice_says(browser, text: str) -> None:
    WebDriverWait(browser, WAIT_SECONDS).until(
        EC.text_to_be_present_in_element((By.ID, "notice"), text))


def fetch_json(browser, path: str):
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then(r => r.json()).then(done, e => done(String(e)));", path)


def foreign_resources(browser, origin: str) -> list:
    names = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".map(e => e.name).concat([location.href]);")
    return [name for name in names if not name.startswith(origin + "/")
            and not name.startswith("blob:" + origin)]


def screenshot_is_not_blank(path: Path) -> None:
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 20, path


def test_register_a_passkey_log_out_and_log_in_with_it(workdir, browser):
    create_user("bob@hbtn.io", "H0lberton!")
    with api_server(workdir, AUTH_TYPE="session_auth") as server:
        origin = server.url.replace("127.0.0.1", "localhost")
        browser.get(origin + "/account")
        add_authenticator(browser)
        visible(browser, "login-view")
        assert console_errors(browser) == []
        assert foreign_resources(browser, origin) == []

        browser.find_element(By.ID, "login-email").send_keys("bob@hbtn.io")
        browser.find_element(By.ID, "login-password").send_keys(
            "H0lberton!")
        browser.find_element(By.ID, "login-submit").click()
        visible(browser, "account-view")
        assert browser.find_element(By.ID, "who").text == "bob@hbtn.io"

        browser.find_element(By.ID, "passkey-name").send_keys("Test key")
        browser.find_element(By.ID, "passkey-add").click()
        notice_says(browser, "Your passkey “Test key” was added.")
        assert len(browser.get_credentials()) == 1
        assert browser.get_credentials()[0].is_resident_credential
        listed = fetch_json(browser, "/api/v1/auth_session/passkeys")
        assert [key["name"] for key in listed] == ["Test key"]

        for width in (390, 1280):
            browser.set_window_size(width, 1000)
            shot = workdir / "account-{}.png".format(width)
            assert browser.save_screenshot(str(shot))
            screenshot_is_not_blank(shot)

        browser.find_element(By.ID, "logout").click()
        visible(browser, "login-view")
        notice_says(browser, "You are logged out.")

        browser.find_element(By.ID, "passkey-login").click()
        visible(browser, "account-view")
        sessions = fetch_json(browser, "/api/v1/auth_session/sessions")
        assert [s["amr"] for s in sessions if s["current"]] == [["hwk"]]
        listed = fetch_json(browser, "/api/v1/auth_session/passkeys")
        assert listed[0]["last_used_at"] is not None

        browser.find_element(
            By.CSS_SELECTOR, "#passkey-list li button.danger").click()
        notice_says(browser, "was removed")
        assert fetch_json(browser, "/api/v1/auth_session/passkeys") == []
        assert console_errors(browser) == []
        assert foreign_resources(browser, origin) == []


def test_a_refused_passkey_is_explained(workdir, browser):
    """A passkey the server does not know (removed there) is refused."""
    with api_server(workdir, AUTH_TYPE="session_auth") as server:
        origin = server.url.replace("127.0.0.1", "localhost")
        browser.get(origin + "/account")
        add_authenticator(browser)
        visible(browser, "login-view")
        browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.credentials.create({publicKey: {"
            "challenge: new Uint8Array(32), rp: {name: 'x', id: 'localhost'},"
            "user: {id: new Uint8Array([1]), name: 'x', displayName: 'x'},"
            "pubKeyCredParams: [{type: 'public-key', alg: -7}],"
            "authenticatorSelection: {residentKey: 'required',"
            "userVerification: 'required'}}}).then(() => done(1),"
            "e => done(String(e)));")
        browser.find_element(By.ID, "passkey-login").click()
        notice_says(browser, "That passkey could not be used to log in here.")
        assert browser.find_element(By.ID, "login-view").is_displayed()


def test_a_passkey_answers_the_second_step_of_a_totp_user(workdir, browser):
    """Password, then the passkey instead of a code: `amr` pwd and hwk."""
    create_user("bob@hbtn.io", "H0lberton!")
    with api_server(workdir, AUTH_TYPE="session_auth",
                    SECRET_KEY="k" * 32) as server:
        origin = server.url.replace("127.0.0.1", "localhost")
        browser.get(origin + "/account")
        add_authenticator(browser)
        visible(browser, "login-view")
        browser.find_element(By.ID, "login-email").send_keys("bob@hbtn.io")
        browser.find_element(By.ID, "login-password").send_keys(
            "H0lberton!")
        browser.find_element(By.ID, "login-submit").click()
        visible(browser, "account-view")

        visible(browser, "totp-start").click()
        secret = visible(browser, "totp-secret").text
        WebDriverWait(browser, WAIT_SECONDS).until(lambda b: b.execute_script(
            "const i = document.getElementById('totp-qr');"
            "return i.complete && i.naturalWidth > 100;"))
        browser.find_element(By.ID, "totp-code").send_keys(
            pyotp.TOTP(secret).now())
        browser.find_element(
            By.CSS_SELECTOR, "#totp-confirm-form button").click()
        codes = visible(browser, "codes-list")
        assert len(codes.find_elements(By.TAG_NAME, "li")) == 10
        browser.find_element(By.ID, "codes-done").click()

        browser.find_element(By.ID, "passkey-name").send_keys("Phone")
        browser.find_element(By.ID, "passkey-add").click()
        notice_says(browser, "Your passkey “Phone” was added.")
        browser.find_element(By.ID, "logout").click()
        visible(browser, "login-view")

        email = browser.find_element(By.ID, "login-email")
        assert email.get_attribute("value") == "bob@hbtn.io"
        browser.find_element(By.ID, "login-password").send_keys(
            "H0lberton!")
        browser.find_element(By.ID, "login-submit").click()
        visible(browser, "mfa-view").find_element(
            By.ID, "mfa-passkey").click()
        visible(browser, "account-view")
        sessions = fetch_json(browser, "/api/v1/auth_session/sessions")
        assert [s["amr"] for s in sessions if s["current"]] == [
            ["pwd", "hwk"]]
        # The spec's 401 "second factor required" is logged by Chromium
        # as a failed load; nothing else may be.
        assert console_errors(browser, (
            "/api/v1/auth_session/login - Failed to load resource: the "
            "server responded with a status of 401",)) == []
