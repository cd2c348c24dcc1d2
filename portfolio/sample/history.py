"""The sample's past: 2015 progress of the projects started before 2016, and the official statistics.

Every assumption is a number in ``data/sample_history.toml`` (with its source sentence or the
word ASSUMPTION); this module only turns them into rows, vectorised (numpy + polars):

* :func:`build_past_progress`: one ``progress`` row per month of the base year (2015) that a
  project started before the plan year was under construction. Its work before the plan year is
  the one the 2016 形象进度 starts from (:func:`.progress.prior_share`), spread over its months
  since the start along the seasonal profile; the base year keeps its months' share. 开累 (the
  base year plus the plan year) never passes the total investment.
* :func:`build_actuals`: the statistics bureau's monthly 本年累计 and 同比 (table ``actuals``) for
  the twelve months of the base year and January → ``LAST_MONTH`` of the plan year, per metric.
  Investment: the base year's total (the plan year's target over its growth) along the seasonal
  profile; the plan year's = the library's completed to date × a stated 统计口径 / 项目库口径 ratio.
  规上工业产值: solved from the source's 2016 facts (−4.6%, +15.8%, 2284.1亿 +3%, 2246亿 +5.1%,
  +5% to September, 8970亿 +6%).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from .. import config
from .draw import _cents_to_money, _rng
from .params import LAST_MONTH, PCT, YEAR
from .progress import _month_index, prior_share

HISTORY_FILE = "sample_history.toml"
INVESTMENT = ("industrial_investment", "tech_upgrade_investment")
OUTPUT = "industrial_output"
YOY = pl.Decimal(7, 2)


def history_config(folder: Path | None = None) -> dict[str, Any]:
    """``sample_history.toml`` of the configuration folder, else the one bundled in ``data/``.

    A configuration folder made for a deployment need not carry the sample's history."""
    for path in ((folder or config.data_dir()) / HISTORY_FILE, config.ROOT / "data" / HISTORY_FILE):
        if path.is_file():
            try:
                with path.open("rb") as fh:
                    return tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise config.ConfigError(f"配置文件 {path} 格式错误：{exc}") from exc
    raise config.ConfigError(f"配置文件缺失：{HISTORY_FILE}（the sample's history file is missing）")


