"""示例数据: the deterministic sample plan built from the source figures (长春工业, 2016).

Everything here is synthetic and marked so (``note = '示例数据'``, enterprise names end in
``（示例）``, ``is_sample = true``). Where the source gives a figure the sample reproduces it
exactly for the default 1004 projects: the tier counts 84 / 436 / 260 / 224, the 30 major
projects (six of them named), the 包保 levels 23 / 135 / 622 / 224, the 14 units, the 677 key
enterprises and 21 of them held by city leaders. Everything else is a documented design choice
(docs/sample.md), kept in the constants below.

The builders are vectorised (numpy + polars) and pure: :func:`build_sample` returns the three
frames without a database; :func:`load_sample` writes them through registered Arrow frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb
import numpy as np
import polars as pl

from . import config

SOURCE_PROJECTS = 1004
YEAR = 2016
LAST_MONTH = 9  # progress is reported January–September
MAJOR_COUNT = 30
MAJOR_TOP_TIER = 26  # majors of 10亿 or more (the rest are 1亿–10亿)
CITY_HELD_ENTERPRISES = 21
MISSING_LEADER_RATE = 3 / SOURCE_PROJECTS  # leader left blank: the 'no owner' case
OFF_CHAIN_SHARE = 0.03  # 建材、能源 and other projects on none of the ten chains
NOTE = "示例数据"
MARK = "（示例）"

#: Σ plan-year investment / target: industrial covered, tech-upgrade a little short.
PLAN_COVERAGE = {"industrial": 1.02, "tech": 0.97}
#: Year-to-date completion / (Σ plan × seasonal share to September), per nature group.
PACE = {"new": 0.93, "tech": 0.92}

MONEY = pl.Decimal(18, 2)
PCT = pl.Decimal(5, 2)

#: (name, node, unit, nature, status, total 万元, enterprise) of the six majors the source names.
NAMED_MAJORS: tuple[tuple[str, str, str, str, str, int, str], ...] = (
    ("奥迪Q工厂", "auto.vehicle", "QK", "新建", "在建", 1_500_000, "一汽-大众" + MARK),
    ("中德工业园", "auto.module", "QK", "新建", "在建", 800_000, "长春中德产业园开发有限公司" + MARK),
    ("动车组检修", "rail.maint", "LY", "扩建", "在建", 320_000, "中车长客" + MARK),
    ("通用航空产业园", "aero.gaplane", "JT", "新建", "前期", 500_000,
     "九台通用航空产业园投资有限公司" + MARK),
    ("聚乳酸", "bio.pla", "JK", "扩建", "在建", 260_000, "长春绿源聚乳酸科技有限公司" + MARK),
    ("亚泰医药产业园", "pharma.bioengine", "GX", "新建", "在建", 450_000, "亚泰医药" + MARK),
)

#: Share of projects per chain (on-chain projects only).
PROJECT_CHAINS = {"auto": 0.26, "agri": 0.16, "rail": 0.07, "equip": 0.08, "pharma": 0.09,
                  "elec": 0.09, "bio": 0.06, "mat": 0.07, "nev": 0.06, "aero": 0.03}
#: Segments with no local enterprise (gaps). OPEN ones get no project (招商 targets).
EMPTY_ADDRESSED = ("auto.autonomous", "rail.tcms", "bio.isosorbide", "elec.imagechip",
                   "aero.uav", "mat.3dprint")
EMPTY_OPEN = ("auto.parking", "auto.connected", "aero.heli", "nev.recycle", "equip.cnc_sys",
              "pharma.cro")
ADDRESSED_WEIGHT = 0.35  # a gap draws a few new investors, not a crowd

#: Enterprises per chain: (key firms ≥ 1亿, smaller firms, total output 万元).
ENTERPRISE_CHAINS = {
    "auto": (199, 90, 52_000_000), "agri": (160, 80, 12_300_000), "rail": (50, 25, 5_600_000),
    "pharma": (52, 30, 3_300_000), "elec": (52, 35, 3_300_000), "bio": (31, 15, 1_600_000),
    "mat": (36, 15, 2_100_000), "nev": (33, 10, 1_400_000), "equip": (45, 38, 1_500_000),
    "aero": (19, 0, 600_000),
}
#: Key firms on segments that are not 'covered' (0 empty, 1 single, 2–3 thin, anchored).
#: Every other segment gets at least five firms of comparable size (HHI < 2500).
SEGMENT_FIRMS = {
    **dict.fromkeys(EMPTY_ADDRESSED + EMPTY_OPEN, 0),
    **dict.fromkeys(("rail.emu", "rail.testline", "aero.satellite", "aero.gaplane", "bio.pla",
                     "elec.oled", "nev.magnet", "mat.oledmat", "agri.egg"), 1),
    "auto.vehicle": 5, "agri.corn": 6, "auto.hotform": 2, "auto.cfrp": 2, "rail.metro": 2,
    "pharma.vaccine": 3, "elec.measure": 2, "elec.bigdata": 2, "bio.catalyst": 2,
    "bio.strain": 2, "bio.degradable": 2, "bio.lactic": 2, "mat.carbonfiber": 2,
    "mat.precursor": 2, "nev.charging": 2, "nev.charger": 2, "nev.cell": 3, "nev.phev": 2,
    "nev.bus": 3, "nev.lithium": 2, "nev.bev": 2, "equip.robot": 3, "equip.iiot": 2,
    "equip.integrate": 3, "aero.engine": 2, "aero.avionics": 2, "aero.ops": 2,
    "aero.material": 2, "aero.hydraulic": 2, "aero.airframe": 2, "aero.mro": 2, "aero.remote": 3,
}
#: Anchor firms (name, trade name, node, unit, output 万元); they count among the segment's
#: key firms. Names get the （示例） mark in code.
ANCHORS: tuple[tuple[str, str, str, str, int], ...] = (
    ("一汽-大众", "一汽-大众", "auto.vehicle", "QK", 24_000_000),
    ("一汽解放", "一汽解放", "auto.vehicle", "QK", 6_500_000),
    ("一汽轿车", "一汽轿车", "auto.vehicle", "QK", 4_000_000),
    ("中车长客", "中车长客", "rail.emu", "LY", 4_200_000),
    ("长春华粮玉米深加工集团有限公司", "华粮", "agri.corn", "JK", 1_800_000),
    ("长春吉碳纤维有限公司", "吉碳", "mat.carbonfiber", "JT", 400_000),
    ("长春绿源聚乳酸科技有限公司", "绿源", "bio.pla", "JK", 200_000),
    ("长春星光卫星技术有限公司", "星光", "aero.satellite", "GX", 150_000),
)

#: Base weight of each unit (national zones biggest) and chain-specific multipliers.
UNIT_WEIGHTS = {"JK": 10, "GX": 9, "QK": 12, "JY": 5, "NG": 2, "KC": 3, "CY": 2.5, "ED": 2.5,
                "LY": 4, "SY": 3, "JT": 5, "YS": 4, "DH": 5, "NA": 5}
UNIT_AFFINITY: dict[str, dict[str, float]] = {
    "auto": {"QK": 4, "LY": 1.5, "JK": 1.5, "ED": 1.2, "YS": 0.3, "NA": 0.3},
    "rail": {"LY": 6, "KC": 2, "JK": 1.5, "JT": 1.5, "QK": 0.5},
    "agri": {"DH": 4, "NA": 4, "YS": 4, "SY": 3, "JT": 2, "JK": 1.5, "KC": 1.5, "QK": 0.2,
             "GX": 0.3, "NG": 0.5, "CY": 0.5, "ED": 0.5},
    "pharma": {"GX": 3, "JY": 3, "ED": 1.5, "SY": 1.5, "JT": 1.5},
    "elec": {"GX": 4, "JY": 2, "CY": 1.5, "NG": 1.5},
    "bio": {"JK": 3, "DH": 2, "GX": 1.5, "NA": 1.5, "JT": 1.5},
    "mat": {"JK": 2, "JT": 3, "ED": 1.5, "GX": 1.5},
    "nev": {"QK": 3, "JK": 2, "GX": 2},
    "equip": {"JK": 2, "LY": 2, "ED": 2, "KC": 1.5, "GX": 1.5, "QK": 1.5},
    "aero": {"JT": 4, "GX": 2, "JY": 1.5},
    "": {"JT": 2, "SY": 2, "DH": 1.5, "NA": 1.5, "KC": 1.5, "GX": 0.5, "JY": 0.5},
}
PARKS = {"auto": "汽车零部件产业园", "rail": "轨道交通装备产业园", "agri": "农产品加工园",
         "pharma": "医药产业园", "elec": "光电信息产业园", "bio": "生物产业园",
         "mat": "新材料产业园", "nev": "新能源汽车产业园", "equip": "装备制造产业园",
         "aero": "航空产业园", "": "工业集中区"}
#: The bureau division (处室) that holds a chain's projects; '' for projects on no chain.
DIVISIONS = {"auto": "汽车工业处", "nev": "汽车工业处", "rail": "装备工业处",
             "equip": "装备工业处", "aero": "装备工业处", "agri": "消费品工业处",
             "pharma": "医药产业处", "bio": "医药产业处", "elec": "电子信息处",
             "mat": "原材料工业处", "": "投资与规划处"}
#: Products of projects on no chain; the first two (energy) are the only ones at 10亿 or more.
OFF_CHAIN_PRODUCTS = ("热电联产", "光伏发电", "新型建材", "商品混凝土", "包装材料", "印刷包装",
                      "家具制造", "服装加工")
TEMPLATES = {
    "新建": ("生产基地建设项目", "产业化项目", "新建项目"),
    "扩建": ("扩能项目", "二期扩建项目", "产能提升项目"),
    "改建及技术改造": ("生产线技术改造项目", "智能化改造项目", "节能降耗改造项目"),
}
#: Problems on lagging projects: before construction (前期) and during it (在建).
PROBLEMS = ("用地手续未批", "环评审批滞后", "施工许可待办", "规划许可未办结",
            "资金未到位", "设备采购延迟", "供电配套未到位", "拆迁安置未完成", "融资贷款未落实")
PRE_PROBLEMS = 4  # the first four are pre-construction problems

_TRADE_A = "华金瑞宏恒盛鑫泰丰德凯永嘉兴润博宇福安隆顺中东北新天元长信达通远龙祥和正光吉亚"
_TRADE_B = "宇泰达源通丰业信邦力成创科晟辉海川盈安华鼎锐拓嘉诚瑞特利康伟洋润禾峰荣胜"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = ("建国", "明", "立新", "海峰", "志刚", "晓东", "丽华", "文博", "振宇", "国庆", "春雷",
          "秀英", "宏伟", "永军", "雪梅", "德胜", "少华", "玉兰", "长青", "庆丰", "卫东", "淑珍")
_CITY_TITLES = ("市长", "常务副市长", "副市长", "副市长", "副市长", "副市长")
_BUREAU_TITLES = ("局长", "副局长", "副局长", "副局长", "副局长", "总工程师", "副巡视员")


@dataclass(frozen=True)
class Sample:
    """The three sample tables as polars frames, in table column order."""

    projects: pl.DataFrame
    enterprises: pl.DataFrame
    progress: pl.DataFrame


# --------------------------------------------------------------------------------------------
# helpers

Array = np.ndarray


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _apportion(total: int, weights: Sequence[float] | Array) -> Array:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder, exact)."""
    w = np.asarray(weights, dtype=float)
    quota = total * w / w.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base


