#!/usr/bin/env bash
# Does the wheel work without the checkout? `make wheel-check` runs this after `make setup`.
#
#  1. (`make lint` runs deptry: every third-party import is declared in pyproject.toml;)
#  2. build the wheel into build/wheel-check/ (gitignored);
#  3. its .py files are exactly those under engine/ webapp/ migrations/, with the templates, static
#     files and migrations/script.py.mako, and nothing from tests/ or bench/;
#  4. install it into a new virtualenv in a temporary folder outside the checkout (pip takes the
#     dependencies from PyPI, or its cache after the first run), so only declared dependencies exist;
#  5. from that folder, with no LIYUAN_* or PYTHONPATH from the caller, run the installed
#     `liyuan --help` and `liyuan validate <checkout>/bpmn/`.
# Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-.venv/bin/python}      # builds the wheel; has the dev tools
PYTHON=${PYTHON:-python3}       # makes the clean virtualenv, like `make setup` makes .venv
OUT=build/wheel-check

# setuptools stages files in build/lib and does not empty it: a module moved or deleted since the last
# build would still be shipped. Start from nothing.
rm -rf "$OUT" build/lib build/bdist.*
"$PY" -m pip wheel --quiet --no-deps . -w "$OUT"
WHEEL=$(echo "$OUT"/liyuan_helpdesk-*.whl)
echo "wheel-check: built $WHEEL"

"$PY" - "$WHEEL" <<'EOF'
import sys, zipfile
from pathlib import Path

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
shipped_py = {n for n in names if n.endswith(".py")}
source_py = {
    p.as_posix()
    for top in ("engine", "webapp", "migrations")
    for p in Path(top).rglob("*.py")
    if "__pycache__" not in p.parts and not p.is_relative_to("webapp/static")
}
problems = [f"not in the wheel: {n}" for n in sorted(source_py - shipped_py)]
problems += [f"in the wheel but not in the tree: {n}" for n in sorted(shipped_py - source_py)]
for data in [
    *(p.as_posix() for p in Path("webapp/templates").rglob("*") if p.is_file()),
    *(p.as_posix() for p in Path("webapp/static").rglob("*") if p.is_file() and not p.name.startswith(".")),
    "migrations/script.py.mako",
    "engine/identity/common-passwords.txt.gz",  # the password rules' list of common passwords
]:
    if data not in names:
        problems.append(f"data file not in the wheel: {data}")
problems += [f"should not ship: {n}" for n in sorted(names) if n.split("/")[0] in ("tests", "bench")]
for p in problems:
    print("wheel-check:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"wheel-check: wheel contents ok ({len(shipped_py)} modules, {len(names) - len(shipped_py)} other files)")
EOF

TMP=$(mktemp -d "${TMPDIR:-/tmp}/liyuan-wheel-check.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$PYTHON" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$REPO/$WHEEL"
echo "wheel-check: installed into a clean virtualenv in $TMP"

# The caller's settings must not hide what the installed package finds on its own.
unset PYTHONPATH $(compgen -e | grep '^LIYUAN_' || true)
cd "$TMP"
"$TMP/venv/bin/python" -c 'import engine, webapp, sys; sys.exit(0 if all(m.__file__.startswith(sys.prefix) for m in (engine, webapp)) else "engine/webapp imported from outside the clean venv")'
echo "wheel-check: \$ liyuan --help"
"$TMP/venv/bin/liyuan" --help >/dev/null
echo "wheel-check: \$ liyuan validate $REPO/bpmn/"
"$TMP/venv/bin/liyuan" validate "$REPO/bpmn/"
echo "wheel-check: ok"
