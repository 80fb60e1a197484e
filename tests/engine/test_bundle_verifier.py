"""An outside firm checks an exported bundle with one file and no database (issue 13, item 6).

The verifier is copied out of the project and run by a fresh virtualenv that holds only ``cryptography``,
in isolated mode: whatever it accepts or rejects, it does with no code of ours.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.audit import signing, verify_bundle
from engine.core import clock
from tests.engine.helpers import complete, start
from webapp.cli import main


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> tuple[Path, Path]:
    """(python of a clean venv with only cryptography, a copy of verify_bundle.py outside the project)."""
    where = tmp_path_factory.mktemp("audit-firm")
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True, timeout=120)
    python = where / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "cryptography"],
                   check=True, timeout=300)
    script = where / "verify_bundle.py"
    shutil.copy(verify_bundle.__file__, script)
    return python, script


def _check(outside, bundle_path: Path, *extra) -> tuple[int, str]:
    python, script = outside
    out = subprocess.run([str(python), "-I", str(script), str(bundle_path), *extra], cwd=script.parent,
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    return out.returncode, out.stdout + out.stderr


@pytest.fixture
def exported(deployed, tmp_path, capsys) -> Path:
    clock.freeze()
    iid = start()
    start()  # another instance: the tree holds more than this bundle's events
    complete(iid, "record", {"category": "b", "summary": "厨房漏水"})
    complete(iid, "fix", {"fix_note": "更换阀门", "fixed": True}, "engineer", "engineering")
    complete(iid, "confirm", {"satisfaction": 4})
    start()
    path = tmp_path / "bundle.json"
    assert main(["audit", "export", iid, str(path)]) == 0
    assert "bundle written" in capsys.readouterr().out
    return path


def _edit(path: Path, change) -> Path:
    bundle = json.loads(path.read_text(encoding="utf-8"))
    change(bundle)
    edited = path.with_name("edited.json")
    edited.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    return edited


def test_the_clean_venv_has_no_project_code(outside):
    python, _ = outside
    probe = subprocess.run([str(python), "-I", "-c", "import engine"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'engine'" in probe.stderr


def test_an_exported_bundle_is_accepted_outside_and_every_tampering_is_rejected(exported, outside):
    public = signing.public_b64(signing.private_key().public_key())
    code, out = _check(outside, exported, "--public-key", public)
    assert code == 0 and "通过" in out and "已与指定公钥核对" in out, out
    bundle = json.loads(exported.read_text(encoding="utf-8"))
    assert bundle["checkpoint"]["tree_size"] > len(bundle["events"])  # proofs into a tree of other events too

    raw = exported.read_bytes()  # one byte of one event's payload
    at = raw.index(b'\\"fixed\\":true')
    changed = exported.with_name("byte.json")
    changed.write_bytes(raw[:at + 11] + b"v" + raw[at + 12:])
    code, out = _check(outside, changed)
    assert code == 1 and "hash 与内容不符" in out, out

    code, out = _check(outside, _edit(exported, lambda b: b["events"].pop(2)))
    assert code == 1 and "有事件被删除或插入" in out
    code, out = _check(outside, _edit(exported, lambda b: b["events"].pop()))  # the tail: the chain still holds
    assert code == 1 and "有事件被删去或添加" in out

    def wrong_proof(b):
        b["events"][1]["proof"][0] = b["events"][2]["proof"][0] if b["events"][1]["proof"][0] != \
            b["events"][2]["proof"][0] else "00" * 32
    code, out = _check(outside, _edit(exported, wrong_proof))
    assert code == 1 and "包含证明不成立" in out

    other = Ed25519PrivateKey.generate()

    def resigned(b, replace_key):
        cp = b["checkpoint"]
        text = f"liyuan-audit-checkpoint/1\n{cp['tree_size']}\n{cp['root']}\n{cp['at']}\n".encode()
        cp["signature"] = base64.b64encode(other.sign(text)).decode()
        if replace_key:
            cp["public_key"] = signing.public_b64(other.public_key())
    code, out = _check(outside, _edit(exported, lambda b: resigned(b, False)))
    assert code == 1 and "检查点签名无效" in out
    code, out = _check(outside, _edit(exported, lambda b: resigned(b, True)), "--public-key", public)
    assert code == 1 and "检查点签名无效" in out  # a forger's own key is refused once the firm pins ours


def test_the_verifier_imports_only_the_standard_library_and_cryptography():
    text = Path(verify_bundle.__file__).read_text(encoding="utf-8")
    imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
    assert all(line.split()[1].split(".")[0] in {"__future__", "argparse", "base64", "hashlib", "json", "sys",
                                                  "cryptography"} for line in imports), imports
