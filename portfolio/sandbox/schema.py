"""What the app's SQL page shows beside the editor: the schema browser and the example queries."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from .. import config, store
from .run import sandbox_connection

SCHEMA_SQL = """
with objects as (
    select table_name as object_name, 'table' as object_type, comment as object_comment
    from duckdb_tables() where schema_name = 'main' and not internal and not temporary
    union all
    select view_name, 'view', comment
    from duckdb_views() where schema_name = 'main' and not internal and not temporary
)
select o.object_type, o.object_name, o.object_comment,
       c.column_index, c.column_name, c.data_type, c.is_nullable, c.comment as column_comment
from objects o
join duckdb_columns() c on c.table_name = o.object_name and c.schema_name = 'main'
where c.database_name = current_database()
order by o.object_type, o.object_name, c.column_index
"""


def schema_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every table and view column: type, Chinese table/view comment and column comment."""
    return store.fetch(con, SCHEMA_SQL)


def schema_browser(db: str | Path | None = None) -> pl.DataFrame:
    """The schema for the console's browser: object_type, object_name, comments, columns, types."""
    with sandbox_connection(db) as con:
        return schema_frame(con)


def queries_dir() -> Path:
    """The folder of the example queries (``docs/queries``)."""
    return config.ROOT / "docs" / "queries"


def example_queries(folder: Path | None = None) -> list[dict[str, str]]:
    """The example queries: ``name`` (file stem), ``title`` (first comment line), ``sql``."""
    out: list[dict[str, str]] = []
    for path in sorted((folder or queries_dir()).glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        title = next((line.lstrip("-").strip() for line in text.splitlines()
                      if line.strip().startswith("--") and line.lstrip("-").strip()), path.stem)
        out.append({"name": path.stem, "title": title, "sql": text.strip()})
    return out

