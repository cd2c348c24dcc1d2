"""Tiers, target checks, seasonal expectation, 包保 accountability and the year-end forecast.

DuckDB aggregates the progress rows per project (one pass over ``progress``); everything
after that is vectorised polars/numpy over one row per project. ``check_report`` builds that
project frame once and derives every section from it. The rules are documented in
``docs/forecast.md``; the thresholds and assumptions live in ``data/targets.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import duckdb
import numpy as np
import polars as pl

from . import config, store

METRICS = ("industrial_investment", "tech_upgrade_investment")
METRIC_LABELS = {"industrial_investment": "工业投资", "tech_upgrade_investment": "技术改造投资"}
STATUS_LABELS = {"on_track": "正常", "at_risk": "有风险", "off_track": "滞后"}
FLAG_LABELS = {"green": "绿", "amber": "黄", "red": "红"}
ALLOCATED = "按计划占比分配（无分单位/分链目标）"
ASSIGNED = "下达目标"
NO_OWNER = "（未落实）"
NO_CHAIN = "（未归链）"
MONEY = pl.Decimal(38, 2)

#: ``by`` values and the project-frame columns they group on.
GROUPS: dict[str, list[str]] = {
    "unit": ["unit_id", "unit_name"],
    "chain": ["chain_id", "chain_name"],
    "tier": ["tier"],
    "leader": ["leader", "leader_level"],
    "leader_level": ["leader_level"],
    "status": ["status"],
    "nature": ["nature"],
}

#: Forecast parameters not given in targets.toml [forecast] fall back to these (ASSUMPTIONS).
FORECAST_DEFAULTS: dict[str, float] = {
    "simulations": 2000, "seed": 2016, "low_quantile": 0.10, "high_quantile": 0.90,
    "prior_ratio": 1.0, "prior_strength": 0.25, "ratio_floor": 0.0, "ratio_cap": 1.2,
    "prior_sd": 0.30, "execution_sd": 0.15, "common_sd": 0.08,
}


# --------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class Settings:
    """The rules from targets.toml, read once per call."""

    year: int
    shares: tuple[float, ...]
    tiers: pl.DataFrame
    tech_natures: tuple[str, ...]
    on_track: float
    at_risk: float
    coverage_at_risk: float
    green: float
    amber: float
    stalled_months: int
    forecast: dict[str, float]
    plan_counts: dict[str, int]
    min_level_from_wan: float
    major_min_level: str

    def cumulative_share(self, month: int) -> float:
        """Seasonal cumulative share of the year at the end of ``month`` (0 for month 0)."""
        return round(float(sum(self.shares[:month])), 10)


def plan_year(con: duckdb.DuckDBPyConnection) -> int:
    """The plan year: meta ``plan_year``, else targets.toml ``plan_year``."""
    value = store.get_meta(con, "plan_year")
    return int(value) if value else int(config.targets_config().get("plan_year", 2016))


def settings(con: duckdb.DuckDBPyConnection) -> Settings:
    """Read the plan year and every rule this module uses from the configuration."""
    cfg = config.targets_config()
    st, fl, resp = cfg["status_thresholds"], cfg["project_flags"], cfg["responsibility"]
    fc = {k: float(cfg.get("forecast", {}).get(k, v)) for k, v in FORECAST_DEFAULTS.items()}
    if not (0 < fc["low_quantile"] < fc["high_quantile"] < 1 and fc["ratio_floor"] <= fc["ratio_cap"]
            and fc["simulations"] >= 1 and fc["prior_strength"] >= 0):
        raise config.ConfigError("targets.toml [forecast] 参数不合理：需 0<low_quantile<high_quantile<1、"
                                 "ratio_floor≤ratio_cap、simulations≥1、prior_strength≥0。")
    return Settings(
        year=plan_year(con),
        shares=tuple(config.seasonal_shares()),
        tiers=config.tiers_frame(),
        tech_natures=tuple(cfg.get("tech_upgrade_natures", ["扩建", "改建及技术改造"])),
        on_track=float(st["on_track"]),
        at_risk=float(st["at_risk"]),
        coverage_at_risk=float(st.get("coverage_at_risk", 1.0)),
        green=float(fl["green"]),
        amber=float(fl["amber"]),
        stalled_months=int(fl.get("stalled_months", 2)),
        forecast=fc,
        plan_counts={k: int(v) for k, v in resp["plan_counts"].items()},
        min_level_from_wan=float(resp.get("min_level_from_wan", 3000)),
        major_min_level=str(resp.get("major_min_level", "局级")),
    )


def default_as_of(con: duckdb.DuckDBPyConnection, year: int) -> date:
    """The latest month with progress rows in the plan year, else January of that year."""
    rows = con.execute(
        "select max(month) from progress where month >= ? and month < ?",
        [date(year, 1, 1), date(year + 1, 1, 1)],
    ).fetchall()
    found = rows[0][0] if rows else None
    return found.replace(day=1) if found else date(year, 1, 1)


def _month_index(as_of: date, year: int) -> int:
    if as_of.year != year:
        raise ValueError(f"截至月份 {as_of:%Y-%m} 不在计划年度 {year} 内（as-of outside the plan year）。")
    return as_of.month


def city_targets(con: duckdb.DuckDBPyConnection, year: int) -> pl.DataFrame:
    """The city targets of the year: metric, label, target_wan (Decimal), growth_pct."""
    frame = store.fetch(
        con,
        "select metric, coalesce(label, metric) as label, value_wan::decimal(38,2) as target_wan,"
        " growth_pct::double as growth_pct from targets"
        " where year = ? and scope = 'city' and metric in (?, ?)",
        [year, *METRICS],
    )
    missing = [m for m in METRICS if m not in frame["metric"].to_list()]
    if missing:
        raise ValueError(f"计划年度 {year} 缺少目标：{'、'.join(missing)}（请检查 targets 表或 targets.toml）。")
    order = pl.DataFrame({"metric": list(METRICS)})
    return order.join(frame, on="metric", how="left")


# --------------------------------------------------------------------------------------------
# the project frame: one row per project, everything else derives from it

_PROJECTS_SQL = """
with g as (
    select project_id,
           sum(completed_wan) as completed_wan,
           max(month) filter (where completed_wan > 0) as last_invest_month,
           max(month) as last_report_month,
           count(*) as months_reported
    from progress
    where month >= $y0 and month <= $as_of
    group by project_id
), pr as (
    select project_id, month, problems, problem_level,
           year(month) * 12 + month(month)
             - row_number() over (partition by project_id order by month) as island
    from progress
    where month <= $as_of and nullif(trim(problems), '') is not null
), isl as (
    select project_id, max(month) as problem_month, min(month) as problem_since,
           count(*) as problem_months,
           arg_max(problems, month) as problems, arg_max(problem_level, month) as problem_level
    from pr
    group by project_id, island
    qualify row_number() over (partition by project_id order by max(month) desc) = 1
)
select p.project_id, p.name, p.enterprise, p.unit_id, coalesce(u.name, p.unit_id) as unit_name,
       p.chain_id, coalesce(c.name, p.chain_id, $no_chain) as chain_name, p.node_id,
       p.nature, p.status, p.total_investment_wan::decimal(38,2) as total_investment_wan,
       p.annual_plan_wan::decimal(38,2) as annual_plan_wan,
       nullif(trim(p.leader), '') as leader, p.leader_level, p.is_major, p.start_date, p.end_date,
       coalesce(g.completed_wan, 0)::decimal(38,2) as completed_wan,
       g.last_invest_month, g.last_report_month, coalesce(g.months_reported, 0) as months_reported,
       isl.problems, isl.problem_level, isl.problem_since, isl.problem_months, isl.problem_month
