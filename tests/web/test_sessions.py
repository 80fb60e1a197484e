"""Sessions, tokens, throttles and password rules, each attacked the way issue 12 found them open.

Every test performs the attack and asserts it no longer works: a copied session cookie after sign-out, other
sessions after a password change, a disabled user's cookie and token, expired and revoked tokens, password
spraying across addresses and across accounts, flooding sign-up and token issue, telling unknown usernames
from wrong passwords, weak passwords, and the password reset code.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine import identity, notify
from engine.core import clock, db
from engine.identity import users as identity_users
from tests.web.conftest import PASSWORD, RESIDENT_PHONE, make_app
from webapp.ratelimit import DatabaseStorage
from webapp.tables import RateLimitCounter

NEW_PASSWORD = "lychee-garden-2026"


def _sign_in(app, username, password=PASSWORD, address="127.0.0.1"):
    client = app.test_client()
    res = client.post("/login", data={"username": username, "password": password},
                      environ_base={"REMOTE_ADDR": address})
    return client, res


def _signed_in(client) -> bool:
    res = client.get("/notifications")
    assert res.status_code in (200, 302), res.status_code
    return res.status_code == 200


def _token(app, username, password=PASSWORD) -> str:
    res = app.test_client().post("/api/v1/auth/token", json={"username": username, "password": password})
    assert res.status_code == 200, res.get_json()
    return res.get_json()["token"]


def _api(app, token):
    res = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    return res.status_code, res.get_json()


# --- sessions end when they should -----------------------------------------------------------------------------

def test_a_session_cookie_kept_from_before_sign_out_is_refused(app):
    client, res = _sign_in(app, "engineer")
    assert res.status_code == 302
    stolen = client.get_cookie("session").value  # what an attacker copied from the browser
    assert client.post("/logout").status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", stolen)
    res = replay.get("/inbox")
    assert res.status_code == 302 and "/login" in res.location
    # also in another server process (a second app over the same database)
    other_worker = make_app().test_client()
    other_worker.set_cookie("session", stolen)
    assert other_worker.get("/inbox").status_code == 302


def test_sign_out_ends_the_users_api_tokens_too(app):
    token = _token(app, "engineer")
    client, _ = _sign_in(app, "engineer")
    assert _api(app, token)[0] == 200
    client.post("/logout")
    status, body = _api(app, token)
    assert status == 401 and body["error"] == "token_revoked" and "重新登录" in body["message"]


def test_a_password_change_signs_out_every_other_session_and_token(app):
    here, _ = _sign_in(app, "engineer")
    elsewhere, _ = _sign_in(app, "engineer", address="10.1.1.1")
    token = _token(app, "engineer")
    res = here.post("/account/password", data={"current_password": PASSWORD, "password": NEW_PASSWORD,
                                               "password2": NEW_PASSWORD})
    assert res.status_code == 302
    assert "其他设备上的登录和访问令牌已全部失效" in here.get(res.location).get_data(as_text=True)
    assert _signed_in(here)            # the browser that changed it carries on
    assert not _signed_in(elsewhere)   # every other one is out
    assert _api(app, token)[0] == 401
    assert _sign_in(app, "engineer")[1].status_code == 401
    assert _sign_in(app, "engineer", NEW_PASSWORD)[1].status_code == 302


def test_a_password_change_needs_the_current_password_and_a_good_new_one(app):
    client, _ = _sign_in(app, "engineer")
    res = client.post("/account/password", data={"current_password": "not-my-password", "password": NEW_PASSWORD,
                                                  "password2": NEW_PASSWORD})
    assert res.status_code == 422 and "当前密码不正确" in res.get_data(as_text=True)
    res = client.post("/account/password", data={"current_password": PASSWORD, "password": "qwertyuiop123",
                                                  "password2": "qwertyuiop123"})
    assert res.status_code == 422 and "该密码过于常见" in res.get_data(as_text=True)
    assert _sign_in(app, "engineer")[1].status_code == 302  # nothing changed


def test_a_disabled_users_session_and_token_stop_at_once_and_stay_stopped(app):
    victim, _ = _sign_in(app, "engineer")
    token = _token(app, "engineer")
    admin, _ = _sign_in(app, "admin")
    assert admin.post("/admin/users/engineer/active", data={"active": "0"}).status_code == 302
    assert not _signed_in(victim)
    assert _api(app, token)[0] == 401
    # switched on again, the old cookie and token do not come back to life
    assert admin.post("/admin/users/engineer/active", data={"active": "1"}).status_code == 302
    assert not _signed_in(victim)
    assert _api(app, token)[0] == 401
    assert _sign_in(app, "engineer")[1].status_code == 302


# --- tokens: expiry and revocation -----------------------------------------------------------------------------

def test_an_expired_token_is_401(app):
    token = _token(app, "engineer")
    assert _api(app, token)[0] == 200
    clock.advance(hours=12, seconds=1)
    status, body = _api(app, token)
    assert status == 401 and body["error"] == "token_expired" and "过期" in body["message"]


def test_the_token_lifetime_is_configurable(seeded, monkeypatch):
    monkeypatch.setenv("LIYUAN_API_TOKEN_MAX_AGE", "600")
    app = make_app()
    res = app.test_client().post("/api/v1/auth/token", json={"username": "engineer", "password": PASSWORD})
    assert res.get_json()["expires_in"] == 600
    clock.advance(minutes=10, seconds=1)
    assert _api(app, res.get_json()["token"])[0] == 401


def test_an_admin_lists_and_revokes_a_token_and_it_is_401_at_once(app):
    token = _token(app, "engineer")
    keep = _token(app, "assistant")
    admin, _ = _sign_in(app, "admin")
    html = admin.get("/admin/tokens").get_data(as_text=True)
    assert "访问令牌" in html and "郑工程师（engineer）" in html and "有效" in html
    token_id = {name: int(i) for i, name in re.findall(r'data-testid="token-(\d+)">\s*<td>\d+</td><td>[^（]*（(\w+)）',
                                                        html)}["engineer"]
    res = admin.post(f"/admin/tokens/{token_id}/revoke")
    assert res.status_code == 302
    assert f"已撤销访问令牌 #{token_id}" in admin.get(res.location).get_data(as_text=True)
    status, body = _api(app, token)
    assert status == 401 and body["error"] == "token_revoked" and "撤销" in body["message"]
    assert _api(app, keep)[0] == 200  # other tokens are untouched
    assert "已撤销（admin" in admin.get("/admin/tokens?all=1").get_data(as_text=True)
    assert admin.post(f"/admin/tokens/{token_id}/revoke").status_code == 302  # twice: a message, no error
    assert _sign_in(app, "engineer")[0].get("/admin/tokens").status_code == 403


def test_tokens_are_listed_and_revoked_from_the_command_line(app, capsys):
    from webapp.cli.main import main

    token = _token(app, "engineer")
    assert main(["tokens", "list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "engineer" in ln)
    assert "有效" in line
    token_id = int(re.match(r"#(\d+)", line).group(1))
    assert main(["tokens", "revoke", str(token_id), "--actor", "ops"]) == 0
    assert "已撤销访问令牌" in capsys.readouterr().out
    assert _api(app, token)[0] == 401
    assert main(["tokens", "revoke", str(token_id)]) == 1  # already revoked: said on stderr
    assert "不存在或已撤销" in capsys.readouterr().err


# --- sign-in throttles ---------------------------------------------------------------------------------------

def test_spraying_one_account_from_many_addresses_is_throttled(app):
    for i in range(9):  # one guess from each of nine addresses: the per-address-pair lock never fires
        assert _sign_in(app, "engineer", f"guess-{i}", address=f"10.0.0.{i}")[1].status_code == 401
    assert _sign_in(app, "engineer", "guess-9", address="10.0.0.9")[1].status_code == 429  # the tenth
    _, res = _sign_in(app, "engineer", address="10.0.0.99")  # even the right password, from a new address
    assert res.status_code == 429 and "尝试次数过多" in res.get_data(as_text=True)
    res = app.test_client().post("/api/v1/auth/token", json={"username": "engineer", "password": PASSWORD},
                                 environ_base={"REMOTE_ADDR": "10.0.0.98"})
    assert res.status_code == 429
    assert _sign_in(app, "assistant", address="10.0.0.1")[1].status_code == 302  # other accounts unaffected
    clock.advance(minutes=10, seconds=1)
    assert _sign_in(app, "engineer", address="10.0.0.99")[1].status_code == 302


def test_spraying_many_accounts_from_one_address_is_slowed(app):
    victims = [u for u, _n, _r in identity.DEMO_USERS][:14] + [f"nobody{i}" for i in range(6)]
    for username in victims[:-1]:  # one common password tried on twenty accounts
        assert _sign_in(app, username, "123456789012", address="203.0.113.7")[1].status_code == 401
    assert _sign_in(app, victims[-1], "123456789012", address="203.0.113.7")[1].status_code == 429
    _, res = _sign_in(app, "customer", address="203.0.113.7")
    assert res.status_code == 429 and "尝试次数过多" in res.get_data(as_text=True)
    assert _sign_in(app, "customer", address="198.51.100.1")[1].status_code == 302


def test_unknown_user_and_wrong_password_take_the_same_path(app, monkeypatch):
    """Timing is not measured (it would be flaky): what makes it equal is that both run exactly one argon2
    verification, and the unknown user's is against a dummy hash of the same parameters."""
    calls = []
    real = identity_users.verify_password

    def spy(user, password):
        calls.append(user.password_hash)
        return real(user, password)

    monkeypatch.setattr(identity_users, "verify_password", spy)
    answers = []
    for username in ("engineer", "no-such-user", "x" * 500):
        calls.clear()
        _, res = _sign_in(app, username, "wrong-password-1", address=f"192.0.2.{len(answers)}")
        answers.append((res.status_code, re.findall(r"用户名或密码不正确", res.get_data(as_text=True))))
        assert len(calls) == 1, username
        assert calls[0].startswith("$argon2id$")
    assert answers[0] == answers[1] == answers[2] == (401, ["用户名或密码不正确"])
    dummy = identity_users._dummy_user().password_hash
    with db.read_session() as session:
        real_hash = identity.get_user(session, "engineer").password_hash
    assert dummy != real_hash and dummy.split("$")[2:4] == real_hash.split("$")[2:4]  # same argon2 parameters

    calls.clear()  # the API's token endpoint takes the same path
    res = app.test_client().post("/api/v1/auth/token", json={"username": "no-such-user", "password": "x"})
    assert res.status_code == 401 and calls == [dummy]


