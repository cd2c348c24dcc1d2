"""The data dictionary is generated from the database comments and kept up to date."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from portfolio import config, dictionary, store, views

COMMITTED = config.ROOT / "docs" / "data-dictionary.md"


def test_the_committed_data_dictionary_is_up_to_date() -> None:
    fresh = dictionary.fresh_dictionary()
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert fresh == committed, (
        f"docs/data-dictionary.md 已过期（out of date）；请运行 `{dictionary.REGENERATE}` 重新生成。"
    )


def test_the_dictionary_lists_every_table_view_and_column_with_its_comment(empty_db: Path) -> None:
    with store.connect(empty_db, read_only=True) as con:
        text = dictionary.data_dictionary_markdown(con)
        columns = con.execute(
            "select table_name, column_name, comment from duckdb_columns()"
            " where schema_name = 'main' and not internal").fetchall()
    for table, (comment, _) in store.COMMENTS.items():
        assert f"### {table}\n\n{comment}\n" in text
    for view in views.VIEWS:
        assert f"### {view.name}\n\n{view.comment}\n" in text
    for _, column, comment in columns:
        assert f"| `{column}` |" in text and comment in text


def test_the_dictionary_escapes_table_cells() -> None:
    con = duckdb.connect(":memory:")
    con.execute("create table t (a integer)")
    con.execute("comment on table t is '甲|乙'")
    con.execute("comment on column t.a is '一行\n两行 | 三'")
    text = dictionary.data_dictionary_markdown(con)
    assert "| `a` | INTEGER | 是 | 一行 两行 \\| 三 |" in text
    assert "甲\\|乙" in text


def test_the_module_prints_the_dictionary_and_refuses_bad_arguments(
    capsys: pytest.CaptureFixture[str], empty_db: Path
) -> None:
    assert dictionary.main([]) == 0
    assert capsys.readouterr().out == dictionary.fresh_dictionary()
    assert dictionary.main(["--db", str(empty_db)]) == 0
    assert "### projects" in capsys.readouterr().out
    assert dictionary.main(["--oops"]) == 2
    assert "用法" in capsys.readouterr().err
