"""The ``meta`` table: schema version, data revision, plan year, whether it holds the sample."""

from __future__ import annotations

from datetime import date

import duckdb


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Set one key of the meta table."""
    con.execute(
        "insert into meta values (?, ?) on conflict (key) do update set value = excluded.value",
        [key, value],
    )


def get_meta(con: duckdb.DuckDBPyConnection, key: str, default: str | None = None) -> str | None:
    """Read one key of the meta table."""
    rows = con.execute("select value from meta where key = ?", [key]).fetchall()
    return rows[0][0] if rows else default


def bump_revision(con: duckdb.DuckDBPyConnection) -> int:
    """Increase the data revision and keep the current year's plans in step with the projects.

    Every write calls it inside its transaction."""
    rev = int(get_meta(con, "revision", "0") or 0) + 1
    set_meta(con, "revision", str(rev))
    sync_plans(con)
    return rev


def sync_plans(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the current plan year's ``plans`` rows in step with ``projects`` (``schema.SYNC_PLANS``)."""
    from .schema import SYNC_PLANS  # schema imports this module

    if get_meta(con, "plan_year") is None:
        return
    for stmt in con.extract_statements(SYNC_PLANS):
        con.execute(stmt.query)


def is_sample(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the database holds the synthetic sample plan (示例数据)."""
    return get_meta(con, "is_sample", "0") == "1"


def project_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many projects the library holds (rows of ``projects``, every year's)."""
    return int(con.execute("select count(*) from projects").fetchall()[0][0])


def progress_months(con: duckdb.DuckDBPyConnection, year: int | None = None) -> list[date]:
    """The months of plan ``year`` (default: the current plan year) that have progress rows, oldest first."""
    if year is None:
        year = int(get_meta(con, "plan_year", "2016") or 2016)
    rows = con.execute(
        "select distinct month from progress where year(month) = ? order by month", [year]
    ).fetchall()
    return [r[0] for r in rows]
