"""The command line ends an expected failure with one Chinese line and exit status 1, never a traceback."""

from __future__ import annotations

from webapp.cli import main


def test_an_unknown_instance_and_a_missing_path_are_one_line_each(db_url, capsys):
    assert main(["audit", "replay", "00000000-0000-0000-0000-000000000000"]) == 1
    assert capsys.readouterr().err.strip() == "找不到该求助记录"
    assert main(["deploy", "/no/such/bpmn"]) == 1
    assert capsys.readouterr().err.strip() == "/no/such/bpmn：找不到该文件或目录"


def test_an_unreachable_or_empty_database_says_so_without_the_password(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIYUAN_DATABASE_URL", "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/nodb")
    assert main(["timers"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("无法连接或读写数据库（postgresql+psycopg://postgres:***@127.0.0.1:1/nodb）")
    assert "s3cret" not in err and "Traceback" not in err
    monkeypatch.setenv("LIYUAN_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/liyuan_no_such_db")
    assert main(["timers"]) == 1  # a missing database is not an empty one: `liyuan init` would not help
    err = capsys.readouterr().err
    assert err.startswith("无法连接或读写数据库") and "尚未初始化" not in err
    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{empty}")
    assert main(["sla"]) == 1
    assert "尚未初始化：请先运行 liyuan init" in capsys.readouterr().err


def test_init_with_no_diagrams_where_it_looks_says_so(db_url, tmp_path, monkeypatch, capsys):
    """A LIYUAN_HOME or LIYUAN_BPMN_DIR pointing at the wrong folder would otherwise give a silent, empty desk."""
    monkeypatch.setenv("LIYUAN_BPMN_DIR", str(tmp_path))
    assert main(["init"]) == 0
    assert f"{tmp_path} 下没有流程图（*.bpmn）：未发布任何流程" in capsys.readouterr().err