from projects p
left join g using (project_id)
left join isl using (project_id)
left join units u on u.unit_id = p.unit_id
left join chains c on c.chain_id = p.chain_id
order by p.project_id
"""


def _tier_expr(tiers: pl.DataFrame) -> pl.Expr:
    """The tier of ``total_investment_wan``: the highest band whose minimum it reaches."""
    expr: Any = pl.lit(None, dtype=pl.String)
    for row in tiers.sort("min_wan").iter_rows(named=True):
        expr = pl.when(pl.col("total_investment_wan") >= row["min_wan"]).then(pl.lit(row["tier"])).otherwise(expr)
    return expr


def project_frame(con: duckdb.DuckDBPyConnection, *, as_of: date, cfg: Settings | None = None) -> pl.DataFrame:
    """Every project with its year-to-date figures, flag, stall, open problems and forecast."""
    cfg = cfg or settings(con)
    m = _month_index(as_of, cfg.year)
    raw = store.fetch(con, _PROJECTS_SQL, {
        "y0": date(cfg.year, 1, 1), "as_of": as_of, "no_chain": NO_CHAIN,
    })
    return derive(raw, cfg=cfg, month=m)


def derive(raw: pl.DataFrame, *, cfg: Settings, month: int) -> pl.DataFrame:
    """Add the rule columns to the raw per-project frame (pure polars, testable on small frames)."""
    year, k = cfg.year, cfg.stalled_months
    cum = {i: cfg.cumulative_share(i) for i in range(13)}
    fc = cfg.forecast
    start_idx = (
        pl.when(pl.col("start_date").is_null() | (pl.col("start_date").dt.year() < year)).then(1)
        .when(pl.col("start_date").dt.year() > year).then(13)
        .otherwise(pl.col("start_date").dt.month().cast(pl.Int64))
    )
    end_idx = (
        pl.when(pl.col("end_date").is_null() | (pl.col("end_date").dt.year() > year)).then(12)
        .when(pl.col("end_date").dt.year() < year).then(0)
        .otherwise(pl.col("end_date").dt.month().cast(pl.Int64))
    )
    invest_idx = (
        pl.when(pl.col("last_invest_month").is_null()).then(0)
        .otherwise(pl.col("last_invest_month").dt.month().cast(pl.Int64))
    )
    active = pl.col("active_from") <= pl.col("active_to")
    c_before = (pl.col("active_from") - 1).clip(0, 12).replace_strict(cum, return_dtype=pl.Float64)
    c_end = pl.col("active_to").clip(0, 12).replace_strict(cum, return_dtype=pl.Float64)
    c_now = pl.min_horizontal(pl.col("active_to"), pl.lit(month)).clip(0, 12).replace_strict(cum, return_dtype=pl.Float64)
    months_active = (pl.col("active_to") - pl.col("active_from") + 1).cast(pl.Float64)
    months_done = (pl.min_horizontal(pl.col("active_to"), pl.lit(month)) - pl.col("active_from") + 1).clip(0)
    # Renormalise the seasonal profile over the project's active months; fall back to a
    # linear spread when the profile gives those months no weight at all.
    share = (
        pl.when(~active).then(0.0)
        .when(c_end - c_before > 1e-12).then(((c_now - c_before) / (c_end - c_before)).clip(0.0, 1.0))
        .otherwise(months_done.cast(pl.Float64) / months_active)
    )
    plan = pl.col("annual_plan_wan").cast(pl.Float64)
    done = pl.col("completed_wan").cast(pl.Float64)
    ratio = pl.when(pl.col("expected_wan") > 0).then((done / pl.col("expected_wan")).round(9))
    weight = pl.col("expected_share") / (pl.col("expected_share") + fc["prior_strength"])
    # A plan-year plan with start/end dates entirely outside the plan year contradicts itself;
    # the plan is the commitment, so such a project is expected over the whole year (flagged).
    outside = (pl.col("_from") > pl.col("_to")) & (pl.col("annual_plan_wan") > 0)
    frame = (
        raw
        .with_columns(
            _tier_expr(cfg.tiers).alias("tier"),
            pl.col("nature").is_in(list(cfg.tech_natures)).alias("is_tech_upgrade"),
            start_idx.alias("_from"),
            end_idx.alias("_to"),
            invest_idx.alias("last_invest_idx"),
        )
        .with_columns(
            outside.alias("dates_outside_year"),
            pl.when(outside).then(1).otherwise(pl.col("_from")).alias("active_from"),
            pl.when(outside).then(12).otherwise(pl.col("_to")).alias("active_to"),
        )
        .drop("_from", "_to")
        .with_columns(
            share.round(10).alias("expected_share"),
        )
        .with_columns(
            (plan * pl.col("expected_share")).alias("expected_wan"),
        )
        .with_columns(
            ratio.alias("performance"),
            (pl.col("expected_wan") - done).alias("behind_wan"),
        )
        .with_columns(
            pl.when(pl.col("performance").is_null()).then(None)
            .when(pl.col("performance") >= cfg.green).then(pl.lit("green"))
            .when(pl.col("performance") >= cfg.amber).then(pl.lit("amber"))
            .otherwise(pl.lit("red"))
            .alias("flag"),
            pl.when((pl.col("active_from") <= month) & (pl.lit(month) <= pl.col("active_to")))
            .then(pl.lit(month) - pl.max_horizontal(pl.col("last_invest_idx"), pl.col("active_from") - 1))
            .otherwise(0)
            .alias("idle_months"),
            (pl.col("problem_month").is_not_null() & (pl.col("problem_month") == pl.col("last_report_month")))
            .alias("has_open_problem"),
        )
        .with_columns(
            ((pl.col("idle_months") >= k) & (plan > 0)
             & ~pl.col("status").is_in(list(config.FINISHED_STATUSES))).alias("stalled"),
            pl.when(pl.col("has_open_problem")).then(pl.col("problem_months")).otherwise(0)
            .alias("open_problem_months"),
        )
        .with_columns(
            (pl.col("flag").is_in(["red", "amber"]).fill_null(False) | pl.col("stalled")).alias("is_lagging"),
            pl.when(pl.col("has_open_problem")).then(pl.col("problems")).alias("open_problems"),
            pl.when(pl.col("has_open_problem")).then(pl.col("problem_level")).alias("open_problem_level"),
            pl.when(pl.col("has_open_problem")).then(pl.col("problem_since")).alias("open_problem_since"),
        )
        .drop("problems", "problem_level", "problem_since", "problem_months", "problem_month",
              "last_invest_idx", "has_open_problem")
    )
    return _project_forecast(frame, weight=weight, fc=fc)


def _project_forecast(frame: pl.DataFrame, *, weight: pl.Expr, fc: dict[str, float]) -> pl.DataFrame:
    """Per-project forecast: completed + remaining scheduled plan × shrunk pace, with its spread.

    The realised pace of the remaining work is modelled as ``pace × exp(σ·ε − σ²/2)``
    (lognormal, mean ``pace``, never negative); ``σ`` shrinks as the project's history grows.
    """
    plan = pl.col("annual_plan_wan").cast(pl.Float64)
    done = pl.col("completed_wan").cast(pl.Float64)
    lo, hi, prior = fc["ratio_floor"], fc["ratio_cap"], fc["prior_ratio"]
    z_low = NormalDist().inv_cdf(fc["low_quantile"])
    z_high = NormalDist().inv_cdf(fc["high_quantile"])
    sd = pl.col("pace_sd")
    rest = pl.col("forecast_rest_wan")
    return (
        frame
        .with_columns(
            weight.fill_nan(0.0).fill_null(0.0).alias("history_weight"),
            (plan * (1.0 - pl.col("expected_share"))).alias("remaining_plan_wan"),
        )
        .with_columns(
            (pl.col("history_weight") * pl.col("performance").fill_null(prior)
             + (1.0 - pl.col("history_weight")) * prior).clip(lo, hi).alias("pace"),
            ((1.0 - pl.col("history_weight")) * fc["prior_sd"] ** 2 + fc["execution_sd"] ** 2)
            .sqrt().alias("pace_sd"),
        )
        .with_columns(
            (pl.col("remaining_plan_wan") * pl.col("pace")).alias("forecast_rest_wan"),
        )
        .with_columns(
            (done + rest).alias("forecast_wan"),
            (rest.pow(2) * ((sd * sd).exp() - 1.0)).alias("forecast_rest_var"),
        )
        .with_columns(
            pl.min_horizontal(pl.col("forecast_wan"), done + rest * (z_low * sd - sd * sd / 2).exp())
            .alias("forecast_low_wan"),
            pl.max_horizontal(pl.col("forecast_wan"), done + rest * (z_high * sd - sd * sd / 2).exp())
            .alias("forecast_high_wan"),
            (plan - pl.col("forecast_wan")).alias("forecast_gap_wan"),
        )
    )


# --------------------------------------------------------------------------------------------
# tiers


def _group_cols(by: str) -> list[str]:
    try:
        return GROUPS[by]
    except KeyError:
        raise ValueError(f"不支持按 {by!r} 分组，可选：{'、'.join(GROUPS)}。") from None


def _fill_group_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """Show missing owners and chains as labelled groups rather than nulls."""
    fills = {"leader": NO_OWNER, "leader_level": NO_OWNER, "chain_name": NO_CHAIN}
    return frame.with_columns(
        pl.col(c).fill_null(v).alias(c) for c, v in fills.items() if c in frame.columns
    )


def _over(expr: pl.Expr, keys: list[str]) -> pl.Expr:
    return expr.over(keys) if keys else expr


def tier_summary(con: duckdb.DuckDBPyConnection, *, by: str | None = None) -> pl.DataFrame:
    """Counts, cumulative counts and plan-year investment per tier vs the plan counts."""
    cfg = settings(con)
    raw = store.fetch(
        con,
        "select p.project_id, p.total_investment_wan::decimal(38,2) as total_investment_wan,"
        " p.annual_plan_wan::decimal(38,2) as annual_plan_wan, p.unit_id,"
        " coalesce(u.name, p.unit_id) as unit_name, p.chain_id, coalesce(c.name, p.chain_id) as chain_name,"
        " p.status, p.nature, nullif(trim(p.leader), '') as leader, p.leader_level"
        " from projects p left join units u on u.unit_id = p.unit_id"
        " left join chains c on c.chain_id = p.chain_id",
    )
    frame = raw.with_columns(_tier_expr(cfg.tiers).alias("tier"))
    return tiers_of(frame, tiers=cfg.tiers, by=by)


def tiers_of(frame: pl.DataFrame, *, tiers: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """The tier table of a project frame with a ``tier`` column (highest tier first)."""
    keys = _group_cols(by) if by else []
    frame = _fill_group_labels(frame.select(*keys, "tier", "total_investment_wan", "annual_plan_wan"))
    counts = (
        frame
        .filter(pl.col("tier").is_not_null())
        .group_by([*keys, "tier"])
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("total_investment_wan").sum().cast(MONEY).alias("total_investment_wan"),
            pl.col("annual_plan_wan").sum().cast(MONEY).alias("plan_wan"),
        )
    )
    bands = tiers.with_columns(
        pl.col("min_wan").shift(1).alias("max_wan"),
        pl.int_range(pl.len()).alias("_order"),
    )
    grid = frame.select(keys).unique().join(bands, how="cross") if keys else bands
    zero = pl.lit(0).cast(MONEY)
    out = (
        grid
        .join(counts, on=[*keys, "tier"], how="left", nulls_equal=True)
        .with_columns(
            pl.col("count").fill_null(0).alias("count"),
            pl.col("total_investment_wan").fill_null(zero).alias("total_investment_wan"),
            pl.col("plan_wan").fill_null(zero).alias("plan_wan"),
        )
        .sort([*keys, "_order"], nulls_last=True)
        .with_columns(
            _over(pl.col("count").cum_sum(), keys).alias("cumulative_count"),
            _over(pl.col("plan_wan").cum_sum(), keys).cast(MONEY).alias("cumulative_plan_wan"),
        )
    )
    cols = [*keys, "tier", "tier_en", "min_wan", "max_wan", "count", "cumulative_count"]
    if not keys:
        out = out.with_columns(
            (pl.col("count") - pl.col("plan_count")).alias("count_diff"),
            (pl.col("cumulative_count") - pl.col("plan_cumulative_count")).alias("cumulative_diff"),
        )
        cols += ["plan_count", "plan_cumulative_count", "count_diff", "cumulative_diff"]
    return out.select(*cols, "total_investment_wan", "plan_wan", "cumulative_plan_wan")


# --------------------------------------------------------------------------------------------
# target checks


def _status(ratio: pl.Expr, coverage: pl.Expr, cfg: Settings) -> pl.Expr:
    """on_track / at_risk / off_track from the YTD ratio, capped at at_risk by poor coverage."""
    by_ratio = (
        pl.when(ratio.is_null()).then(None)
        .when(ratio >= cfg.on_track).then(pl.lit("on_track"))
        .when(ratio >= cfg.at_risk).then(pl.lit("at_risk"))
        .otherwise(pl.lit("off_track"))
    )
    return (
        pl.when((by_ratio == "on_track") & (coverage < cfg.coverage_at_risk)).then(pl.lit("at_risk"))
        .otherwise(by_ratio)
    )


def _metric_frames(projects: pl.DataFrame, columns: list[str]) -> list[tuple[str, pl.DataFrame]]:
    """The projects each metric counts, narrowed to ``columns`` before filtering (cheaper)."""
    narrow = projects.select(list(dict.fromkeys([*columns, "is_tech_upgrade"])))
    return [
        ("industrial_investment", narrow),
        ("tech_upgrade_investment", narrow.filter(pl.col("is_tech_upgrade"))),
    ]


def _sums(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    aggs = [
        pl.len().cast(pl.Int64).alias("projects"),
        pl.col("annual_plan_wan").sum().cast(MONEY).alias("planned_wan"),
        pl.col("completed_wan").sum().cast(MONEY).alias("completed_wan"),
        pl.col("expected_wan").sum().alias("plan_expected_wan"),
        pl.col("forecast_wan").sum().alias("forecast_wan"),
        (pl.col("forecast_wan") - pl.col("forecast_rest_wan")).sum().alias("_done"),
        pl.col("forecast_rest_wan").sum().alias("_mean_rest"),
        pl.col("forecast_rest_var").sum().alias("_var_rest"),
    ]
    if not keys:
        return frame.select(aggs)
    return frame.group_by(keys).agg(aggs).sort(keys, nulls_last=True)


def _simulate(sums: pl.DataFrame, *, fc: dict[str, float], common: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Monte Carlo per group: S = done + M × (Σ rest + √(Σ var) × ε), floored at done.

    ``M`` is the city-wide slippage factor shared by every group and metric (lognormal, mean
    1); ``ε`` a standard normal per group and draw. The sum of many independent per-project
    lognormal deviations is close to normal with the summed mean and variance (central limit
    theorem), so a group needs two numbers, not one draw per project.
    """
    done = sums["_done"].to_numpy()
    mean_rest = sums["_mean_rest"].to_numpy()
    sd_rest = np.sqrt(sums["_var_rest"].to_numpy())
    eps = rng.standard_normal((len(common), len(done)))
    draws = done + common[:, None] * np.maximum(mean_rest + sd_rest * eps, 0.0)
    low = np.quantile(draws, fc["low_quantile"], axis=0)
    high = np.quantile(draws, fc["high_quantile"], axis=0)
    point = sums["forecast_wan"].to_numpy()
    target = sums["target_wan"].cast(pl.Float64).to_numpy()
    return sums.with_columns(
        pl.Series("forecast_low_wan", np.minimum(low, point)),
        pl.Series("forecast_high_wan", np.maximum(high, point)),
        pl.Series("probability_meet_target", (draws >= target[None, :]).mean(axis=0)),
    )


