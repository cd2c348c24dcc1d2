"""The sample's project ledger: tiers, majors, 包保 levels, chains, units, dates, plans, roles."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import polars as pl

from .. import chains, config
from .draw import (
    Array,
    _apportion,
    _choice,
    _log_uniform,
    _people,
    _pick,
    _places,
    _prepare,
    _rng,
    _trades,
    _unit_cdf,
)
from .params import (
    _BUREAU_TITLES,
    _CITY_TITLES,
    _TRADE_A,
    _TRADE_B,
    ADDRESSED_WEIGHT,
    DIVISIONS,
    EMPTY_ADDRESSED,
    EMPTY_OPEN,
    LAST_MONTH,
    MAJOR_COUNT,
    MAJOR_TOP_TIER,
    MARK,
    MISSING_LEADER_RATE,
    MONEY,
    NAMED_MAJORS,
    NOTE,
    OFF_CHAIN_PRODUCTS,
    OFF_CHAIN_SHARE,
    PARKS,
    PLAN_COVERAGE,
    PROJECT_CHAINS,
    SOURCE_PROJECTS,
    TEMPLATES,
    YEAR,
)


def _targets(targets: pl.DataFrame, year: int = YEAR) -> tuple[float, float]:
    """The city's industrial and tech-upgrade investment targets (万元)."""
    got = dict(
        targets
        .filter((pl.col("year") == year) & (pl.col("scope") == "city"))
        .select(pl.col("metric"), pl.col("value_wan").cast(pl.Float64))
        .iter_rows()
    )
    return (float(got.get("industrial_investment", 23_520_000)),
            float(got.get("tech_upgrade_investment", 14_100_000)))


def _fill_to(raw: Array, cap: Array, goal: float) -> Array:
    """Scale ``raw`` to sum to ``goal`` without any value passing its ``cap`` (water filling)."""
    x = raw.astype(float).copy()
    for _ in range(30):
        free = x < cap - 1e-9
        rest = x[free].sum()
        if rest <= 0 or abs(x.sum() - goal) < 0.5:
            break
        x = np.where(free, np.minimum(x * (goal - x[~free].sum()) / rest, cap), x)
    return x


def _amounts(rng: np.random.Generator, n: int, tiers: pl.DataFrame) -> tuple[Array, Array]:
    """Tier of each project (0 = highest) and total investment, log-uniform within the band."""
    tier = np.repeat(np.arange(tiers.height), _apportion(n, tiers["plan_count"].to_numpy()))
    lows = tiers["min_wan"].to_numpy().astype(float)
    highs = np.concatenate([[lows[0] * 15], lows[:-1]])  # 10亿 band: up to 150亿
    steps = np.array([1000.0, 100.0, 10.0] + [1.0] * tiers.height)[: tiers.height]
    step = steps[tier]
    raw = lows[tier] * (highs[tier] / lows[tier]) ** (rng.random(n) ** 1.2)
    return tier, np.clip(np.floor(raw / step) * step, lows[tier], highs[tier] - step)


