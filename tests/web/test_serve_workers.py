"""``liyuan serve --workers N`` is for PostgreSQL: on SQLite (one writer at a time) it refuses and says why,
rather than start processes that would only queue on the write lock."""

from __future__ import annotations

from webapp.cli.main import build_parser


def test_serve_with_workers_on_sqlite_refuses_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIYUAN_DATABASE_URL", f"sqlite:///{tmp_path}/liyuan.db")
    args = build_parser().parse_args(["serve", "--port", "0", "--workers", "2"])
    assert args.func(args) == 2
    assert "SQLite 同一时刻只允许一个写入者" in capsys.readouterr().out
