"""Stable, commented SQL views for the usual questions (filled in by the SQL console work)."""

from __future__ import annotations

import duckdb


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create or replace the named views (none yet)."""
    return None