def _majors_and_levels(
    rng: np.random.Generator, tier: Array, amount: Array, levels: dict[str, int], lowest: int
) -> tuple[Array, Array]:
    """Major projects (top tier first) and each project's 包保 level (0 = 市级 … 3 = 属地).

    Counts scale with the ledger: 30 majors and 23 / 135 / 622 / 224 levels per 1004
    projects. 属地 is exactly the lowest tier, so every project of 3000万 or more sits at
    处室 or above; 市级 projects are majors, the other majors are 局级.
    """
    n = len(tier)
    scale = n / SOURCE_PROJECTS
    top, second = np.flatnonzero(tier == 0), np.flatnonzero(tier == 1)
    n_major = min(round(MAJOR_COUNT * scale), len(top) + len(second))
    n_top = min(len(top), round(n_major * MAJOR_TOP_TIER / MAJOR_COUNT))
    # the top tier is in random order already: its first rows are the majors (named first)
    majors = np.concatenate([top[:n_top], _pick(rng, second, amount[second], n_major - n_top)])
    below = tier == lowest
    n_named = min(len(NAMED_MAJORS), n_top)
    n_city = min(round(levels["市级"] * scale), n_major)
    n_bureau = max(round(levels["局级"] * scale), n_major - n_city)
    n_bureau = min(n_bureau, int((~below).sum()) - n_city)
    rest = majors[n_named:]
    city = np.concatenate([majors[: min(n_named, n_city)],
                           _pick(rng, rest, amount[rest], n_city - min(n_named, n_city))])
    is_major = np.zeros(n, dtype=bool)
    is_major[majors] = True
    # 局级: the rest of the majors plus large projects (亿元以上 where there are enough)
    pool = np.flatnonzero(~below & ~is_major & (tier <= 1))
    wanted = n_bureau - (n_major - n_city)
    if len(pool) < wanted:
        pool = np.flatnonzero(~below & ~is_major)
    bureau = np.concatenate([np.setdiff1d(majors, city),
                             _pick(rng, pool, np.sqrt(amount[pool]), wanted)])
    level = np.where(below, 3, 2)
    level[bureau] = 1
    level[city] = 0
    return majors, level


def _dates(rng: np.random.Generator, status: Array, tier: Array) -> tuple[Array, Array]:
    """Start and end as months from January of the plan year, consistent with the status."""
    n = len(status)
    bands = np.array([(24, 49), (12, 37), (8, 25), (6, 19)])[np.minimum(tier, 3)]
    dur = rng.integers(bands[:, 0], bands[:, 1])
    early = rng.random(n) < 0.72  # most projects under construction started before the year
    start = np.select(
        [status == 0, status == 1, (status == 2) & early, status == 2],
        [rng.integers(10, 25, n), rng.integers(3, 15, n), rng.integers(-30, 0, n),
         rng.integers(1, 8, n)],
        default=0,
    )
    end = np.select(
        [status == 3, status == 4],  # 竣工 during this year, 达产达效 by its first months
        [rng.integers(2, LAST_MONTH, n), rng.integers(-12, 2, n)],
        default=np.maximum(start + dur, LAST_MONTH + rng.integers(1, 7, n)),
    )
    return np.where(status >= 3, end - dur, start), end


def _active_in_plan_year(rng: np.random.Generator, plan: Array, status: Array, start: Array,
                         end: Array) -> tuple[Array, Array]:
    """A plan for the year means work in the year.

    A 谋划/前期 project with a plan starts by December (not in a later year); a 达产达效 one
    with a plan finishes its tail in the first quarter (not the year before). Its own random
    stream, so the other projects do not change.
    """
    n = len(plan)
    planned = plan > 0
    late = planned & (status <= 1) & (start > 11)
    # 谋划 projects have not started by the as-of month (October at the earliest)
    start = np.where(late, np.where(status == 0, rng.integers(9, 12, n), rng.integers(6, 12, n)), start)
    tail = planned & (status == 4) & (end < 0)
    shift = np.where(tail, rng.integers(0, 3, n) - end, 0)
    return start + shift, end + shift


def _plans(
    rng: np.random.Generator, amount: Array, tier: Array, status: Array, is_tech: Array,
    goals: tuple[float, float],
) -> Array:
    """Plan-year investment (whole 万元): a share of the total by status, filled to the goals."""
    lo = np.array([0.0, 0.05, 0.20, 0.15, 0.02])[status]
    hi = np.array([0.06, 0.25, 0.55, 0.50, 0.10])[status]
    cap = np.array([0.10, 0.40, 0.85, 0.85, 0.20])[status] * amount
    raw = amount * (lo + (hi - lo) * rng.random(len(amount))) * np.where(tier == 0, 0.8, 1.0)
    raw[(status == 0) & (rng.random(len(amount)) < 0.25)] = 0.0  # some 谋划 have no plan yet
    plan = np.zeros(len(amount))
    plan[~is_tech] = _fill_to(raw[~is_tech], cap[~is_tech], goals[0])
    plan[is_tech] = _fill_to(raw[is_tech], cap[is_tech], goals[1])
    return np.minimum(np.floor(plan), amount)


