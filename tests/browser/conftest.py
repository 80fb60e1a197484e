"""Browser-test fixtures: Debian's Chromium driven by Python Playwright.

Playwright's own browser download (`playwright install`) cannot work on the project's
machines, so the tests launch the system Chromium that `make chromium` installs. When it
is missing the browser tests are skipped on a developer machine, and fail under CI
(`CI=true`) so that a green run never hides them.

Every test under tests/browser gets the `browser` marker, so `pytest -m "not browser"`
runs the rest of the suite without a browser.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_ROOT = REPO_ROOT / "test-artifacts"
VENDOR_DIR = REPO_ROOT / "webapp" / "static" / "vendor" / "bpmn-js"
CHROMIUM = os.environ.get("LIYUAN_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which the closed network refuses; --no-sandbox because tests run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_VIEWPORT = {"width": 1280, "height": 800}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip the test on a developer machine; fail it under CI, where a skip would hide it."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: browser tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Keep each phase's report on the item so the `page` fixture can tell, at teardown,
    # whether the test failed and a screenshot of the page is worth keeping.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Debian Chromium, shared by the whole session."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} not found: run `make chromium` (installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Python package playwright not installed: pip install -e '.[dev]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh page in its own context.

    Uncaught JavaScript errors and Content-Security-Policy violations fail the test; a failing test leaves a screenshot of the
    page in its artifacts folder.
    """
    context = browser.new_context(viewport=DEFAULT_VIEWPORT, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Anything the Content-Security-Policy blocked (an inline script, a style, a font) is a broken page.
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        yield page
        if errors:
            pytest.fail("uncaught JavaScript errors or CSP violations on the page:\n" + "\n".join(errors),
                        pytrace=False)
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed and not page.is_closed():
            path = _artifacts_path(request)
            path.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(path / "failure.png"), full_page=True)
            except Exception:  # noqa: BLE001 - a broken page must not hide the real failure
                pass
        context.close()


def _artifacts_path(request: pytest.FixtureRequest) -> Path:
    module = Path(request.node.path).stem
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    return ARTIFACTS_ROOT / module / name


@pytest.fixture(scope="session")
def artifacts_root() -> Path:
    """test-artifacts/ at the repository root (gitignored): screenshots for people to look at."""
    ARTIFACTS_ROOT.mkdir(exist_ok=True)
    return ARTIFACTS_ROOT


@pytest.fixture
def artifacts_dir(artifacts_root: Path, request: pytest.FixtureRequest) -> Path:
    """A clean folder for this test's screenshots: test-artifacts/<module>/<test name>/."""
    path = _artifacts_path(request)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="session")
def bpmn_js_vendor() -> Path:
    """The bpmn-js files that `make assets` copies into webapp/static/vendor/bpmn-js/."""
    if not (VENDOR_DIR / "bpmn-modeler.production.min.js").is_file():
        unavailable(f"{VENDOR_DIR.relative_to(REPO_ROOT)} is not built: run `make assets`")
    return VENDOR_DIR


@pytest.fixture
def serve_app(tmp_path, monkeypatch) -> Iterator[Callable[..., str]]:
    """``serve_app(seed, **config)`` → the base URL of the web app over a fresh, migrated SQLite file that
    ``seed(url)`` filled, running in a thread of this process on a free port with CSRF on — so
    ``engine.core.clock.advance`` in the test moves the server's time too."""
    from werkzeug.serving import make_server

    from engine.core import clock, db, migrate
    from tests.web.conftest import make_app

    url = f"sqlite:///{tmp_path / 'web.db'}"
    monkeypatch.setenv("LIYUAN_DATABASE_URL", url)
    servers = []

    def start(seed: Callable[[str], None], **config) -> str:
        clock.reset()
        migrate.upgrade(url)
        seed(url)
        app = make_app(WTF_CSRF_ENABLED=True, TESTING=False, **config)
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_port}"

    try:
        yield start
    finally:
        for httpd in servers:
            httpd.shutdown()
        clock.reset()
        db._engines.pop(url, None)