# --- rate limits (Flask-Limiter, counters in the database) -------------------------------------------------------

def test_sign_up_hits_429_after_the_limit_in_every_worker(seeded):
    worker_a = make_app(LIYUAN_RATELIMIT_SIGNUP="3 per hour")
    worker_b = make_app(LIYUAN_RATELIMIT_SIGNUP="3 per hour")
    for i, worker in enumerate((worker_a, worker_b, worker_a)):
        phone = f"1371234560{i}"
        res = worker.test_client().post("/signup", data={"phone": phone, "display_name": "住户",
                                                         "password": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert res.status_code == 302, i
    res = worker_b.test_client().post("/signup", data={"phone": "13712345699", "display_name": "住户",
                                                       "password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert res.status_code == 429 and "操作过于频繁，请稍后再试" in res.get_data(as_text=True)
    assert int(res.headers["Retry-After"]) > 0
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(RateLimitCounter)) >= 1
    assert worker_a.test_client().get("/signup").status_code == 200  # the page itself is not limited
    other = worker_a.test_client().post("/signup", environ_base={"REMOTE_ADDR": "10.9.9.9"},
                                        data={"phone": "13712345698", "display_name": "住户",
                                              "password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert other.status_code == 302  # per address


def test_token_issue_hits_429_after_the_limit_with_the_api_error_shape(seeded):
    app = make_app(LIYUAN_RATELIMIT_TOKEN="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert client.post("/api/v1/auth/token", json={"username": "engineer", "password": PASSWORD}).status_code == 200
    res = client.post("/api/v1/auth/token", json={"username": "engineer", "password": PASSWORD})
    assert res.status_code == 429
    assert res.get_json() == {"error": "too_many_requests", "message": "操作过于频繁，请稍后再试", "fields": {}}
    clock.advance(minutes=1, seconds=1)
    assert client.post("/api/v1/auth/token", json={"username": "engineer", "password": PASSWORD}).status_code == 200


def test_the_database_storage_counts_for_every_process_and_its_window_ends(db_url):
    one, two = DatabaseStorage("database://"), DatabaseStorage("database://")  # two workers' storages
    assert one.incr("k", 60) == 1 and two.incr("k", 60) == 2 and one.incr("k", 60) == 3
    assert two.get("k") == 3 and one.get_expiry("k") > clock.now().timestamp()
    clock.advance(seconds=61)
    assert one.get("k") == 0 and two.incr("k", 60) == 1
    one.clear("k")
    assert two.get("k") == 0 and one.check()


# --- password rules --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("password", "message"), [
    ("short-pw", "密码至少12位"),
    ("password1234", "该密码过于常见，容易被猜中，请换一个"),
    ("1qaz2wsx3edc", "该密码过于常见，容易被猜中，请换一个"),
    ("aaaaaaaaaaaaaaa", "密码过于简单"),
])
def test_a_weak_or_common_password_is_refused_with_a_chinese_message(app, password, message):
    res = app.test_client().post("/signup", data={"phone": "13712345678", "display_name": "王女士",
                                                  "password": password, "password2": password})
    assert res.status_code == 422 and message in res.get_data(as_text=True)
    with db.read_session() as session:
        assert identity.get_user(session, "13712345678") is None


def test_the_password_rules_hold_everywhere_a_password_is_set(db_url):
    with db.transaction() as session, pytest.raises(identity.IdentityError, match="该密码过于常见"):
        identity.add_user(session, "someone", "qwertyuiop123", ["guard"])
    with db.transaction() as session, pytest.raises(identity.IdentityError, match="不能与用户名或手机号相同"):
        identity.add_user(session, "lychee-garden-2026", "Lychee-Garden-2026", ["guard"])
    with db.transaction() as session:  # the demo users' generated password passes
        password, created = identity.ensure_demo_users(session, None)
    assert len(password) >= identity.PASSWORD_MIN_LENGTH and "admin" in created


# --- password reset by one-time code ------------------------------------------------------------------------------

def test_password_reset_by_one_time_code(app, monkeypatch):
    resident, _ = _sign_in(app, RESIDENT_PHONE)

    res = app.test_client().post("/password/reset", data={"account": RESIDENT_PHONE})
    assert res.status_code == 302
    unknown = app.test_client().post("/password/reset", data={"account": "13699999999"})
    assert unknown.status_code == 302 and unknown.location.split("?")[0] == res.location.split("?")[0]
    with db.read_session() as session:  # the code leaves by SMS through the outbox, to the resident's number
        sent = [(m.to_phone, m.body) for m in session.scalars(
            select(notify.OutboxMessage).where(notify.OutboxMessage.event == "code"))]
    assert [phone for phone, _ in sent] == [RESIDENT_PHONE]  # nothing sent for an unknown account, the same answer
    code = re.search(r"\d{6}", sent[0][1]).group(0)

    form = {"account": RESIDENT_PHONE, "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    wrong = "000000" if code != "000000" else "111111"
    res = app.test_client().post("/password/reset/confirm", data={**form, "code": wrong})
    assert res.status_code == 422 and "验证码不正确或已过期" in res.get_data(as_text=True)
    res = app.test_client().post("/password/reset/confirm", data={**form, "code": code, "password2": "different-1234"})
    assert res.status_code == 422 and "两次输入的密码不一致" in res.get_data(as_text=True)
    res = app.test_client().post("/password/reset/confirm", data={**form, "code": code})
    assert res.status_code == 302 and res.location.endswith("/login")

    assert not _signed_in(resident)  # the sessions of the old password are over
    assert _sign_in(app, RESIDENT_PHONE)[1].status_code == 401
    assert _sign_in(app, RESIDENT_PHONE, NEW_PASSWORD)[1].status_code == 302
    res = app.test_client().post("/password/reset/confirm", data={**form, "code": code})  # spent
    assert res.status_code == 422


def test_a_reset_code_survives_no_more_than_five_guesses(app, monkeypatch):
    sent = []
    monkeypatch.setattr("webapp.account_views.deliver_code", lambda session, user, code, **_: sent.append(code))
    app.test_client().post("/password/reset", data={"account": "engineer"})
    code = sent[0]
    form = {"account": "engineer", "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 6)]
    for guess in guesses:
        assert app.test_client().post("/password/reset/confirm", data={**form, "code": guess}).status_code == 422
    res = app.test_client().post("/password/reset/confirm", data={**form, "code": code})
    assert res.status_code == 422  # used up by the wrong guesses
    clock.advance(minutes=16)
    app.test_client().post("/password/reset", data={"account": "engineer"})
    assert len(sent) == 2


def test_the_demo_sender_writes_the_code_to_the_server_log(app, caplog):
    caplog.set_level("WARNING", logger="liyuan.codes")
    app.test_client().post("/password/reset", data={"account": "engineer"})
    assert re.search(r"一次性验证码.*郑工程师.*：\d{6}", caplog.text)
