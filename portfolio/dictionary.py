"""The data dictionary (docs/data-dictionary.md), generated from the database's own comments.

Every table, view and column carries a Chinese ``COMMENT ON`` (store.COMMENTS, views.VIEWS), so
``duckdb_tables()``, ``duckdb_views()`` and ``duckdb_columns()`` are the dictionary; this module
only lays them out as Markdown. Regenerate after changing the schema or a view::

    python -m portfolio.dictionary > docs/data-dictionary.md
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import polars as pl

from . import config, sandbox, store

REGENERATE = "python -m portfolio.dictionary > docs/data-dictionary.md"

_KINDS = (("table", "表（Tables）"), ("view", "视图（Views）"))


def _md(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    if text is None:
        return ""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _nullable(kind: str, nullable: object) -> str:
    """是 / 否 for a table column; a view column's nullability is not declared."""
    if kind == "view":
        return "—"
    return "是" if nullable else "否"


def data_dictionary_markdown(con: duckdb.DuckDBPyConnection) -> str:
    """The data dictionary of the connected database as Markdown (tables, then views, by name)."""
    frame = sandbox.schema_frame(con).sort("object_type", "object_name", "column_index")
    lines = [
        "# 数据字典（Data dictionary）",
        "",
        "本文件由数据库中的注释（`COMMENT ON`）生成，请勿手工修改；修改表结构或视图后运行：",
        "",
        f"    {REGENERATE}",
        "",
        "金额单位均为万元（1 亿元 = 10,000 万元），以 DECIMAL 精确存储。在 SQL 控制台中也可以直接查询：",
        "`select * from duckdb_columns() where table_name = 'projects'`。",
        "",
    ]
    for kind, heading in _KINDS:
        objects = (
            frame
            .filter(pl.col("object_type") == kind)
            .select("object_name", "object_comment")
            .unique(maintain_order=True)
        )
        lines += [f"## {heading}", ""]
        lines += [f"- [`{name}`](#{name})：{_md(comment)}"
                  for name, comment in objects.iter_rows()]
        lines.append("")
        for name, comment in objects.iter_rows():
            columns = frame.filter(pl.col("object_name") == name)
            lines += [f"### {name}", "", _md(comment) or "（无注释）", "",
                      "| 列 column | 类型 type | 可为空 | 说明 |", "|---|---|---|---|"]
            lines += [
                f"| `{col}` | {_md(dtype)} | {_nullable(kind, nullable)} | {_md(text)} |"
                for col, dtype, nullable, text in columns.select(
                    "column_name", "data_type", "is_nullable", "column_comment").iter_rows()
            ]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def fresh_dictionary() -> str:
    """The dictionary of a freshly created schema (in memory, no data needed)."""
    con = duckdb.connect(":memory:")
    try:
        store.create_schema(con)
        store.load_reference(con, config.load_reference())
        return data_dictionary_markdown(con)
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    """Print the dictionary of a fresh schema, or of ``--db PATH`` when given."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--db"] and len(args) == 2:
        with sandbox.sandbox_connection(Path(args[1])) as con:
            text = data_dictionary_markdown(con)
    elif not args:
        text = fresh_dictionary()
    else:
        sys.stderr.write("用法：python -m portfolio.dictionary [--db PATH] > docs/data-dictionary.md\n")
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
