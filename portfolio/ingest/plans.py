"""Writing a projects ledger by plan year: the current year's rows, history, carried projects.

Each valid row of a projects ledger carries ``_year`` (its 年度, else ``--year``, else the
current plan year; validation has rejected every row of a closed or unopened year):

- a row of the **current** year is written as always: the project is inserted or updated, and
  ``projects.annual_plan_wan`` is the current year's plan (``store.bump_revision`` keeps the
  year's ``plans`` rows in step). Where that cannot reach, the year's ``plans`` row is written
  here, audited: a carried project's empty plan (NULL after ``year open``) takes the ledger's
  figure, 0 included, and a project that has plans of other years but none of this one (one
  that finished and came back, or one first seen in a history ledger) joins the year.
- a row of a **history** year (before the first plan year) writes that year's ``plans`` row
  and nothing else of a project that exists already: an old ledger never overwrites today's
  attributes. A project the library does not hold yet is inserted (from its newest history
  row, with no plan for the current year: it does not join the current year).

Everything goes into the caller's transaction and batch; the revision is bumped once, after
both tables are written, so ``sync_plans`` sees the history rows first.
"""

from __future__ import annotations

import duckdb
import polars as pl

from .. import store
from .validation import stored_rows
from .writing import Diff, apply, diff

_ORDER = {"insert": 0, "update": 1}


def write_projects(con: duckdb.DuckDBPyConnection, valid: pl.DataFrame, *, current_year: int, actor: str,
                   source: str | None, batch_id: int | None) -> dict[str, int]:
    """Write a validated projects ledger (rows with ``_year``) by plan year; per-row counts.

    Returns inserted / updated / unchanged counted by ledger row (a row that only fills its
    project's plan of the year counts as updated) and ``plans`` (plans rows written)."""
    if valid.is_empty():
        return {"inserted": 0, "updated": 0, "unchanged": 0, "plans": 0}
    has_plan = "annual_plan_wan" in valid.columns
    cols = [c for c in valid.columns if not c.startswith("_")]
    current = valid.filter(pl.col("_year") == current_year)
    history = valid.filter(pl.col("_year") != current_year)
    ids = valid.select("project_id").unique()
    stored_ids = stored_rows(con, "projects", ids, []).select("project_id")
    plans = stored_rows(con, "plans", ids, ["year", "annual_plan_wan"])

    # history: the plans rows of those years; projects the library lacks, from their newest row
    plan_cols = [pl.col("project_id"), pl.col("_year").alias("year"),
                 *([pl.col("annual_plan_wan")] if has_plan else [])]
    old_plans = history.select("_row", *plan_cols)
    new_from_history = (
        history.join(stored_ids, on="project_id", how="anti")
        .join(current.select("project_id"), on="project_id", how="anti")
        .sort("_year", descending=True).unique("project_id", keep="first", maintain_order=True)
        .with_columns(*([pl.lit(0).cast(valid.schema["annual_plan_wan"]).alias("annual_plan_wan")]
                        if has_plan else []))
    )

    # the current year: a carried project's empty plan, a project back after other years
    this_year = plans.filter(pl.col("year") == current_year).select(
        "project_id", pl.col("annual_plan_wan").alias("_cy_plan"), pl.lit(True).alias("_has_cy"))
    # plans of other years, stored or in this file: sync_plans adds only projects with no plans row at all
    any_year = pl.concat([plans.select("project_id"), history.select("project_id")]).unique().with_columns(
        pl.lit(True).alias("_has_any"))
    state = current.join(this_year, on="project_id", how="left").join(any_year, on="project_id", how="left")
    fill = pl.col("_has_cy").is_null() & pl.col("_has_any").fill_null(False)
    if has_plan:
        fill = fill | (pl.col("_has_cy").fill_null(False) & pl.col("_cy_plan").is_null())
    current_plans = state.filter(fill).with_columns(pl.lit(current_year).alias("_year")).select("_row", *plan_cols)

    plan_diff = diff(con, "plans", pl.concat([old_plans, current_plans.cast(old_plans.schema)]))
    project_rows = pl.concat([current.select("_row", *cols), new_from_history.select("_row", *cols)])
    project_diff = diff(con, "projects", project_rows)
    apply(con, plan_diff, actor=actor, source=source, batch_id=batch_id)
    apply(con, project_diff, actor=actor, source=source, batch_id=batch_id)
    wrote = any(d.inserted.height or d.updated.height for d in (plan_diff, project_diff))
    if wrote:
        store.bump_revision(con)
    counts = _per_row(plan_diff, project_diff, valid.height, current_year)
    counts["plans"] = plan_diff.inserted.height + plan_diff.updated.height
    return counts


def _per_row(plan_diff: Diff, project_diff: Diff, rows: int, current_year: int) -> dict[str, int]:
    """Each ledger row counted once. Inserted: its own record is new (the project, for a row of the
    current year; the year's plan, for a history row). Updated: anything it wrote changed.

    A current-year row that only gave its project a plan of the year (a carried project's empty
    plan filled, a finished project back) counts as updated: the project was there."""
    joins = (pl.col("year") == current_year) & (pl.col("_action") == "insert")
    plan_actions = plan_diff.rows.select(
        "_row", pl.when(joins).then(pl.lit("update")).otherwise(pl.col("_action")).alias("_action"))
    actions = pl.concat([
        d.select("_row", pl.col("_action").replace_strict(_ORDER, default=None, return_dtype=pl.Int8))
        for d in (plan_actions, project_diff.rows)])
    best = actions.group_by("_row").agg(pl.col("_action").min())
    inserted = best.filter(pl.col("_action") == 0).height
    updated = best.filter(pl.col("_action") == 1).height
    return {"inserted": inserted, "updated": updated, "unchanged": rows - inserted - updated}
