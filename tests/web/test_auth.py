"""Sign-in: wrong passwords, the rate limit, CSRF, cookie flags and resident sign-up."""

from __future__ import annotations

from engine.core import clock
from tests.web.conftest import PASSWORD, csrf_token, make_app


def test_wrong_password_says_so_in_chinese(app):
    res = app.test_client().post("/login", data={"username": "engineer", "password": "nope-nope"})
    assert res.status_code == 401
    assert "用户名或密码不正确" in res.get_data(as_text=True)


def test_five_failures_lock_the_username_for_ten_minutes(app):
    client = app.test_client()
    for _ in range(4):
        assert client.post("/login", data={"username": "engineer", "password": "bad"}).status_code == 401
    res = client.post("/login", data={"username": "engineer", "password": "bad"})
    assert res.status_code == 429 and "尝试次数过多，请10分钟后再试" in res.get_data(as_text=True)
    # even the right password is refused while locked …
    res = client.post("/login", data={"username": "engineer", "password": PASSWORD})
    assert res.status_code == 429
    # … other users are unaffected, and after ten minutes the lock is gone
    assert client.post("/login", data={"username": "assistant", "password": PASSWORD}).status_code == 302
    clock.advance(minutes=10, seconds=1)
    fresh = app.test_client()
    assert fresh.post("/login", data={"username": "engineer", "password": PASSWORD}).status_code == 302


def test_post_without_csrf_token_is_refused(seeded):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    res = client.post("/login", data={"username": "assistant", "password": PASSWORD})
    assert res.status_code == 400 and "请求被拒绝" in res.get_data(as_text=True)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    res = client.post("/login", data={"username": "assistant", "password": PASSWORD, "csrf_token": token})
    assert res.status_code == 302
    # signed in, a form post without the token is still refused and starts nothing
    res = client.post("/intake/hotline", data={"caller_name": "甲", "phone": "13800000009", "address": "1栋101",
                                               "description": "停电了"})
    assert res.status_code == 400


def test_session_cookie_is_httponly_and_lax(app):
    res = app.test_client().post("/login", data={"username": "assistant", "password": PASSWORD})
    cookie = res.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_when_asked(seeded, monkeypatch):
    monkeypatch.setenv("LIYUAN_SECURE_COOKIES", "1")
    app = make_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_resident_signs_up_with_phone_and_is_asked_to_prove_it(app):
    """Sign-up only claims the number: the resident lands on the prove-your-number page, and a second
    person typing the same number is not refused (the number belongs to whoever proves it)."""
    client = app.test_client()
    res = client.post("/signup", data={"phone": "13712345678", "display_name": "王女士", "password": "lychee-garden-7",
                                       "password2": "lychee-garden-7"})
    assert res.status_code == 302 and res.location.endswith("/account/phone")
    assert client.get("/portal").location.endswith("/account/phone")
    assert client.get("/inbox").status_code == 403
    again = app.test_client().post("/signup", data={"phone": "13712345678", "display_name": "王", "password": "lychee-garden-8",
                                                    "password2": "lychee-garden-8"})
    assert again.status_code == 302 and again.location.endswith("/account/phone")


def test_signup_validates_in_chinese(app):
    res = app.test_client().post("/signup", data={"phone": "12345", "display_name": "", "password": "short",
                                                  "password2": "short"})
    html = res.get_data(as_text=True)
    assert res.status_code == 422
    assert "请输入11位手机号码" in html and "请填写您的称呼" in html and "密码至少12位" in html


def test_next_parameter_cannot_leave_the_site(app):
    res = app.test_client().post("/login?next=//evil.example/x", data={"username": "assistant", "password": PASSWORD})
    assert res.location == "/inbox"


def test_the_lockout_holds_across_server_processes_restarts_and_the_api(seeded):
    """Failures are counted in the database: a second worker (another app), a restarted server and the
    JSON API's token endpoint all see the same lockout."""
    worker_a, worker_b = make_app(), make_app()
    for _ in range(3):
        assert worker_a.test_client().post("/login", data={"username": "guard1", "password": "bad"}).status_code == 401
    api = worker_b.test_client()
    assert api.post("/api/v1/auth/token", json={"username": "guard1", "password": "bad"}).status_code == 401
    assert worker_b.test_client().post("/login", data={"username": "GUARD1", "password": "bad"}).status_code == 429
    restarted = make_app()
    res = restarted.test_client().post("/login", data={"username": "guard1", "password": PASSWORD})
    assert res.status_code == 429 and "尝试次数过多" in res.get_data(as_text=True)
    assert api.post("/api/v1/auth/token", json={"username": "guard1", "password": PASSWORD}).status_code == 429
    clock.advance(minutes=10, seconds=1)
    assert restarted.test_client().post("/login", data={"username": "guard1", "password": PASSWORD}).status_code == 302