def _leaders(
    rng: np.random.Generator, seed: int, level: Array, chain: Array, unit: Array,
    chain_ids: Sequence[str], shorts: Sequence[str],
) -> pl.Series:
    """Synthetic responsible leaders: city and bureau leaders, the chain's division, the unit."""
    divisions = [DIVISIONS.get(c, DIVISIONS[""]) for c in [*chain_ids, ""]]
    distinct = sorted(set(divisions))
    names = iter(_people(_rng(seed, 4),
                         len(_CITY_TITLES) + len(_BUREAU_TITLES) + len(distinct) + len(shorts)))
    pool = [f"{next(names)}（{t}）" for t in _CITY_TITLES]
    pool += [f"{next(names)}（工信局{t}）" for t in _BUREAU_TITLES]
    chief = {d: next(names) for d in distinct}
    pool += [f"{chief[d]}（工信局{d}）" for d in divisions]
    pool += [f"{next(names)}（{s}项目办）" for s in shorts]
    n, nc, nb = len(level), len(_CITY_TITLES), len(_BUREAU_TITLES)
    pick = np.select(
        [level == 0, level == 1, level == 2],
        [rng.integers(0, nc, n), nc + rng.integers(0, nb, n), nc + nb + chain],
        default=nc + nb + len(divisions) + unit,
    )
    low = np.flatnonzero(level >= 2)
    missing = _pick(rng, low, np.ones(len(low)), round(MISSING_LEADER_RATE * n))
    return pl.Series("leader", pool).gather(pick).scatter(missing, None)


def _decode(values: Array, labels: Sequence[str | None]) -> pl.Series:
    """Integer codes → labels; -1 means null."""
    return pl.Series([*labels, None], dtype=pl.String).gather(np.where(values >= 0, values, len(labels)))


