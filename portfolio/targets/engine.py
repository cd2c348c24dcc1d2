"""The rule macros every reader shares, and an in-memory DuckDB that runs them over frames.

The SQL views (:mod:`portfolio.views`) and the library run the **same SQL text**: the macros
below are created in the database with the views, and in a private in-memory DuckDB where the
library applies a check to a frame it holds (:func:`run`). A rule is written once, here or next
to the function that owns its query (``status.py``, ``checks.py``, ``tiers.py``, ``rollups.py``).
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import polars as pl

#: Scalar macros: (name, parameters, body). Created in the database and in the engine.
MACROS: tuple[tuple[str, str, str], ...] = (
    # A standard normal deviate fixed by (seed, key, draw): Box–Muller over two hashed uniforms.
    # The same draws in every reader, whatever the order of the groups or the number of threads.
    ("std_normal", "seed, key, draw", """
        sqrt(-2 * ln(((hash(seed::bigint, key::varchar, draw::bigint) >> 11)::double + 0.5) / 9007199254740992.0))
        * cos(2 * pi() * ((hash(hash(seed::bigint, key::varchar, draw::bigint)) >> 11)::double
                          / 9007199254740992.0))
    """),
    # The q-quantile of a sorted list, interpolated linearly (numpy's default, quantile_cont's rule).
    ("list_quantile", "vs, q", """
        vs[floor((len(vs) - 1) * q)::bigint + 1]
        + ((len(vs) - 1) * q - floor((len(vs) - 1) * q))
          * (vs[least(floor((len(vs) - 1) * q)::bigint + 2, len(vs))] - vs[floor((len(vs) - 1) * q)::bigint + 1])
    """),
    # The share of a project's plan expected by the end of month m: the seasonal profile
    # renormalised over its active months a..b (cum = C(0..12), cumulative shares, C(0) = 0);
    # an even spread over the active months when the profile gives them no weight.
    ("seasonal_share", "a, b, m, cum", """
        round(case
            when a > b then 0.0
            when cum[greatest(least(b, 12), 0) + 1] - cum[greatest(least(a - 1, 12), 0) + 1] > 1e-12
              then greatest(least(
                  (cum[greatest(least(least(b, m), 12), 0) + 1] - cum[greatest(least(a - 1, 12), 0) + 1])
                  / (cum[greatest(least(b, 12), 0) + 1] - cum[greatest(least(a - 1, 12), 0) + 1]), 1.0), 0.0)
            else greatest(least(b, m) - a + 1, 0)::double / (b - a + 1)::double
        end, 10)
    """),
    # Why a metric has its status (docs/forecast.md, 状态判定): the forecast first, then the
    # year-to-date ratio against the thresholds, capped by plan coverage.
    ("metric_status_basis", "ytd, coverage, low, high, target, on_track, at_risk, coverage_at_risk", """
        case
            when ytd is null then null
            when round(high, 2) < target then 'forecast_below_target'
            when ytd >= on_track and coverage < coverage_at_risk then 'coverage_cap'
            when ytd >= on_track then 'ratio_on_track'
            when ytd >= at_risk then 'ratio_at_risk'
            when round(low, 2) >= target then 'forecast_meets_target'
            else 'ratio_off_track'
        end
    """),
    ("metric_status", "ytd, coverage, low, high, target, on_track, at_risk, coverage_at_risk", """
        case metric_status_basis(ytd, coverage, low, high, target, on_track, at_risk, coverage_at_risk)
            when 'forecast_below_target' then 'off_track'
            when 'coverage_cap' then 'at_risk'
            when 'ratio_on_track' then 'on_track'
            when 'ratio_at_risk' then 'at_risk'
            when 'forecast_meets_target' then 'at_risk'
            when 'ratio_off_track' then 'off_track'
        end
    """),
    ("metric_status_reason", "ytd, coverage, low, high, target, on_track, at_risk, coverage_at_risk", """
        case metric_status_basis(ytd, coverage, low, high, target, on_track, at_risk, coverage_at_risk)
            when 'forecast_below_target' then format(
                '年末预测上限 {:,.2f} 亿元低于目标 {:,.2f} 亿元，判为滞后（不论季节完成率）',
                high / 10000, target::double / 10000)
            when 'coverage_cap' then format(
                '季节完成率 {:.1f}% 达到正常线 {:g}%，但计划覆盖率 {:.1f}% 低于 {:g}%，最多为有风险',
                ytd * 100, on_track * 100, coverage * 100, coverage_at_risk * 100)
            when 'ratio_on_track' then format('季节完成率 {:.1f}% 达到正常线 {:g}%', ytd * 100, on_track * 100)
            when 'ratio_at_risk' then format(
                '季节完成率 {:.1f}% 在有风险区间（{:g}%–{:g}%）', ytd * 100, at_risk * 100, on_track * 100)
            when 'forecast_meets_target' then format(
                '季节完成率 {:.1f}% 低于 {:g}%，但年末预测下限 {:,.2f} 亿元已达目标，最多为有风险',
                ytd * 100, at_risk * 100, low / 10000)
            when 'ratio_off_track' then format('季节完成率 {:.1f}% 低于有风险线 {:g}%', ytd * 100, at_risk * 100)
        end
    """),
    ("metric_status_reason_en", "ytd, coverage, low, high, target, on_track, at_risk, coverage_at_risk", """
        case metric_status_basis(ytd, coverage, low, high, target, on_track, at_risk, coverage_at_risk)
            when 'forecast_below_target' then format(
                'the forecast upper bound {:,.2f} is below the target {:,.2f} (RMB 100m): off track whatever the '
                'year-to-date ratio', high / 10000, target::double / 10000)
            when 'coverage_cap' then format(
                'year to date {:.1f}% of the seasonal expectation reaches {:g}%, but plan coverage {:.1f}% is '
                'below {:g}%: at risk at best', ytd * 100, on_track * 100, coverage * 100, coverage_at_risk * 100)
            when 'ratio_on_track' then format(
                'year to date {:.1f}% of the seasonal expectation reaches {:g}%', ytd * 100, on_track * 100)
            when 'ratio_at_risk' then format(
                'year to date {:.1f}% of the seasonal expectation is in the at-risk band ({:g}%–{:g}%)',
                ytd * 100, at_risk * 100, on_track * 100)
            when 'forecast_meets_target' then format(
                'year to date {:.1f}% is below {:g}%, but the forecast lower bound {:,.2f} (RMB 100m) meets the '
                'target: at risk at worst', ytd * 100, at_risk * 100, low / 10000)
            when 'ratio_off_track' then format(
                'year to date {:.1f}% of the seasonal expectation is below the at-risk line {:g}%',
                ytd * 100, at_risk * 100)
        end
    """),
)


def macro_statements() -> list[str]:
    """``create or replace macro`` for every shared scalar macro."""
    return [f"create or replace macro {name}({params}) as ({body.strip()})" for name, params, body in MACROS]


_LOCK = threading.Lock()
_CON: duckdb.DuckDBPyConnection | None = None


def _engine() -> duckdb.DuckDBPyConnection:
    global _CON
    with _LOCK:
        if _CON is None:
            con = duckdb.connect(":memory:")
            for stmt in macro_statements():
                con.execute(stmt)
            _CON = con
        return _CON.cursor()


def run(sql: str, params: list[Any] | dict[str, Any] | None = None, **frames: pl.DataFrame) -> pl.DataFrame:
    """Run ``sql`` over the given frames (registered under their keyword names) in memory.

    Each call has its own cursor, so threads of the app do not share a result or a name."""
    cur = _engine()
    try:
        for name, frame in frames.items():
            cur.register(name, frame)
        return cur.sql(sql, params=params).pl() if params else cur.sql(sql).pl()
    finally:
        cur.close()