def _pick(rng: np.random.Generator, candidates: Array, weights: Array, k: int) -> Array:
    """k candidates without replacement, chance proportional to weight (Efraimidis–Spirakis)."""
    k = min(k, len(candidates))
    if k <= 0:
        return candidates[:0]
    keys = np.log(rng.random(len(candidates))) / np.maximum(weights, 1e-12)
    return candidates[np.argpartition(-keys, k - 1)[:k]]


def _choice(rng: np.random.Generator, cdf: Array, rows: Array) -> Array:
    """Per-row categorical draw; ``cdf[rows]`` is each row's cumulative distribution."""
    u = rng.random(len(rows))
    return (u[:, None] > cdf[rows]).sum(axis=1)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int, skew: float) -> Array:
    """Log-uniform on [lo, hi); ``skew`` > 1 puts more weight at the low end."""
    return lo * (hi / lo) ** (rng.random(size) ** skew)


def _cents_to_money(col: str, dtype: pl.Decimal = MONEY) -> pl.Expr:
    """Integer hundredths → exact DECIMAL (no float on the way)."""
    return (pl.col(col).cast(pl.Decimal(38, 0)) * Decimal("0.01")).cast(dtype).alias(col)


def _unit_cdf(units: pl.DataFrame, chain_ids: Sequence[str]) -> Array:
    """Rows: chains then off-chain (''), columns: units; the cumulative unit distribution."""
    ids = units["unit_id"].to_list()
    rows = []
    for chain in [*chain_ids, ""]:
        aff = UNIT_AFFINITY.get(chain, {})
        w = np.array([UNIT_WEIGHTS.get(u, 1.0) * aff.get(u, 1.0) for u in ids])
        rows.append(np.cumsum(w / w.sum()))
    cdf = np.array(rows)
    cdf[:, -1] = 1.0
    return cdf