def _common_factor(fc: dict[str, float]) -> tuple[np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(int(fc["seed"]))
    sd = fc["common_sd"]
    common = np.exp(sd * rng.standard_normal(int(fc["simulations"])) - sd * sd / 2)
    return common, rng


def checks_of(projects: pl.DataFrame, *, targets: pl.DataFrame, cfg: Settings, month: int,
              by: str | None = None, group_targets: pl.DataFrame | None = None) -> pl.DataFrame:
    """Target checks of a project frame: coverage, YTD vs seasonal and linear, status, forecast."""
    keys = _group_cols(by) if by else []
    projects = _fill_group_labels(projects)
    common, rng = _common_factor(cfg.forecast)
    seasonal, linear = cfg.cumulative_share(month), month / 12
    parts = []
    needed = [*keys, "annual_plan_wan", "completed_wan", "expected_wan", "forecast_wan",
              "forecast_rest_wan", "forecast_rest_var"]
    for metric, subset in _metric_frames(projects, needed):
        t = targets.filter(pl.col("metric") == metric)
        sums = _sums(subset, keys).with_columns(
            pl.lit(metric).alias("metric"),
            pl.lit(t["label"][0]).alias("label"),
            pl.lit(t["growth_pct"][0], dtype=pl.Float64).alias("growth_pct"),
        )
        city = t["target_wan"][0]
        if keys:
            total_plan = subset["annual_plan_wan"].cast(pl.Float64).sum()
            alloc = (pl.lit(float(city)) * pl.col("planned_wan").cast(pl.Float64) / total_plan) if total_plan else pl.lit(0.0)
            sums = sums.with_columns(alloc.alias("_alloc"))
            if group_targets is not None and by in ("unit", "chain"):
                given = group_targets.filter(pl.col("metric") == metric).select(
                    pl.col("scope_id").alias(keys[0]), pl.col("target_wan").cast(pl.Float64).alias("_given"))
                sums = sums.join(given, on=keys[0], how="left")
            else:
                sums = sums.with_columns(pl.lit(None, dtype=pl.Float64).alias("_given"))
            sums = sums.with_columns(
                pl.coalesce("_given", "_alloc").round(2).cast(MONEY).alias("target_wan"),
                pl.when(pl.col("_given").is_not_null()).then(pl.lit(ASSIGNED)).otherwise(pl.lit(ALLOCATED))
                .alias("target_basis"),
            ).drop("_given", "_alloc")
        else:
            sums = sums.with_columns(
                pl.lit(city, dtype=MONEY).alias("target_wan"),
                pl.lit("全市目标").alias("target_basis"),
            )
        parts.append(_simulate(sums, fc=cfg.forecast, common=common, rng=rng))
    frame = pl.concat(parts, how="vertical_relaxed")
    target = pl.col("target_wan").cast(pl.Float64)
    planned = pl.col("planned_wan").cast(pl.Float64)
    done = pl.col("completed_wan").cast(pl.Float64)
    base = target / (1 + pl.col("growth_pct").fill_null(0.0) / 100)
    out = (
        frame
        .with_columns(
            pl.when(target > 0).then((planned / target).round(9)).alias("coverage"),
            (target - planned).clip(0.0).alias("shortfall_wan"),
            (target * seasonal).alias("expected_wan"),
            (target * linear).alias("linear_expected_wan"),
            pl.lit(seasonal).alias("seasonal_share"),
            pl.lit(linear).alias("linear_share"),
            base.alias("base_wan"),
        )
        .with_columns(
            (pl.col("shortfall_wan") / config.WAN_PER_YI).alias("shortfall_yi"),
            pl.when(pl.col("expected_wan") > 0).then((done / pl.col("expected_wan")).round(9)).alias("ytd_ratio"),
            pl.when(pl.col("linear_expected_wan") > 0).then((done / pl.col("linear_expected_wan")).round(9))
            .alias("linear_ratio"),
            pl.when(pl.col("plan_expected_wan") > 0).then((done / pl.col("plan_expected_wan")).round(9))
            .alias("plan_ytd_ratio"),
            (target - pl.col("forecast_wan")).alias("forecast_gap_wan"),
            pl.when(pl.col("base_wan") > 0).then((pl.col("forecast_wan") / pl.col("base_wan") - 1) * 100)
            .alias("implied_growth_pct"),
            pl.when(pl.col("base_wan") > 0).then((planned / pl.col("base_wan") - 1) * 100)
            .alias("plan_implied_growth_pct"),
        )
        .with_columns(
            _status(pl.col("ytd_ratio"), pl.col("coverage"), cfg).alias("status"),
        )
    )
    cols = ["metric", "label", *keys, "target_basis", "projects", "target_wan", "planned_wan",
            "coverage", "shortfall_wan", "shortfall_yi", "completed_wan", "seasonal_share",
            "expected_wan", "ytd_ratio", "linear_share", "linear_expected_wan", "linear_ratio",
            "plan_expected_wan", "plan_ytd_ratio", "growth_pct", "base_wan", "forecast_wan",
            "forecast_low_wan", "forecast_high_wan", "forecast_gap_wan", "probability_meet_target",
            "implied_growth_pct", "plan_implied_growth_pct", "status"]
    return out.select(cols)


def group_targets(con: duckdb.DuckDBPyConnection, year: int) -> pl.DataFrame:
    """Targets given per unit or chain (scope ``unit:ID`` / ``chain:ID``), if any exist."""
    return store.fetch(
        con,
        "select metric, split_part(scope, ':', 2) as scope_id, value_wan::decimal(38,2) as target_wan"
        " from targets where year = ? and (scope like 'unit:%' or scope like 'chain:%') and metric in (?, ?)",
        [year, *METRICS],
    )


def target_checks(con: duckdb.DuckDBPyConnection, *, as_of: date, by: str | None = None) -> pl.DataFrame:
    """Per metric (and per unit/chain with ``by``): coverage, YTD, base year, forecast, status."""
    cfg = settings(con)
    projects = project_frame(con, as_of=as_of, cfg=cfg)
    return checks_of(projects, targets=city_targets(con, cfg.year), cfg=cfg, month=as_of.month,
                     by=by, group_targets=group_targets(con, cfg.year))


# --------------------------------------------------------------------------------------------
# projects and roll-ups

PERFORMANCE_COLS = [
    "project_id", "name", "enterprise", "unit_id", "unit_name", "chain_id", "chain_name", "tier",
    "nature", "status", "is_major", "is_tech_upgrade", "leader", "leader_level",
    "total_investment_wan", "annual_plan_wan", "start_date", "end_date", "active_from", "active_to",
    "dates_outside_year", "expected_share",
    "expected_wan", "completed_wan", "behind_wan", "performance", "flag", "last_invest_month",
    "idle_months", "stalled", "open_problems", "open_problem_level", "open_problem_since",
    "open_problem_months", "is_lagging", "remaining_plan_wan", "pace", "pace_sd", "forecast_wan",
    "forecast_low_wan", "forecast_high_wan", "forecast_gap_wan",
]


def project_performance(con: duckdb.DuckDBPyConnection, *, as_of: date) -> pl.DataFrame:
    """Per project: expected and completed to date, performance, flag, stall, problems, forecast."""
    return project_frame(con, as_of=as_of).select(PERFORMANCE_COLS)


def lagging_of(projects: pl.DataFrame, *, limit: int | None = None) -> pl.DataFrame:
    """The lagging projects of a project frame, furthest behind first (the first ``limit``)."""
    order = (
        projects
        .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"), "project_id", "behind_wan", "is_lagging")
        .filter(pl.col("is_lagging"))
        .sort(["behind_wan", "project_id"], descending=[True, False])
    )
    rows = order["_row"] if limit is None else order["_row"].head(limit)
    return projects.select(PERFORMANCE_COLS)[rows]


def lagging_projects(con: duckdb.DuckDBPyConnection, *, as_of: date) -> pl.DataFrame:
    """Projects flagged red or amber, or stalled, sorted by how far behind they are (万元)."""
    return lagging_of(project_frame(con, as_of=as_of))


def rollup_of(projects: pl.DataFrame, *, by: str) -> pl.DataFrame:
    """Roll a project frame up by unit, chain, tier, leader (or status, nature, leader_level)."""
    keys = _group_cols(by)
    done = pl.col("completed_wan").cast(pl.Float64)
    return (
        _fill_group_labels(projects)
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("projects"),
            pl.col("total_investment_wan").sum().cast(MONEY).alias("total_investment_wan"),
            pl.col("annual_plan_wan").sum().cast(MONEY).alias("plan_wan"),
            pl.col("completed_wan").sum().cast(MONEY).alias("completed_wan"),
            pl.col("expected_wan").sum().alias("expected_wan"),
            pl.col("forecast_wan").sum().alias("forecast_wan"),
            pl.col("is_lagging").sum().cast(pl.Int64).alias("lagging"),
            (pl.col("flag") == "red").sum().cast(pl.Int64).alias("red"),
            (pl.col("flag") == "amber").sum().cast(pl.Int64).alias("amber"),
            (pl.col("flag") == "green").sum().cast(pl.Int64).alias("green"),
            pl.col("stalled").sum().cast(pl.Int64).alias("stalled"),
            pl.col("open_problems").is_not_null().sum().cast(pl.Int64).alias("open_problems"),
            done.sum().alias("_done"),
        )
        .with_columns(
            pl.when(pl.col("expected_wan") > 0).then((pl.col("_done") / pl.col("expected_wan")).round(9))
            .alias("performance"),
            (pl.col("lagging") / pl.col("projects")).alias("lagging_share"),
        )
        .drop("_done")
        .sort(["lagging", "projects", *keys], descending=[True, True, *([False] * len(keys))], nulls_last=True)
    )


