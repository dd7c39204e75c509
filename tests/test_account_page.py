"""The account page as served (account-security §5.3), without a browser."""
import re
from pathlib import Path

import pytest

from api.v1.account import STATIC
from conftest import create_user, login


@pytest.fixture
def client(make_app):
    return make_app("session_auth").test_client()


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.get("/account")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    for name, kind in (("account.js", "text/javascript"),
                       ("account.css", "text/css"),
                       ("icon.svg", "image/svg+xml")):
        answer = client.get("/account/static/" + name)
        assert answer.status_code == 200, name
        assert answer.mimetype == kind
        assert answer.headers["Content-Security-Policy"] == policy


def test_the_html_has_no_inline_script_style_or_other_host():
    html = (Path(STATIC) / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []
    assert "style=" not in html and "<style" not in html
    assert re.findall(r"(?:src|href)=\"(?!/account/static/)", html) == []
    script = (Path(STATIC) / "account.js").read_text()
    assert "innerHTML" not in script and "eval(" not in script


def test_the_page_says_whether_a_session_cookie_came(client):
    assert b'name="session-cookie" content="no"' in client.get(
        "/account").data
    create_user()
    answer = login(client)
    assert answer.status_code == 200
    page = client.get("/account").data
    assert b'name="session-cookie" content="yes"' in page
    assert client.get_cookie("_my_session_id").value.encode() not in page


def test_totp_qr_is_drawn_as_svg_and_refuses_anything_else(client):
    answer = client.post("/account/totp-qr", json={
        "otpauth_uri": "otpauth://totp/Session%20API:bob@hbtn.io?secret="
                       "JBSWY3DPEHPK3PXP&issuer=Session%20API"})
    assert answer.status_code == 200
    assert answer.mimetype == "image/svg+xml"
    assert answer.data.startswith(b"<svg xmlns=\"http://www.w3.org/2000/svg\"")
    for body in ({}, {"otpauth_uri": "https://evil.example"},
                 {"otpauth_uri": "otpauth://" + "a" * 3000}, []):
        refused = client.post("/account/totp-qr", json=body)
        assert refused.status_code == 400
        assert refused.get_json() == {"error": "Wrong format"}


def test_cross_site_qr_posts_are_refused(client):
    answer = client.post("/account/totp-qr", json={
        "otpauth_uri": "otpauth://totp/x"},
        headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403


@pytest.mark.parametrize("auth_type", [None, "basic_auth", "session_db_auth"])
def test_the_page_is_served_under_every_auth_type(make_app, auth_type):
    assert make_app(auth_type).test_client().get(
        "/account").status_code == 200


def test_the_login_form_links_to_recovery_only_with_mail(make_app, tmp_path):
    link = b'href="/account/recover">Forgot your password?</a>'
    without = make_app("session_auth").test_client()
    assert link not in without.get("/account").data
    assert b"{{recover_link}}" not in without.get("/account").data
    with_mail = make_app("session_auth", mail_url="file://{}".format(
        tmp_path / "outbox")).test_client()
    assert link in with_mail.get("/account").data
    assert with_mail.get("/account/recover").status_code == 200