def _places(units: pl.DataFrame) -> pl.Series:
    """Firm-name prefix per unit: the county's own name for county units, else 长春."""
    return pl.Series([short.rstrip("市县区") if kind == "县域" else "长春"
                      for short, kind in units.select("short_name", "kind").iter_rows()])


def _people(rng: np.random.Generator, k: int) -> list[str]:
    """k distinct synthetic personal names."""
    picks = rng.permutation(len(_SURNAMES) * len(_GIVEN))[:k]
    return [_SURNAMES[i // len(_GIVEN)] + _GIVEN[i % len(_GIVEN)] for i in picks]


def _trades() -> pl.Series:
    """Two-character trade names (字号) for synthetic firms."""
    return pl.Series([a + b for a in _TRADE_A for b in _TRADE_B])


def _prepare(nodes: pl.DataFrame, units: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Inputs in a fixed order with plain types, so the database and the TOML agree."""
    nodes = nodes.select(
        pl.col("node_id"),
        pl.col("chain_id"),
        pl.col("name"),
        pl.col("weight").cast(pl.Float64),
        pl.col("emerging").cast(pl.Boolean),
    ).sort("chain_id", "node_id")
    return nodes, units.select("unit_id", "short_name", "kind").sort("unit_id")


# --------------------------------------------------------------------------------------------
# enterprises

MIN_COVERED = 5  # firms on a covered segment: five of comparable size keep HHI under 2500


def _segment_plan(nodes: pl.DataFrame) -> pl.DataFrame:
    """Per segment: key firms, how many are not anchors, their output, and smaller firms."""
    rows: list[dict[str, object]] = []
    for chain, (n_key, n_small, output) in sorted(ENTERPRISE_CHAINS.items()):
        sub = nodes.filter(pl.col("chain_id") == chain)
        ids, w = sub["node_id"].to_list(), sub["weight"].to_numpy()
        fixed = np.array([SEGMENT_FIRMS.get(i, -1) for i in ids], dtype=np.int64)
        covered = fixed < 0
        spare = n_key - int(fixed[~covered].sum()) - MIN_COVERED * int(covered.sum())
        if spare < 0:
            raise ValueError(f"示例企业设计有误：产业链 {chain} 的重点企业数不足以覆盖各环节。")
        key = np.where(covered, MIN_COVERED, fixed)
        if covered.any():
            key[covered] += _apportion(spare, w[covered])
        others = key - np.array([sum(a[2] == i for a in ANCHORS) for i in ids], dtype=np.int64)
        free = output - sum(a[4] for a in ANCHORS if a[2] in ids)
        out = free * w * others / max(float((w * others).sum()), 1.0)
        small = np.zeros(len(ids), dtype=np.int64)
        thick = key >= MIN_COVERED
        if thick.any():
            small[thick] = _apportion(n_small, w[thick])
        rows += [{"node_id": i, "key": int(k), "others": int(o), "out": float(v), "small": int(m)}
                 for i, k, o, v, m in zip(ids, key, others, out, small, strict=True)]
    return pl.DataFrame(rows, schema={"node_id": pl.String, "key": pl.Int64, "others": pl.Int64,
                                      "out": pl.Float64, "small": pl.Int64})


def build_enterprises(nodes: pl.DataFrame, units: pl.DataFrame, *, seed: int = 2016) -> pl.DataFrame:
    """Local enterprises on chain segments: 677 key firms (≥ 1亿) and smaller ones, with gaps.

    The frame has one column more than the table: ``short_name``, the trade name used in
    project names (not stored).
    """
    nodes, units = _prepare(nodes, units)
    rng = _rng(seed, 1)
    plan = _segment_plan(nodes)
    seg = np.arange(plan.height)
    key, others = plan["key"].to_numpy(), plan["others"].to_numpy()
    # key firms: a floor of 1亿 each plus a Dirichlet share of the rest of the segment's output
    owner = np.repeat(seg, others)
    alpha = np.where(key <= 3, 2.0, np.maximum(1.0, 40.0 / np.maximum(others, 1)))
    g = rng.gamma(alpha[owner])
    share = g / np.bincount(owner, weights=g, minlength=len(seg))[owner]
    room = np.maximum(plan["out"].to_numpy(), others * 12_000.0) - others * 10_000.0
    key_out = np.round(10_000 + share * room[owner])
    small_owner = np.repeat(seg, plan["small"].to_numpy())
    small_out = np.round(_log_uniform(rng, 800, 9_900, len(small_owner), 1.3))
    node_pos = {nid: i for i, nid in enumerate(plan["node_id"])}
    anchors = [a for a in ANCHORS if a[2] in node_pos]
    rest = [None] * (len(owner) + len(small_owner))
    frame = pl.DataFrame({
        "seg": np.concatenate([[node_pos[a[2]] for a in anchors], owner, small_owner]),
        "rank": np.repeat([0, 1, 2], [len(anchors), len(owner), len(small_owner)]),
        "name": [a[0] + MARK for a in anchors] + rest,
        "short": [a[1] for a in anchors] + rest,
        "unit": [a[3] for a in anchors] + rest,
        "output": np.concatenate([[a[4] for a in anchors], key_out, small_out]),
    }, schema_overrides={"seg": pl.Int64, "name": pl.String, "short": pl.String,
                         "unit": pl.String, "output": pl.Int64})
    frame = frame.sort("seg", "rank", maintain_order=True)
    n = frame.height
    chain_ids = sorted(ENTERPRISE_CHAINS)
    seg_chain = np.array([chain_ids.index(i.split(".")[0]) for i in plan["node_id"]])
    drawn = _choice(rng, _unit_cdf(units, chain_ids), seg_chain[frame["seg"].to_numpy()])
    output = frame["output"].to_numpy()
    level = np.where(output >= 100_000, 1, np.where(output >= 10_000, 2, 3))
    level[np.argsort(-output, kind="stable")[:CITY_HELD_ENTERPRISES]] = 0
    products = nodes.join(plan.select("node_id"), on="node_id", how="semi")["name"]
    return frame.with_columns(
        units["unit_id"].gather(drawn).alias("unit_drawn"),
        _places(units).gather(drawn).alias("place"),
        _trades().gather(rng.permutation(len(_TRADE_A) * len(_TRADE_B))[:n]).alias("trade"),
        products.gather(frame["seg"]).alias("product"),
        pl.Series(config.LEADER_LEVELS).gather(level).alias("level"),
        plan["node_id"].gather(frame["seg"]).alias("node_id"),
    ).select(
        pl.format("QY{}", pl.int_range(1, n + 1).cast(pl.String).str.zfill(4)).alias("enterprise_id"),
        pl.coalesce(
            pl.col("name"),
            pl.concat_str("place", "trade", "product", pl.lit("有限公司" + MARK)),
        ).alias("name"),
        pl.coalesce("unit", "unit_drawn").alias("unit_id"),
        pl.col("node_id"),
        pl.col("output").cast(MONEY).alias("output_wan"),
        (pl.col("output") >= 10_000).alias("is_key"),
        pl.col("level").alias("leader_level"),
        pl.lit(True).alias("is_sample"),
        pl.coalesce("short", "trade").alias("short_name"),
    )


def segment_kinds(
    nodes: pl.DataFrame, edges: pl.DataFrame, enterprises: pl.DataFrame
) -> dict[str, str | None]:
    """The DOMAIN §5 class of each segment (补链 / 增链 / 丰链 / None) for the firms given."""
    stats = (
        enterprises
        .filter(pl.col("node_id").is_not_null())
        .with_columns(pl.col("output_wan").cast(pl.Float64).alias("out"))
        .group_by("node_id")
        .agg(
            pl.len().alias("firms"),
            ((pl.col("out") / pl.col("out").sum()).pow(2).sum() * 10_000).alias("hhi"),
        )
    )
    firms = dict(stats.select("node_id", "firms").iter_rows())
    hhi = dict(stats.select("node_id", "hhi").iter_rows())
    succ: dict[str, set[str]] = {}
    pred: dict[str, set[str]] = {}
    for src, dst in edges.select("src_node_id", "dst_node_id").iter_rows():
        succ.setdefault(src, set()).add(dst)
        pred.setdefault(dst, set()).add(src)
    kinds: dict[str, str | None] = {}
    for node, emerging in nodes.select("node_id", "emerging").iter_rows():
        if node in firms:
            kinds[node] = "丰链" if firms[node] == 1 or hhi[node] > 2500 else None
        elif succ.get(node, set()) & firms.keys():
            kinds[node] = "补链"
        elif pred.get(node, set()) & firms.keys() or emerging:
            kinds[node] = "增链"
        else:
            kinds[node] = None
    return kinds


# --------------------------------------------------------------------------------------------
# projects


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
) -> pl.DataFrame:
    """The project ledger: tiers, majors, 包保 levels, chains, units, dates and plan-year amounts."""
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
    kinds = segment_kinds(nodes, edges, enterprises)
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


# --------------------------------------------------------------------------------------------
# monthly progress


def _month_index(col: str, default: int) -> pl.Expr:
    """A date column as months from January of the plan year (January = 1)."""
    return ((pl.col(col).dt.year() - YEAR) * 12 + pl.col(col).dt.month()).fill_null(default)


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

    # physical progress: work done before the year plus this year's investment, cumulative
    running = np.cumsum(cents)
    done = (running - np.concatenate([[0], running])[start_row][owner]) / 100.0
    room = 1 - plan / total
    elapsed = np.clip((1 - s) / np.maximum(e - s + 1, 1), 0.0, 1.0)
    prior = np.where(finished, room, np.where(status == 2, elapsed * room, 0.0))
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


# --------------------------------------------------------------------------------------------
# the whole sample, and loading it


def build_sample(
    n_projects: int | None = None,
    *,
    seed: int = 2016,
    ref: config.Reference | None = None,
    progress: Callable[[str], None] | None = None,
) -> Sample:
    """Build enterprises, projects and monthly progress without a database (1004 by default)."""
    ref = ref or config.load_reference()
    return _build(n_projects, seed, ref.chain_nodes, ref.chain_edges, ref.units, ref.targets,
                  progress)


def _build(
    n_projects: int | None, seed: int, nodes: pl.DataFrame, edges: pl.DataFrame,
    units: pl.DataFrame, targets: pl.DataFrame, progress: Callable[[str], None] | None,
) -> Sample:
    say = progress or (lambda _msg: None)
    n = SOURCE_PROJECTS if n_projects is None else int(n_projects)
    say("生成企业…")
    enterprises = build_enterprises(nodes, units, seed=seed)
    say(f"生成项目（{n:,} 个）…")
    projects = build_projects(n, seed, nodes, units, edges=edges, enterprises=enterprises,
                              targets=targets)
    say("生成月度进度…")
    monthly = build_progress(projects, seed=seed)
    return Sample(projects, enterprises.drop("short_name"), monthly)


#: Table → (columns written, progress message).
_WRITES = {
    "enterprises": (("enterprise_id", "name", "unit_id", "node_id", "output_wan", "is_key",
                     "leader_level", "is_sample"), "写入企业…"),
    "projects": (("project_id", "name", "enterprise", "chain_id", "node_id", "unit_id", "park",
                  "nature", "status", "total_investment_wan", "annual_plan_wan", "start_date",
                  "end_date", "leader", "leader_level", "is_major", "chain_role", "note",
                  "is_sample"), "写入项目…"),
    "progress": (("project_id", "month", "completed_wan", "physical_pct", "problems",
                  "problem_level"), "写入月度进度…"),
}


def load_sample(
    con: duckdb.DuckDBPyConnection,
    *,
    n_projects: int | None = None,
    seed: int = 2016,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Insert the sample plan into enterprises, projects and progress; returns the row counts.

    Runs inside the caller's transaction (``store.init_db``) and reads the reference tables
    from the database, so the sample always agrees with what is loaded.
    """
    say = progress or (lambda _msg: None)
    nodes = con.sql("select node_id, chain_id, name, weight, emerging from chain_nodes").pl()
    edges = con.sql("select src_node_id, dst_node_id from chain_edges").pl()
    units = con.sql("select unit_id, short_name, kind from units").pl()
    targets = con.sql("select year, metric, scope, value_wan from targets").pl()
    sample = _build(n_projects, seed, nodes, edges, units, targets, progress)
    counts: dict[str, int] = {}
    for table, (columns, message) in _WRITES.items():
        say(message)
        frame = getattr(sample, table).select(columns)
        cols = ", ".join(columns)
        con.register("_sample_rows", frame)
        try:
            con.execute(f"insert into {table} ({cols}) select {cols} from _sample_rows")
        finally:
            con.unregister("_sample_rows")
        counts[table] = frame.height
    return counts