def rollup(con: duckdb.DuckDBPyConnection, *, as_of: date, by: str) -> pl.DataFrame:
    """Projects, investment, lagging count and open problems per unit, chain, tier or leader."""
    return rollup_of(project_frame(con, as_of=as_of), by=by)


# --------------------------------------------------------------------------------------------
# responsibility (包保)

_RESP_SQL = """
select p.project_id, p.name, p.unit_id, coalesce(u.name, p.unit_id) as unit_name,
       p.total_investment_wan::decimal(38,2) as total_investment_wan, p.is_major,
       nullif(trim(p.leader), '') as leader, p.leader_level
from projects p left join units u on u.unit_id = p.unit_id
"""


def responsibility_counts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Projects per highest 包保 level vs the source counts, with cumulative (或以上) counts."""
    cfg = settings(con)
    return responsibility_counts_of(store.fetch(con, _RESP_SQL), cfg=cfg)


def responsibility_counts_of(projects: pl.DataFrame, *, cfg: Settings) -> pl.DataFrame:
    """Counts per leader level of a project frame (levels highest first, then 未落实)."""
    levels = [*config.LEADER_LEVELS, NO_OWNER]
    plan = [cfg.plan_counts.get(lv) for lv in config.LEADER_LEVELS] + [None]
    grid = pl.DataFrame({"leader_level": levels, "plan_count": plan, "_order": list(range(len(levels)))},
                        schema={"leader_level": pl.String, "plan_count": pl.Int64, "_order": pl.Int64})
    counts = (
        projects
        .with_columns(pl.col("leader_level").fill_null(NO_OWNER).alias("leader_level"))
        .group_by("leader_level")
        .agg(pl.len().cast(pl.Int64).alias("count"))
    )
    return (
        grid
        .join(counts, on="leader_level", how="left")
        .sort("_order")
        .with_columns(
            pl.col("count").fill_null(0).alias("count"),
        )
        .with_columns(
            pl.when(pl.col("leader_level") != NO_OWNER).then(pl.col("count").cum_sum()).alias("cumulative_count"),
            pl.col("plan_count").cum_sum().alias("plan_cumulative_count"),
            pl.when(pl.col("leader_level") != NO_OWNER).then(pl.col("leader_level") + "或以上")
            .alias("cumulative_label"),
        )
        .with_columns(
            (pl.col("count") - pl.col("plan_count")).alias("count_diff"),
            (pl.col("cumulative_count") - pl.col("plan_cumulative_count")).alias("cumulative_diff"),
        )
        .select("leader_level", "count", "plan_count", "count_diff", "cumulative_label",
                "cumulative_count", "plan_cumulative_count", "cumulative_diff")
    )


def responsibility_violations(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Projects with no owner, ≥3000万 held below 处室, or major projects held below 局级."""
    cfg = settings(con)
    return violations_of(store.fetch(con, _RESP_SQL), cfg=cfg)


