"""The ``liyuan`` command is an entry point beside the web app: every sub-command but ``serve`` drives the
engine alone, so the scheduler process and an operator's scripts never load Flask."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs each command in one fresh interpreter and reports, per command, its exit status and whether any
# Flask module had been imported by then.
PROBE = r"""
import contextlib, io, json, sys
from webapp.cli import main
report = {"after import": sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "flask_login", "flask_wtf"))}
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    flask = sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "flask_login", "flask_wtf"))
    report[" ".join(argv)] = {"code": code, "flask": flask}
print(json.dumps(report))
"""

COMMANDS = [
    ["validate", str(ROOT / "bpmn")],
    ["init"],
    ["deploy", str(ROOT / "bpmn")],
    ["users", "add", "zhang", "--password", "correct-horse-9", "--role", "assistant", "--phone", "13900000009"],
    ["users", "list"],
    ["audit", "verify"],
    ["timers"],
    ["sla"],
    ["incidents"],
    ["clauses"],
    ["simulate", str(ROOT / "bpmn" / "scenarios" / "g_help_online_direct.yaml")],
    ["db", "upgrade"],
]


def test_commands_other_than_serve_never_import_flask(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LIYUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "LIYUAN_VAR_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(COMMANDS)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report.pop("after import") == []
    for command, result in report.items():
        assert result == {"code": 0, "flask": []}, command


def test_serve_imports_the_web_app_only_when_it_runs():
    """``serve`` is registered like the others, but its module brings Flask in lazily."""
    out = subprocess.run([sys.executable, "-c",
                          "import sys, webapp.cli.main, webapp.server; "
                          "print(any(m.split('.')[0] == 'flask' for m in sys.modules))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
