"""Safe HTML and headers (issue #12): task instructions are Markdown through a sanitizer, a CSP without
inline scripts, the usual security headers, HSTS behind HTTPS, and ProxyFix only for trusted proxies."""

from __future__ import annotations

import re
from pathlib import Path

from tests.web.conftest import PASSWORD, WEB_FIXTURES, make_app, record_call, task_ids

PID = "web_help_request"
SOURCE = (WEB_FIXTURES / "bpmn" / "web_help_request.bpmn").read_text(encoding="utf-8")
TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"
REPAIR_INSTRUCTIONS = "请前往 {{ address }} 维修：{{ description }}"


def test_instructions_from_a_diagram_cannot_run_script_on_the_task_page(client_for):
    """Stored XSS: whoever may edit a diagram wrote raw HTML into 任务说明 and every engineer ran it."""
    hostile = ("&lt;script&gt;alert(1)&lt;/script&gt; **先关总阀** [说明](javascript:alert(1)) "
               "&lt;img src=x onerror=alert(2)&gt; [规程](https://example.org/rules) 请前往 {{ address }}")
    assert REPAIR_INSTRUCTIONS in SOURCE
    owner = client_for("process_owner")
    res = owner.post(f"/modeler/{PID}/deploy", json={"xml": SOURCE.replace(REPAIR_INSTRUCTIONS, hostile),
                                                   "note": "维修说明加粗关阀提示"})
    assert res.status_code == 200 and res.get_json()["created"], res.get_json()

    record_call(client_for("assistant"), address="[点此](https://evil.example) 3栋")
    engineer = client_for("engineer")
    (tid,) = task_ids(engineer.get("/inbox").get_data(as_text=True))
    html = engineer.get(f"/tasks/{tid}").get_data(as_text=True)
    shown = re.search(r'data-testid="instructions">(.*?)</div>', html, re.S).group(1)
    assert "<script" not in shown and "onerror" not in shown.replace("onerror=alert(2)&gt;", "")
    assert "<img" not in shown and "javascript:" not in shown.replace("(javascript:alert(1))", "")
    assert "<strong>先关总阀</strong>" in shown                                  # Markdown still works
    assert '<a href="https://example.org/rules" rel="noopener noreferrer">规程</a>' in shown
    assert "[点此](https://evil.example) 3栋" in shown and "evil.example\"" not in shown  # data stays text


def test_no_template_has_an_inline_script_or_event_handler():
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert "javascript:" not in text, path


def test_every_page_carries_a_csp_without_inline_scripts_and_the_security_headers(app, client_for):
    pages = [app.test_client().get("/login"), client_for("process_owner").get(f"/modeler/{PID}/edit"),
             client_for("assistant").get("/api/v1/tasks")]
    for res in pages:
        csp = res.headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert script_src == "'self'", csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert res.headers["X-Frame-Options"] == "DENY"
        assert res.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in res.headers  # plain HTTP: HSTS would lock users out


def test_hsts_when_the_site_is_served_over_https(seeded, monkeypatch):
    monkeypatch.setenv("LIYUAN_SECURE_COOKIES", "1")
    res = make_app().test_client().get("/login")
    assert res.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def _fail_five_times(client, address: str) -> None:
    for _ in range(5):
        client.post("/login", data={"username": "engineer", "password": "bad"},
                    headers={"X-Forwarded-For": address})


def test_behind_a_trusted_proxy_each_client_is_throttled_by_its_own_address(seeded, monkeypatch):
    monkeypatch.setenv("LIYUAN_TRUSTED_PROXIES", "1")
    client = make_app().test_client()
    _fail_five_times(client, "203.0.113.9")
    locked = client.post("/login", data={"username": "engineer", "password": PASSWORD},
                         headers={"X-Forwarded-For": "203.0.113.9"})
    assert locked.status_code == 429
    other = client.post("/login", data={"username": "engineer", "password": PASSWORD},
                        headers={"X-Forwarded-For": "198.51.100.7"})
    assert other.status_code == 302  # a colleague behind the same proxy is not locked out


def test_without_trusted_proxies_a_forged_forwarded_for_header_is_ignored(seeded, monkeypatch):
    monkeypatch.delenv("LIYUAN_TRUSTED_PROXIES", raising=False)
    client = make_app().test_client()
    _fail_five_times(client, "203.0.113.9")
    forged = client.post("/login", data={"username": "engineer", "password": PASSWORD},
                         headers={"X-Forwarded-For": "198.51.100.7"})
    assert forged.status_code == 429  # a new made-up address per attempt does not escape the lockout