def violations_of(projects: pl.DataFrame, *, cfg: Settings) -> pl.DataFrame:
    """Responsibility violations of a project frame, one row per project and rule."""
    rank = {lv: i for i, lv in enumerate(config.LEADER_LEVELS)}  # 0 = highest
    floor_level = "处室"
    level_rank = pl.col("leader_level").replace_strict(rank, default=None, return_dtype=pl.Int64)
    owned = pl.col("leader").is_not_null() & pl.col("leader_level").is_not_null()
    total = pl.col("total_investment_wan").cast(pl.Float64)
    min_wan = cfg.min_level_from_wan
    amount = pl.col("total_investment_wan").cast(pl.Float64).round(2).cast(pl.String)
    rules = [
        (
            "no_owner", ~owned, pl.lit(None, dtype=pl.String),
            pl.when(pl.col("leader").is_null() & pl.col("leader_level").is_null())
            .then(pl.lit("未落实包保责任：包保领导和包保层级均为空"))
            .when(pl.col("leader").is_null()).then(pl.lit("未落实包保领导（包保层级为") + pl.col("leader_level") + "）")
            .otherwise(pl.lit("未明确包保层级（包保领导为") + pl.col("leader") + "）"),
        ),
        (
            "below_min_level", owned & (total >= min_wan) & (level_rank > rank[floor_level]),
            pl.lit(floor_level),
            pl.lit("总投资") + amount + f"万元，达到{min_wan:g}万元应由{floor_level}或以上包保，现为"
            + pl.col("leader_level"),
        ),
        (
            "major_below_level", owned & pl.col("is_major") & (level_rank > rank[cfg.major_min_level]),
            pl.lit(cfg.major_min_level),
            pl.lit(f"重大产业化项目应由{cfg.major_min_level}或以上领导包保，现为") + pl.col("leader_level"),
        ),
    ]
    parts = [
        projects
        .filter(cond)
        .with_columns(
            pl.lit(code).alias("rule"),
            required.alias("required_level"),
            reason.alias("reason"),
        )
        for code, cond, required, reason in rules
    ]
    order = {code: i for i, (code, *_rest) in enumerate(rules)}
    return (
        pl.concat(parts, how="vertical_relaxed")
        .with_columns(pl.col("rule").replace_strict(order, return_dtype=pl.Int64).alias("_order"))
        .sort(["_order", "total_investment_wan", "project_id"], descending=[False, True, False])
        .select("project_id", "name", "unit_id", "unit_name", "total_investment_wan", "is_major",
                "leader", "leader_level", "rule", "required_level", "reason")
    )