def build_projects(
    n: int,
    seed: int,
    nodes: pl.DataFrame,
    units: pl.DataFrame,
    *,
    edges: pl.DataFrame,
    enterprises: pl.DataFrame,
    targets: pl.DataFrame,
    con: duckdb.DuckDBPyConnection | None = None,
    rules: chains.ChainRules | None = None,
) -> pl.DataFrame:
    """The project ledger: tiers, majors, 包保 levels, chains, units, dates and plan-year amounts.

    Declared chain roles follow the segments' classes as :func:`portfolio.chains.segment_kinds`
    finds them for ``enterprises``, under the chain rules of ``con`` (the database being
    filled) or ``rules`` (default: data/chains.toml).
    """
    if n < 1:
        raise ValueError("示例项目数必须是正整数（n_projects must be at least 1）。")
    nodes, units = _prepare(nodes, units)
    rng = _rng(seed, 2)
    cfg = config.targets_config()
    tiers = config.tiers_frame()
    scale = n / SOURCE_PROJECTS
    tier, amount = _amounts(rng, n, tiers)
    majors, level = _majors_and_levels(rng, tier, amount, cfg["responsibility"]["plan_counts"],
                                       tiers.height - 1)
    is_major = np.zeros(n, dtype=bool)
    is_major[majors] = True
    top_majors = majors[tier[majors] == 0]
    named = top_majors[: len(NAMED_MAJORS)]
    amount[top_majors] = np.floor(_log_uniform(rng, 150_000, 2_000_000, len(top_majors), 1.5) / 1000) * 1000

    # chain segment (a few projects on no chain), unit, nature, status
    chain_ids = sorted(PROJECT_CHAINS)
    node_ids = nodes["node_id"].to_list()
    node_chain = np.array([chain_ids.index(c) for c in nodes["chain_id"]])
    weight = nodes["weight"].to_numpy()
    w = weight * np.array([PROJECT_CHAINS[c] for c in nodes["chain_id"]])
    w = w / np.bincount(node_chain, weights=weight)[node_chain]
    w[np.isin(node_ids, EMPTY_OPEN)] = 0.0
    w[np.isin(node_ids, EMPTY_ADDRESSED)] *= ADDRESSED_WEIGHT
    node = np.minimum(np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right"),
                      len(node_ids) - 1)
    node[(rng.random(n) < OFF_CHAIN_SHARE) & ~is_major] = -1
    # every addressed gap gets at least one project (moving at most one project in a hundred)
    empty = [node_ids.index(g) for g in EMPTY_ADDRESSED if g in node_ids]
    empty = [i for i in empty if not (node == i).any()][: n // 100]
    node[rng.permutation(np.flatnonzero(~is_major))[: len(empty)]] = empty
    for i, m in zip(named, NAMED_MAJORS, strict=False):
        node[i] = node_ids.index(m[1]) if m[1] in node_ids else node[i]
    chain = np.where(node >= 0, node_chain[np.maximum(node, 0)], len(chain_ids))
    unit_ids = units["unit_id"].to_list()
    unit = _choice(rng, _unit_cdf(units, chain_ids), chain)
    nature = _choice(rng, np.array([[0.42, 0.68, 1.0]]), np.zeros(n, dtype=np.int64))
    status = _choice(rng, np.array([[0.07, 0.20, 0.82, 0.92, 1.0], [0.0, 0.2, 1.0, 1.0, 1.0]]),
                     is_major.astype(np.int64))
    # on a segment without a local firm nothing is finished, expanded or upgraded yet
    on_gap = np.isin(np.append(node_ids, ""), EMPTY_ADDRESSED + EMPTY_OPEN)[node]
    status = np.where(on_gap & (status >= 3), 2, status)
    nature = np.where(on_gap, 0, nature)
    for i, m in zip(named, NAMED_MAJORS, strict=False):
        unit[i] = unit_ids.index(m[2]) if m[2] in unit_ids else unit[i]
        nature[i], status[i] = config.NATURES.index(m[3]), config.STATUSES.index(m[4])
        amount[i] = m[5]
    start, end = _dates(rng, status, tier)
    industrial, tech = _targets(targets)
    tech_natures = cfg.get("tech_upgrade_natures", config.NATURES[1:])
    is_tech = np.isin(config.NATURES, tech_natures)[nature]
    goal_tech = tech * PLAN_COVERAGE["tech"] * scale
    goal_new = industrial * PLAN_COVERAGE["industrial"] * scale - goal_tech
    plan = _plans(rng, amount, tier, status, is_tech, (goal_new, goal_tech))
    start, end = _active_in_plan_year(_rng(seed, 97), plan, status, start, end)

    # enterprise: an existing firm on the segment (most expansions), else a new investor
    position = {x: i for i, x in enumerate(node_ids)}
    ent = (
        enterprises
        .filter(pl.col("node_id").is_in(node_ids))
        .with_columns(pl.col("node_id").replace_strict(position, return_dtype=pl.Int64).alias("pos"))
        .sort("pos", "enterprise_id")
    )
    firm_n = np.bincount(ent["pos"].to_numpy(), minlength=len(node_ids))
    firm_off = np.cumsum(firm_n) - firm_n
    nn = np.maximum(node, 0)
    existing = (node >= 0) & (firm_n[nn] > 0) & (rng.random(n) < np.where(nature == 0, 0.25, 0.85))
    firm = np.where(existing, firm_off[nn] + (rng.random(n) * firm_n[nn]).astype(np.int64), -1)
    products = pl.Series([*nodes["name"], *OFF_CHAIN_PRODUCTS]).gather(
        np.where(node >= 0, node,
                 len(node_ids) + rng.integers(0, np.where(tier == 0, 2, len(OFF_CHAIN_PRODUCTS)))))
    trades = _trades().gather(rng.integers(0, len(_TRADE_A) * len(_TRADE_B), n))
    firm_pos = np.where(firm >= 0, firm, ent.height)
    shorts = units["short_name"].to_list()
    template = rng.integers(0, 3, n)
    texts = pl.Series([*(t for nat in config.NATURES for t in TEMPLATES[nat]), "产业化项目"])
    labels = pl.DataFrame({
        "firm_name": ent["name"].extend_constant(None, 1).gather(firm_pos),
        "firm_short": ent["short_name"].extend_constant(None, 1).gather(firm_pos),
        "trade": trades,
        "product": products,
        "suffix": texts.gather(np.where(is_major, len(texts) - 1, nature * 3 + template)),
        "place": _places(units).gather(unit),
        "unit_short": pl.Series(shorts).gather(unit),
        "park_kind": pl.Series([PARKS[c] for c in [*chain_ids, ""]]).gather(chain),
    }).select(
        pl.concat_str(pl.coalesce("firm_short", "trade"), "product", "suffix").alias("name"),
        pl.coalesce(
            pl.col("firm_name"),
            pl.concat_str("place", "trade", "product", pl.lit("有限公司" + MARK)),
        ).alias("enterprise"),
        pl.concat_str("unit_short", "park_kind").alias("park"),
    )
    named_idx = pl.Series(named, dtype=pl.Int64)
    name = labels["name"].scatter(named_idx, [m[0] for m in NAMED_MAJORS[: len(named)]])
    enterprise = labels["enterprise"].scatter(named_idx, [m[6] for m in NAMED_MAJORS[: len(named)]])

    # declared chain role: mostly agreeing with the segment's class, some not
    kinds = chains.segment_kinds(nodes, edges, enterprises, con=con, rules=rules)
    kind_of_node = [config.CHAIN_ROLES.index(k) if (k := kinds[x]) else -1 for x in node_ids]
    kind = np.array([*kind_of_node, -1])[np.where(node >= 0, node, len(node_ids))]
    declare = rng.random(n) < np.where(kind >= 0, 0.55, np.where(node >= 0, 0.12, 0.0))
    agree = (kind >= 0) & (rng.random(n) < 0.75)
    other = np.where(kind >= 0, (kind + rng.integers(1, 3, n)) % 3, rng.integers(0, 3, n))
    role = np.where(declare, np.where(agree, kind, other), -1)
    leader = _leaders(rng, seed, level, chain, unit, chain_ids, shorts)

    # ids: majors first (named first), the rest in random order
    order = np.concatenate([majors, rng.permutation(np.flatnonzero(~is_major))])
    width = max(4, len(str(n)))
    frame = pl.DataFrame({
        "project_id": pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(width),
        "name": name.gather(order),
        "enterprise": enterprise.gather(order),
        "chain_id": _decode(np.where(node >= 0, node_chain[nn], -1)[order], chain_ids),
        "node_id": _decode(node[order], node_ids),
        "unit_id": pl.Series(unit_ids).gather(unit[order]),
        "park": labels["park"].gather(order),
        "nature": pl.Series(config.NATURES).gather(nature[order]),
        "status": pl.Series(config.STATUSES).gather(status[order]),
        "total": amount[order].astype(np.int64),
        "plan": plan[order].astype(np.int64),
        "start": start[order],
        "end": end[order],
        "leader": leader.gather(order),
        "leader_level": pl.Series(config.LEADER_LEVELS).gather(level[order]),
        "is_major": is_major[order],
        "chain_role": _decode(role[order], config.CHAIN_ROLES),
    })
    return frame.select(
        pl.concat_str(pl.lit(f"CC{YEAR}-"), "project_id").alias("project_id"),
        "name", "enterprise", "chain_id", "node_id", "unit_id", "park", "nature", "status",
        pl.col("total").cast(MONEY).alias("total_investment_wan"),
        pl.col("plan").cast(MONEY).alias("annual_plan_wan"),
        _month_date("start").alias("start_date"),
        _month_date("end").dt.month_end().alias("end_date"),
        "leader", "leader_level", "is_major", "chain_role",
        pl.lit(NOTE).alias("note"),
        pl.lit(True).alias("is_sample"),
    )


def _month_date(col: str) -> pl.Expr:
    """First day of the month given as months from January of the plan year."""
    return pl.date(YEAR + pl.col(col).floordiv(12), pl.col(col).mod(12) + 1, 1)
