"""POST /api/v1/auth/token and the bearer check on every other route."""

from __future__ import annotations

from flask_wtf.csrf import CSRFProtect

from engine.core import clock, db
from engine.core.tables import User
from webapp import api

from .conftest import PASSWORD, make_app


def test_token_for_right_password_opens_the_api(client):
    status, body = client.post("/auth/token", json={"username": "assistant", "password": PASSWORD})
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 12 * 3600
    response = client.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {body['token']}"})
    assert response.status_code == 200


def test_wrong_password_is_401_in_chinese(client):
    status, body = client.post("/auth/token", json={"username": "assistant", "password": "wrong-password"})
    assert status == 401
    assert body == {"error": "invalid_credentials", "message": "用户名或密码错误", "fields": {}}
    status, body = client.post("/auth/token", json={"username": "nobody", "password": "wrong-password"})
    assert status == 401 and body["message"] == "用户名或密码错误"


def test_missing_credentials_are_422_per_field(client):
    status, body = client.post("/auth/token", json={"username": "assistant"})
    assert status == 422 and body["fields"] == {"password": "请填写此项"}
    for not_an_object in ([None, None], ["assistant", "pw"], 42, "text"):  # found by schemathesis: was a 500
        status, body = client.post("/auth/token", json=not_an_object)
        assert status == 422 and body["fields"] == {"username": "请填写此项", "password": "请填写此项"}, not_an_object


def test_sign_in_attempts_are_rate_limited(client):
    for _ in range(5):
        assert client.post("/auth/token", json={"username": "guard1", "password": "nope-nope"})[0] == 401
    status, body = client.post("/auth/token", json={"username": "guard1", "password": PASSWORD})
    assert status == 429 and body["error"] == "too_many_requests"
    # Another username from the same address is not locked out.
    assert client.post("/auth/token", json={"username": "guard2", "password": PASSWORD})[0] == 200


def test_missing_garbage_and_foreign_tokens_are_401_json(client):
    status, body = client.get("/tasks")
    assert status == 401 and body["error"] == "unauthorized" and body["message"]
    for header in ("Bearer not-a-token", "Basic abc", "Bearer "):
        status, body = client.get("/tasks", headers={"Authorization": header})
        assert status == 401 and body["error"] == "token_invalid", header
    other = make_app(SECRET_KEY="another-secret")
    with other.app_context():
        forged = api.auth.issue_token(client.users["assistant"])
    assert client.get("/tasks", headers={"Authorization": f"Bearer {forged}"})[0] == 401


def test_expired_token_is_401(client):
    token = client.token("assistant")
    assert client.get("/tasks", headers={"Authorization": f"Bearer {token}"})[0] == 200
    clock.advance(hours=12, seconds=1)  # API_TOKEN_MAX_AGE: 12 h by default
    status, body = client.get("/tasks", headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and body["error"] == "token_expired" and "过期" in body["message"]


def test_deactivated_user_loses_their_token_at_once(client):
    token = client.token("engineer")
    with db.transaction() as session:
        session.get(User, client.users["engineer"].id).is_active = False
    status, body = client.get("/tasks", headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and body["message"] == "账号不存在或已停用"


def test_api_is_exempt_from_csrf_but_never_takes_a_session_cookie(deployed, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    if "csrf" not in app.extensions:  # the app factory sets CSRFProtect up once the UI lands
        CSRFProtect(app)
        api.init_app(app)
    web = app.test_client()
    response = web.post("/api/v1/auth/token", json={"username": "assistant", "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    # A browser's session cookie (signed in on the pages) is not an API credential.
    with web.session_transaction() as sess:
        sess["_user_id"] = str(users["assistant"].id)
        sess["_fresh"] = True
    response = web.get("/api/v1/tasks")
    assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"