# --------------------------------------------------------------------------------------------
# forecast


def forecast(con: duckdb.DuckDBPyConnection, *, as_of: date, top: int = 20) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Year-end forecast per metric (point, low, high) and the projects that drive it."""
    cfg = settings(con)
    projects = project_frame(con, as_of=as_of, cfg=cfg)
    checks = checks_of(projects, targets=city_targets(con, cfg.year), cfg=cfg, month=as_of.month)
    ranked = ranked_of(projects, checks=checks, cfg=cfg, top=top)
    return forecast_summary(checks, ranked=ranked), drivers_of(ranked)


def forecast_summary(checks: pl.DataFrame, *, ranked: Ranked) -> pl.DataFrame:
    """Forecast columns per metric, with what accelerating the pipeline could still add.

    ``acceleration_potential_wan``: Σ achievable extra over all projects; ``projects_to_close_gap``:
    how many of the ranked accelerators it takes to reach the target (null when there is no
    gap, or when even all of them together cannot close it).
    """
    extra = pl.DataFrame(
        [{"metric": metric, "acceleration_potential_wan": potential, "projects_to_close_gap": n}
         for metric, (_short, _fast, potential, n) in ranked.items()],
        schema={"metric": pl.String, "acceleration_potential_wan": pl.Float64, "projects_to_close_gap": pl.Int64},
    )
    return checks.select(
        "metric", "label", "target_wan", "planned_wan", "completed_wan", "forecast_wan",
        "forecast_low_wan", "forecast_high_wan", "forecast_gap_wan", "probability_meet_target",
        "implied_growth_pct",
    ).join(extra, on="metric", how="left")


Ranked = dict[str, tuple[pl.DataFrame, pl.DataFrame, float, int | None]]


def ranked_of(projects: pl.DataFrame, *, checks: pl.DataFrame, cfg: Settings, top: int) -> Ranked:
    """Per metric: the ``top`` projects furthest behind plan, the ``top`` accelerators, the
    acceleration potential (Σ achievable extra) and how many accelerators close the gap.

    An accelerator's achievable extra is what it could still recover towards its annual
    plan by running its remaining scheduled work at the pace cap:
    ``min(plan − forecast, remaining × (cap − pace))``, never below 0. Ranking works on a
    narrow frame; only the top rows are gathered in full.
    """
    cap = cfg.forecast["ratio_cap"]
    plan = pl.col("annual_plan_wan").cast(pl.Float64)
    done = pl.col("completed_wan").cast(pl.Float64)
    out: Ranked = {}
    narrow_cols = ["project_id", "forecast_gap_wan", "remaining_plan_wan", "pace"]
    for metric, subset in _metric_frames(projects, narrow_cols):
        gap_to_target = float(checks.filter(pl.col("metric") == metric)["forecast_gap_wan"][0])
        scored = subset.with_columns(
            pl.min_horizontal(pl.col("forecast_gap_wan").clip(0.0),
                              (pl.col("remaining_plan_wan") * (cap - pl.col("pace"))).clip(0.0))
            .alias("achievable_extra_wan"),
        )
        behind = scored.filter(pl.col("forecast_gap_wan") > 0)
        total_gap = float(behind["forecast_gap_wan"].sum() or 0.0)
        short = (
            behind
            .sort(["forecast_gap_wan", "project_id"], descending=[True, False])
            .head(top)
            .select(
                "project_id",
                pl.lit("shortfall").alias("role"),
                (pl.col("forecast_gap_wan") / total_gap).alias("gap_share"),
                pl.lit(None, dtype=pl.Float64).alias("cumulative_extra_wan"),
                pl.lit(None, dtype=pl.Boolean).alias("closes_gap"),
            )
        )
        fast_all = (
            scored
            .filter(pl.col("achievable_extra_wan") > 0)
            .sort(["achievable_extra_wan", "project_id"], descending=[True, False])
            .select(
                "project_id",
                pl.lit("accelerate").alias("role"),
                pl.lit(None, dtype=pl.Float64).alias("gap_share"),
                pl.col("achievable_extra_wan").cum_sum().alias("cumulative_extra_wan"),
            )
            .with_columns(
                ((pl.col("cumulative_extra_wan") >= gap_to_target) & pl.lit(gap_to_target > 0)).alias("closes_gap"),
            )
        )
        closing = fast_all["closes_gap"].arg_true()
        potential = float(fast_all["cumulative_extra_wan"][-1]) if fast_all.height else 0.0
        heads = tuple(
            part
            .with_row_index("rank", offset=1)
            .join(projects.filter(pl.col("project_id").is_in(part["project_id"].implode())),
                  on="project_id", how="left")
            .with_columns(
                pl.when(pl.col("remaining_plan_wan") > 0).then((plan - done) / pl.col("remaining_plan_wan"))
                .alias("required_pace"),
                pl.min_horizontal(pl.col("forecast_gap_wan").clip(0.0),
                                  (pl.col("remaining_plan_wan") * (cap - pl.col("pace"))).clip(0.0))
                .alias("achievable_extra_wan"),
            )
            .sort("rank")
            for part in (short, fast_all.head(top))
        )
        out[metric] = (heads[0], heads[1], potential, int(closing[0]) + 1 if len(closing) else None)
    return out


DRIVER_COLS = [
    "metric", "role", "rank", "project_id", "name", "unit_name", "chain_name", "tier", "leader",
    "leader_level", "annual_plan_wan", "completed_wan", "expected_wan", "performance", "pace",
    "forecast_wan", "forecast_gap_wan", "gap_share", "remaining_plan_wan", "required_pace",
    "achievable_extra_wan", "cumulative_extra_wan", "closes_gap",
]


def drivers_of(ranked: Ranked) -> pl.DataFrame:
    """The ranked projects per metric: role ``shortfall`` (largest plan − forecast, with its
    share of the total gap) and ``accelerate`` (largest achievable extra, with the cumulative
    extra and whether it closes the metric's gap to target)."""
    parts = [
        part
        .with_columns(
            pl.lit(metric).alias("metric"),
            pl.col("rank").cast(pl.Int64).alias("rank"),
        )
        .select(DRIVER_COLS)
        for metric, (short, fast, _potential, _n) in ranked.items()
        for part in (short, fast)
    ]
    return pl.concat(parts, how="vertical_relaxed")


# --------------------------------------------------------------------------------------------
# the check report (CLI `portfolio check`)


def _jsonable(value: Any, column: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return round(float(value), 2)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return round(value, 2 if column.endswith("_wan") else 4)
    if isinstance(value, date):
        return value.isoformat()
    return value


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: 万元 rounded to 2 decimals, ratios to 4, dates as ISO text."""
    return [{k: _jsonable(v, k) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def check_report(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, limit: int = 50) -> dict[str, Any]:
    """Everything `portfolio check` shows, as the JSON shape of the CONTRACT (plus extras)."""
    cfg = settings(con)
    as_of = as_of or default_as_of(con, cfg.year)
    month = _month_index(as_of, cfg.year)
    projects = project_frame(con, as_of=as_of, cfg=cfg)
    targets = city_targets(con, cfg.year)
    goals = group_targets(con, cfg.year)
    checks = checks_of(projects, targets=targets, cfg=cfg, month=month)
    ranked = ranked_of(projects, checks=checks, cfg=cfg, top=10)
    extra = forecast_summary(checks, ranked=ranked).select(
        "metric", "acceleration_potential_wan", "projects_to_close_gap")
    lagging = lagging_of(projects, limit=limit)
    violations = violations_of(projects, cfg=cfg)
    return {
        "year": cfg.year,
        "as_of": as_of.strftime("%Y-%m"),
        "is_sample": store.is_sample(con),
        "projects": projects.height,
        "metrics": records(checks.join(extra, on="metric", how="left")),
        "tiers": records(tiers_of(projects, tiers=cfg.tiers)),
        "below_tier_count": int(projects["tier"].is_null().sum()),
        "lagging_count": int(projects["is_lagging"].sum()),
        "lagging_projects": records(lagging),
        "stalled_count": int(projects["stalled"].sum()),
        "open_problem_count": int(projects["open_problems"].is_not_null().sum()),
        "responsibility": records(responsibility_counts_of(projects, cfg=cfg)),
        "violation_counts": {r: int(n) for r, n in violations.group_by("rule", maintain_order=True).len().iter_rows()},
        "violations": records(violations.head(limit)),
        "by_unit": records(checks_of(projects, targets=targets, cfg=cfg, month=month, by="unit",
                                     group_targets=goals)),
        "by_chain": records(checks_of(projects, targets=targets, cfg=cfg, month=month, by="chain",
                                      group_targets=goals)),
        "drivers": records(drivers_of(ranked)),
        "rules": {
            "status": f"季节完成率≥{cfg.on_track:g}为正常，≥{cfg.at_risk:g}为有风险，否则滞后；"
                      f"计划覆盖率<{cfg.coverage_at_risk:g}时最多为有风险",
            "flag": f"项目完成率≥{cfg.green:g}为绿，≥{cfg.amber:g}为黄，否则为红；"
                    f"活动月份中连续{cfg.stalled_months}个月无投资为停滞",
            "forecast": "已完成 + 剩余计划 × 收缩后的完成节奏；区间为蒙特卡洛分位数（见 docs/forecast.md）",
        },
    }


def _yi(v: Any) -> str:
    return "—" if v is None else f"{float(v) / config.WAN_PER_YI:,.2f}"


def _pct(v: Any) -> str:
    return "—" if v is None else f"{float(v) * 100:.1f}%"


def _dash(v: Any) -> str:
    return "—" if v is None else str(v)


STATUS_STYLE = {"on_track": "green", "at_risk": "yellow", "off_track": "red"}


def _status_text(status: str | None) -> Any:
    from rich.text import Text

    if status is None:
        return Text("—")
    return Text(STATUS_LABELS.get(status, status), style=STATUS_STYLE.get(status, "white"))


def print_check(report: dict[str, Any], console: Any) -> None:
    """Render a check report as readable Chinese tables (money in 亿元).

    Project, unit and problem texts are data: never read as markup, control characters shown as
    visible escapes, whatever console is given.
    """
    from rich.table import Table
    from rich.text import Text

    from .textsafe import visible

    def say(line: str) -> None:
        console.print(Text(visible(line)))

    def cells(*values: object) -> list[Any]:
        return [v if isinstance(v, Text) else Text(visible(v)) for v in values]

    metrics = report["metrics"]
    title = f"{report['year']}年目标检查（截至 {report['as_of']}）" + ("〔示例数据〕" if report.get("is_sample") else "")
    t = Table(title=Text(visible(title)))
    t.add_column("项目")
    for x in metrics:
        t.add_column(Text(visible(x["label"])), justify="right")
    rows: list[tuple[str, str]] = [
        ("年度目标（亿元）", "target_wan"), ("项目库年度计划（亿元）", "planned_wan"), ("计划覆盖率", "coverage"),
        ("累计完成（亿元）", "completed_wan"), ("季节预期（亿元）", "expected_wan"), ("季节完成率", "ytd_ratio"),
        ("线性预期（亿元）", "linear_expected_wan"), ("线性完成率（时间进度）", "linear_ratio"),
        ("上年基数（亿元）", "base_wan"), ("年末预测（亿元）", "forecast_wan"), ("预测区间（亿元）", "_range"),
        ("达标概率", "probability_meet_target"), ("预测增速", "implied_growth_pct"), ("状态", "status"),
    ]
    for label, key in rows:
        row: list[Any] = []
        for x in metrics:
            if key == "_range":
                row.append(f"{_yi(x['forecast_low_wan'])}–{_yi(x['forecast_high_wan'])}")
            elif key == "status":
                row.append(_status_text(x["status"]))
            elif key == "implied_growth_pct":
                row.append("—" if x[key] is None else f"{x[key]:.1f}%")
            elif key.endswith("_wan"):
                row.append(_yi(x[key]))
            else:
                row.append(_pct(x[key]))
        t.add_row(label, *cells(*row))
    console.print(t)
    for x in metrics:
        gap = x["forecast_gap_wan"]
        if gap is not None and gap > 0:
            n = x.get("projects_to_close_gap")
            how = (f"加速排名前 {n} 个项目可补足" if n else
                   f"全部项目加速最多可补 {_yi(x.get('acceleration_potential_wan'))} 亿元，仍不足")
            say(f"{x['label']}：预测缺口 {_yi(gap)} 亿元；{how}。")

    t = Table(title="投资规模档次（按总投资）")
    for head in ("档次", "项目数", "累计", "原文累计", "差额", "年度计划（亿元）"):
        t.add_column(head, justify="left" if head == "档次" else "right")
    for r in report["tiers"]:
        t.add_row(*cells(r["tier"], r["count"], r["cumulative_count"], r["plan_cumulative_count"],
                         f"{r['cumulative_diff']:+d}", _yi(r["plan_wan"])))
    console.print(t)
    if report.get("below_tier_count"):
        say(f"另有 {report['below_tier_count']} 个项目总投资不足最低档（不计入档次）。")

    t = Table(title="包保责任（最高包保层级）")
    for head in ("层级", "项目数", "原文", "口径", "累计", "原文累计"):
        t.add_column(head, justify="left" if head in ("层级", "口径") else "right")
    for r in report["responsibility"]:
        t.add_row(*cells(r["leader_level"], r["count"], _dash(r["plan_count"]), r["cumulative_label"] or "",
                         _dash(r["cumulative_count"]), _dash(r["plan_cumulative_count"])))
    console.print(t)
    counts = report.get("violation_counts", {})
    names = {"no_owner": "未落实包保", "below_min_level": "3000万元以上低于处室包保",
             "major_below_level": "重大产业化项目低于局级包保"}
    say("包保问题：" + ("；".join(f"{names.get(k, k)} {v} 个" for k, v in counts.items()) or "无") + "。")

    units = [u for u in report.get("by_unit", []) if u["metric"] == "industrial_investment"]
    if units:
        t = Table(title="分责任单位：工业投资（目标按计划占比分配）")
        for head in ("责任单位", "计划（亿元）", "累计完成（亿元）", "季节完成率", "年末预测（亿元）", "状态"):
            t.add_column(head, justify="left" if head in ("责任单位", "状态") else "right", overflow="fold")
        for u in sorted(units, key=lambda r: r["ytd_ratio"] if r["ytd_ratio"] is not None else 9):
            t.add_row(*cells(u["unit_name"], _yi(u["planned_wan"]), _yi(u["completed_wan"]), _pct(u["ytd_ratio"]),
                             _yi(u["forecast_wan"]), _status_text(u["status"])))
        console.print(t)

    lag = report["lagging_projects"]
    say(f"滞后项目 {report['lagging_count']} 个（停滞 {report['stalled_count']} 个；"
        f"全库有未解决问题的项目 {report['open_problem_count']} 个）。")
    if lag:
        t = Table(title="滞后最多的项目（前10，按欠完成额）")
        for head in ("项目", "责任单位", "应完成/已完成（亿元）", "完成率", "标识", "存在问题"):
            t.add_column(head, justify="right" if head in ("应完成/已完成（亿元）", "完成率") else "left",
                         overflow="fold")
        for r in lag[:10]:
            flag = FLAG_LABELS.get(r["flag"] or "", "—") + ("·停滞" if r["stalled"] else "")
            problem = f"{r['open_problems']}（{r['open_problem_months']}个月）" if r["open_problems"] else ""
            t.add_row(*cells(r["name"], r["unit_name"] or "", f"{_yi(r['expected_wan'])}/{_yi(r['completed_wan'])}",
                             _pct(r["performance"]), flag, problem))
        console.print(t)


# Earlier private names, still used by portfolio/report.py.
_group_targets = group_targets
_ranked = ranked_of