def _cumulative_weight(k: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Σ of the seasonal shares of every month up to month index ``k`` (January of the plan
    year = 1), counted from an arbitrary origin: whole years count 1 each."""
    y, m = np.divmod(k - 1, 12)
    return y + cum[m + 1]


def build_past_progress(
    projects: pl.DataFrame,
    progress: pl.DataFrame,
    *,
    seed: int = 2016,
    shares: Sequence[float] | None = None,
    cfg: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """Base-year (2015) progress rows for the projects that started before the plan year.

    ``progress`` is the plan year's (its sum per project caps the base year's, so 开累 stays
    within the total investment). Rows run from the later of January and the start month to
    the earlier of December and the end month; 形象进度 climbs to exactly where the plan year's
    first row starts from. No problems are reported in the base year.
    """
    cfg = cfg if cfg is not None else history_config()
    sigma = float(cfg.get("progress", {}).get("noise_sigma", 0.15))
    sh = np.asarray(shares if shares is not None else config.seasonal_shares(), dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(sh)])
    cum[12] = 1.0
    done = progress.group_by("project_id").agg(pl.col("completed_wan").sum().cast(pl.Float64).alias("done"))
    p = projects.select(
        pl.col("project_id"),
        pl.col("status")
        .replace_strict({s: i for i, s in enumerate(config.STATUSES)}, return_dtype=pl.Int64),
        pl.col("annual_plan_wan").cast(pl.Float64).alias("plan"),
        pl.col("total_investment_wan").cast(pl.Float64).alias("total"),
        _month_index("start_date", 1).alias("s"),
        _month_index("end_date", 12).alias("e"),
    ).join(done, on="project_id", how="left").with_columns(pl.col("done").fill_null(0.0))
    status, s, e = p["status"].to_numpy(), p["s"].to_numpy(), p["e"].to_numpy()
    plan, total = p["plan"].to_numpy(), np.maximum(p["total"].to_numpy(), 1.0)
    before = prior_share(status, plan, total, s, e) * total  # work done before the plan year

    # months before the plan year: the start → the end (at most December of the base year)
    last = np.minimum(e, 0)
    first = np.maximum(s, -11)  # January of the base year is month index -11
    has = (s <= 0) & (first <= last) & (before > 0)
    span = _cumulative_weight(last, cum) - _cumulative_weight(s - 1, cum)
    in_base = _cumulative_weight(last, cum) - _cumulative_weight(first - 1, cum)
    share = np.where(has & (span > 0), in_base / np.where(span > 0, span, 1.0), 0.0)
    room = np.maximum(total - p["done"].to_numpy(), 0.0)  # 开累 never passes the total
    amount = np.floor(np.minimum(before * share, room) * 100).astype(np.int64)
    earlier = before * (1 - share)  # done before the base year

    counts = np.where(has, last - first + 1, 0)
    counts = np.where(amount >= 100 * counts, counts, 0)  # at least 1万 a month, else no rows
    owner = np.repeat(np.arange(p.height), counts)
    start_row = np.cumsum(counts) - counts
    month = first[owner] + np.arange(len(owner)) - start_row[owner] + 12  # 1–12 of the base year
    weight = sh[month - 1] * _rng(seed, 5).lognormal(0.0, sigma, len(owner))
    running = np.cumsum(weight)
    within = running - (running - weight)[start_row[owner]]  # cumulative weight in the project
    whole = np.bincount(owner, weights=weight, minlength=p.height)
    to_date = np.round(amount[owner] * within / np.where(whole > 0, whole, 1.0)[owner]).astype(np.int64)
    ends = (np.cumsum(counts) - 1)[counts > 0]
    to_date[ends] = amount[counts > 0]  # each project's base year sums exactly to its amount
    cents = np.diff(np.concatenate([[0], to_date]))
    cents[start_row[counts > 0]] = to_date[start_row[counts > 0]]
    pct = np.minimum(100.0, 100.0 * (earlier[owner] + to_date / 100.0) / total[owner])
    frame = pl.DataFrame({"c": cents, "pct": np.round(pct * 100).astype(np.int64)})
    base_year = YEAR - 1
    return pl.DataFrame({
        "project_id": p["project_id"].gather(owner),
        "month": pl.Series([date(base_year, m, 1) for m in range(1, 13)]).gather(month - 1),
        "completed_wan": frame.select(_cents_to_money("c")).to_series(),
        "physical_pct": frame.select(_cents_to_money("pct", PCT)).to_series(),
        "problems": pl.Series([None] * len(owner), dtype=pl.String),
        "problem_level": pl.Series([None] * len(owner), dtype=pl.String),
    })


def _bases(targets: pl.DataFrame) -> dict[str, float]:
    """The base year's figure per metric: the plan year's city target over its growth (万元)."""
    rows = (
        targets
        .filter((pl.col("year") == YEAR) & (pl.col("scope") == "city"))
        .select("metric", pl.col("value_wan").cast(pl.Float64), pl.col("growth_pct").cast(pl.Float64))
    )
    found = {m: v / (1 + g / 100) for m, v, g in rows.iter_rows() if v is not None and g is not None}
    missing = [m for m in (*INVESTMENT, OUTPUT) if m not in found]
    if missing:
        raise config.ConfigError(
            f"示例数据需要 {YEAR} 年全市目标及其增速（targets.toml 的 growth_pct）：{', '.join(missing)}"
            "（the sample's 2015 figures are the 2016 targets over their growth）。")
    return found


def _output_months(cfg: dict[str, Any], base: float) -> tuple[np.ndarray, np.ndarray]:
    """规上工业产值 per month (万元): the base year's twelve, the plan year's January → September."""
    o = cfg["industrial_output"]
    q1, q2 = float(o["q1_2016_wan"]), float(o["q2_2016_wan"])
    a, b = 1 + o["jan_feb_yoy_pct"] / 100, 1 + o["march_yoy_pct"] / 100
    q1_prev = q1 / (1 + o["q1_yoy_pct"] / 100)
    march_prev = (q1 - a * q1_prev) / (b - a)  # (1 − 4.6%) A + (1 + 15.8%) B = Q1, A + B = Q1 last year
    jan_feb_prev = q1_prev - march_prev
    q2_prev = q2 / (1 + o["q2_yoy_pct"] / 100)
    second_half = base - q1_prev - q2_prev
    q3_prev = second_half * o["q3_share_of_h2_2015"]
    q3 = (1 + o["jan_sep_yoy_pct"] / 100) * (q1_prev + q2_prev + q3_prev) - q1 - q2
    split = np.asarray(o["quarter_month_shares"], dtype=float)
    jan = o["jan_share_of_jan_feb"]
    prev = np.concatenate([
        jan_feb_prev * np.array([jan[str(YEAR - 1)], 1 - jan[str(YEAR - 1)]]), [march_prev],
        q2_prev * split, q3_prev * split, (second_half - q3_prev) * split])
    cur = np.concatenate([
        a * jan_feb_prev * np.array([jan[str(YEAR)], 1 - jan[str(YEAR)]]), [b * march_prev],
        q2 * split, q3 * split])
    return prev, cur


def build_actuals(
    projects: pl.DataFrame,
    progress: pl.DataFrame,
    targets: pl.DataFrame,
    *,
    shares: Sequence[float] | None = None,
    scale: float = 1.0,
    tech_natures: Sequence[str] | None = None,
    last_month: int = LAST_MONTH,
    cfg: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """The statistics bureau's monthly figures: ``month, metric, cumulative_wan, yoy_pct``.

    The base year's twelve months and January → ``last_month`` of the plan year, per metric.
    The plan year's investment is the library's completed to date (``progress`` of the plan
    year; 技改 = ``tech_natures``) × ``official_over_library``; its 同比 is computed from the two
    years' 本年累计 and rounded to 2 decimals. ``scale`` (N / 1004) scales the base year's
    investment with the ledger.
    """
    cfg = cfg if cfg is not None else history_config()
    inv = cfg["investment"]
    sh = np.asarray(shares if shares is not None else config.seasonal_shares(), dtype=float)
    cum = np.cumsum(sh)
    cum[11] = 1.0
    natures = list(tech_natures if tech_natures is not None
                   else config.targets_config().get("tech_upgrade_natures", config.NATURES[1:]))
    bases = _bases(targets)
    lib = (
        progress
        .filter(pl.col("month").is_between(date(YEAR, 1, 1), date(YEAR, last_month, 1)))
        .join(projects.select("project_id", "nature"), on="project_id")
        .group_by(pl.col("month").dt.month().alias("m"))
        .agg(pl.col("completed_wan").sum().alias("industrial_investment"),
             pl.col("completed_wan").filter(pl.col("nature").is_in(natures)).sum()
             .alias("tech_upgrade_investment"))
    )
    months = pl.DataFrame({"m": np.arange(1, last_month + 1, dtype=np.int8)})
    lib = months.join(lib.with_columns(pl.col("m").cast(pl.Int8)), on="m", how="left").fill_null(0).sort("m")

    prev_cents: dict[str, np.ndarray] = {}
    cur_cents: dict[str, np.ndarray] = {}
    for metric in INVESTMENT:  # two metrics, vectorised over the months
        prev_cents[metric] = np.round(bases[metric] * scale * cum * 100).astype(np.int64)
        ratio = np.asarray(inv["official_over_library"][metric], dtype=float)[:last_month]
        library = lib[metric].cast(pl.Float64).cum_sum().to_numpy()
        cur_cents[metric] = np.round(library * ratio * 100).astype(np.int64)
    prev, cur = _output_months(cfg, bases[OUTPUT])
    prev_cents[OUTPUT] = np.round(np.cumsum(prev) * 100).astype(np.int64)
    cur_cents[OUTPUT] = np.round(np.cumsum(cur) * 100).astype(np.int64)[:last_month]

    yoy_prev = {**inv["yoy_2015"], OUTPUT: cfg["industrial_output"]["yoy_2015"]}
    frames = []
    for metric in (*INVESTMENT, OUTPUT):
        p, c = prev_cents[metric], cur_cents[metric]
        base_prev = p[: len(c)]
        growth = np.where(base_prev > 0, (c / np.where(base_prev > 0, base_prev, 1) - 1) * 100, np.nan)
        frames.append(pl.DataFrame({
            "month": [date(YEAR - 1, m, 1) for m in range(1, 13)] + [date(YEAR, m, 1) for m in range(1, len(c) + 1)],
            "metric": metric,
            "c": np.concatenate([p, c]),
            "yoy": [Decimal(str(v)) for v in yoy_prev[metric]] + [
                None if np.isnan(g) else Decimal(f"{g:.2f}") for g in growth],
        }, schema_overrides={"yoy": YOY}))
    return pl.concat(frames).select(
        "month", "metric", _cents_to_money("c").alias("cumulative_wan"), pl.col("yoy").alias("yoy_pct"))
