"""The sample's monthly progress, January to the last reported month of the plan year."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl

from .. import config
from .draw import _cents_to_money, _rng
from .params import LAST_MONTH, PACE, PCT, PRE_PROBLEMS, PROBLEMS, YEAR


def _month_index(col: str, default: int) -> pl.Expr:
    """A date column as months from January of the plan year (January = 1)."""
    return ((pl.col(col).dt.year() - YEAR) * 12 + pl.col(col).dt.month()).fill_null(default)


def prior_share(status: np.ndarray, plan: np.ndarray, total: np.ndarray, s: np.ndarray,
                e: np.ndarray) -> np.ndarray:
    """Share of the total investment done before the plan year (the 形象进度 it starts from).

    In construction (在建): the months before the year over the duration, times what the year's
    plan leaves; finished (竣工 / 达产达效): everything but the year's plan; else nothing. ``s``
    and ``e`` are month indexes (January of the plan year = 1), ``total`` at least 1. The sample's
    2015 progress (:mod:`.history`) spreads exactly this work over the months before the year.
    """
    room = 1 - plan / total
    elapsed = np.clip((1 - s) / np.maximum(e - s + 1, 1), 0.0, 1.0)
    return np.where(status >= 3, room, np.where(status == 2, elapsed * room, 0.0))


def build_progress(
    projects: pl.DataFrame,
    *,
    seed: int = 2016,
    shares: Sequence[float] | None = None,
    last_month: int = LAST_MONTH,
) -> pl.DataFrame:
    """Monthly progress January → ``last_month`` of the plan year, one row per project-month.

    Completion follows the seasonal profile over each project's active months, times a
    per-project pace: most on track (0.9–1.1), a group lagging (0.4–0.8), some stalled
    (nothing for the last 2–4 months). On-track projects are then scaled per nature group so
    that the year to date equals ``PACE`` × plan × seasonal share: the aggregate shortfall
    follows from the parameters, not from hand-placed results.
    """
    rng = _rng(seed, 3)
    sh = np.asarray(shares if shares is not None else config.seasonal_shares(), dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(sh)])
    tech_natures = config.targets_config().get("tech_upgrade_natures", list(config.NATURES[1:]))
    p = projects.select(
        pl.col("project_id"),
        pl.col("status")
        .replace_strict({s: i for i, s in enumerate(config.STATUSES)}, return_dtype=pl.Int64),
        pl.col("nature").is_in(tech_natures).alias("tech"),
        pl.col("annual_plan_wan").cast(pl.Float64).alias("plan"),
        pl.col("total_investment_wan").cast(pl.Float64).alias("total"),
        _month_index("start_date", 1).alias("s"),
        _month_index("end_date", 12).alias("e"),
        pl.col("is_major"),
        (pl.col("leader_level") != "属地").fill_null(False).alias("held"),
    )
    n = p.height
    status, s, e = p["status"].to_numpy(), p["s"].to_numpy(), p["e"].to_numpy()
    plan, total = p["plan"].to_numpy(), np.maximum(p["total"].to_numpy(), 1.0)
    finished, producing = status >= 3, status == 4
    first = np.where(producing, 1, np.clip(s, 1, 13))
    last = np.where(producing, last_month, np.minimum(e, last_month))
    span_end = np.where(producing, 12, np.clip(e, first, 12))
    counts = np.where((status > 0) & (plan > 0) & (first <= last), last - first + 1, 0)

    # per project: 0 on track, 1 lagging, 2 stalled, 3 finished (竣工 / 达产达效)
    u = rng.random(n)
    kind = np.where(finished, 3, np.where(u < 0.70, 0, np.where(u < 0.88, 1, 2)))
    pace = np.select(
        [kind == 0, kind == 1, kind == 2],
        [rng.uniform(0.9, 1.1, n), rng.uniform(0.4, 0.8, n), rng.uniform(0.6, 1.0, n)],
        default=1.0,
    )
    stall_from = last_month - rng.integers(2, 5, n)  # nothing invested after this month
    owner = np.repeat(np.arange(n), counts)
    start_row = np.cumsum(counts) - counts
    month = first[owner] + np.arange(len(owner)) - start_row[owner]
    den = cum[span_end] - cum[first - 1]
    weight = sh[month - 1] / np.where(den > 0, den, 1.0)[owner]
    noise = np.where(finished[owner], 1.0, rng.lognormal(-0.02, 0.2, len(owner)))
    value = plan[owner] * weight * pace[owner] * noise
    value[(kind[owner] == 2) & (month > stall_from[owner])] = 0.0

    # calibrate the on-track projects of each nature group to the chosen pace
    group = p["tech"].to_numpy().astype(np.int64)
    on_track = kind[owner] == 0
    flex = np.bincount(group[owner], weights=np.where(on_track, value, 0.0), minlength=2)
    fixed = np.bincount(group[owner], weights=np.where(on_track, 0.0, value), minlength=2)
    goal = np.array([PACE["new"], PACE["tech"]]) * cum[last_month] * np.bincount(group, plan, 2)
    factor = np.clip((goal - fixed) / np.where(flex > 0, flex, 1.0), 0.6, 1.4)
    cents = np.round(np.where(on_track, value * factor[group[owner]], value) * 100).astype(np.int64)

    # 开累 never passes the total: a fast project on a plan close to its total is scaled down,
    # row by row, so that the year alone never invests more than the total (one project of the
    # default 1004; its earlier months, base year included, then hold nothing more)
    prior = prior_share(status, plan, total, s, e)
    room = np.floor(total * 100)
    spent = np.bincount(owner, weights=cents, minlength=n)
    over = spent > room
    cents = np.where(over[owner], np.floor(cents * (room / np.where(over, spent, 1.0))[owner]),
                     cents).astype(np.int64)

    # physical progress: work done before the year plus this year's investment, cumulative
    running = np.cumsum(cents)
    done = (running - np.concatenate([[0], running])[start_row][owner]) / 100.0
    pct = np.minimum(100.0, 100.0 * (prior[owner] + done / total[owner]))
    pct[(status[owner] == 3) & (month == last[owner])] = 100.0

    # problems: lagging projects report one, stalled ones two, until the last month;
    # a few on-track projects had a minor one that was solved
    n_build = len(PROBLEMS) - PRE_PROBLEMS
    first_problem = np.where(status == 1, rng.integers(0, PRE_PROBLEMS, n),
                             rng.integers(PRE_PROBLEMS, len(PROBLEMS), n))
    second_problem = PRE_PROBLEMS + (first_problem - PRE_PROBLEMS + rng.integers(1, 4, n)) % n_build
    since = np.where(kind == 2, stall_from, np.minimum(last, first + rng.integers(0, 9, n)))
    since = np.maximum(since, first)
    minor = (kind == 0) & (rng.random(n) < 0.05) & (last > first)
    minor_month = first + (rng.random(n) * np.maximum(last - first, 1)).astype(np.int64)
    open_row = ((kind == 1) | (kind == 2))[owner] & (month >= since[owner])
    # escalate one level every three months: 属地 → 处室 → 局级 (majors up to 市级)
    major = p["is_major"].to_numpy()
    base = np.where(major, 2, np.where(p["held"].to_numpy(), 1, 0))
    level = np.minimum(base[owner] + (month - since[owner]) // 3, np.where(major, 3, 2)[owner])
    # one small pool of texts and levels, gathered by index (-1 = none): no per-row strings
    pool = [*PROBLEMS, *(f"{x}；{y}" for x in PROBLEMS for y in PROBLEMS), "施工许可待办", None]
    n_problems = len(PROBLEMS)
    text = np.select(
        [open_row & (kind[owner] == 2), open_row, minor[owner] & (month == minor_month[owner])],
        [n_problems + first_problem[owner] * n_problems + second_problem[owner],
         first_problem[owner], len(pool) - 2],
        default=len(pool) - 1,
    )
    level = np.where(open_row, level, np.where(text == len(pool) - 2, 0, len(config.PROBLEM_LEVELS)))
    cents = pl.DataFrame({"c": cents, "pct": np.round(pct * 100).astype(np.int64)})
    return pl.DataFrame({
        "project_id": p["project_id"].gather(owner),
        "month": pl.Series([date(YEAR, m, 1) for m in range(1, 13)]).gather(month - 1),
        "completed_wan": cents.select(_cents_to_money("c")).to_series(),
        "physical_pct": cents.select(_cents_to_money("pct", PCT)).to_series(),
        "problems": pl.Series(pool, dtype=pl.String).gather(text),
        "problem_level": pl.Series([*config.PROBLEM_LEVELS, None], dtype=pl.String).gather(level),
    })
