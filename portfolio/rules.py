"""The rules in force: one runtime home (the database), edited in ``data/targets.toml``.

Every reader takes the thresholds, tier bands, seasonal profile, forecast parameters, 包保 rules
and the chain rules (``[rules]`` of ``data/chains.toml``) from the database: the SQL views and macros read the ``meta`` keys ``rule.*`` and the
``tiers`` and ``seasonal_profile`` tables, and the library reads the same rows
(:func:`stored`). ``targets.toml`` stays the file people edit; ``portfolio init`` applies it
(:func:`apply`), recording every changed value in the audit log (a batch of kind ``init`` from
source ``config:targets.toml``, one ``config`` row per changed rule with the old and new value).
Until then every command that shows figures says that the file differs from the rules in force
(:func:`pending`, :func:`pending_message`) and keeps using the database's copy, so a check, a
view, a page and a report never disagree.

The targets themselves (``targets`` table) follow the same path: the database copy is used,
the file is compared with it and applied by ``init``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from statistics import NormalDist
from typing import Any

import duckdb
import polars as pl

from . import config

#: Forecast parameters not given in targets.toml [forecast] fall back to these (ASSUMPTIONS).
FORECAST_DEFAULTS: dict[str, float] = {
    "simulations": 2000, "seed": 2016, "low_quantile": 0.10, "high_quantile": 0.90,
    "prior_ratio": 1.0, "prior_strength": 0.25, "ratio_floor": 0.0, "ratio_cap": 1.2,
    "prior_sd": 0.30, "execution_sd": 0.15, "common_sd": 0.08,
}
#: The source file of the rules, as the audit log names it.
SOURCE = "config:targets.toml"


@dataclass(frozen=True)
class Tier:
    """One investment-size band: projects whose total investment reaches ``min_wan``."""

    tier: str
    tier_en: str
    min_wan: int
    plan_count: int | None
    plan_cumulative_count: int | None


@dataclass(frozen=True)
class Rules:
    """Every rule parameter the checks, the views and the pages use (targets.toml, applied)."""

    shares: tuple[float, ...]
    bands: tuple[Tier, ...]
    tech_natures: tuple[str, ...]
    on_track: float
    at_risk: float
    coverage_at_risk: float
    green: float
    amber: float
    stalled_months: int
    forecast: dict[str, float]
    plan_counts: dict[str, int]
    min_level_from_wan: float = 3000.0
    min_level: str = "处室"
    major_min_level: str = "局级"
    #: the ``[rules]`` table of chains.toml (:class:`portfolio.chains.rules.ChainRules`), as stored
    chain_rules: dict[str, Any] = field(default_factory=dict)

    def cumulative_share(self, month: int) -> float:
        """Seasonal cumulative share of the year at the end of ``month`` (0 for month 0)."""
        return cumulative_shares(self.shares)[month]

    @cached_property
    def tiers(self) -> pl.DataFrame:
        """The tier bands, highest first: tier, tier_en, min_wan, plan_count, plan_cumulative_count."""
        return pl.DataFrame(
            [{f.name: getattr(t, f.name) for f in fields(Tier)} for t in self.bands],
            schema={"tier": pl.String, "tier_en": pl.String, "min_wan": pl.Int64,
                    "plan_count": pl.Int64, "plan_cumulative_count": pl.Int64},
        ).sort("min_wan", descending=True)


def cumulative_shares(shares: tuple[float, ...] | list[float]) -> list[float]:
    """C(0..12): the cumulative seasonal share at the end of each month, C(0) = 0.

    Rounded to 10 decimals so that a share summing to exactly 1 stays 1 (the SQL reads the same
    values from ``seasonal_profile.cumulative_share``)."""
    return [round(float(sum(shares[:m])), 10) for m in range(13)]


# --------------------------------------------------------------------------------------------
# reading the file


def _fail(message: str) -> config.ConfigError:
    return config.ConfigError(f"targets.toml：{message}")


def _number(table: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(f"[{where}] {key} 应为数字。")
    return float(value)


def from_settings(cfg: dict[str, Any]) -> Rules:
    """The rules of a parsed targets.toml, checked; :class:`config.ConfigError` names what is wrong."""
    try:
        st, fl = cfg["status_thresholds"], cfg["project_flags"]
        profile = cfg["seasonal_profile"]["shares"]
        tier_rows = cfg["tier"]
    except (KeyError, TypeError) as exc:
        raise _fail(f"缺少 {exc}（需要 [status_thresholds]、[project_flags]、[seasonal_profile]、[[tier]]）。") from None
    resp = cfg.get("responsibility", {})
    shares = tuple(float(x) for x in profile)
    if len(shares) != 12 or any(x < 0 for x in shares) or abs(sum(shares) - 1.0) > 1e-9:
        raise _fail("seasonal_profile.shares 必须是12个月份、每月不为负、合计为1。")
    tiers = []
    for row in tier_rows:
        minimum = _number(row, "min_wan", "tier")
        if minimum < 0 or minimum != int(minimum):
            raise _fail(f"档次 {row.get('tier')} 的 min_wan 应为不小于0的整数万元。")
        counts = [row.get(k) for k in ("plan_count", "plan_cumulative_count")]
        tiers.append(Tier(str(row["tier"]), str(row.get("tier_en", row["tier"])), int(minimum),
                          *(int(c) if c is not None else None for c in counts)))
    tiers.sort(key=lambda t: -t.min_wan)
    if not tiers or len({t.tier for t in tiers}) < len(tiers) or len({t.min_wan for t in tiers}) < len(tiers):
        raise _fail("[[tier]] 至少一档，档次名称和下限 min_wan 都不能重复。")
    on_track, at_risk = _number(st, "on_track", "status_thresholds"), _number(st, "at_risk", "status_thresholds")
    green, amber = _number(fl, "green", "project_flags"), _number(fl, "amber", "project_flags")
    if not 0 <= at_risk <= on_track or not 0 <= amber <= green:
        raise _fail("阈值应满足 0 ≤ at_risk ≤ on_track、0 ≤ amber ≤ green。")
    stalled = fl.get("stalled_months", 2)
    if isinstance(stalled, bool) or not isinstance(stalled, int) or stalled < 1:
        raise _fail("[project_flags] stalled_months 应为正整数。")
    given = cfg.get("forecast", {})
    fc = {k: _number(given, k, "forecast", v) for k, v in FORECAST_DEFAULTS.items()}
    if not (0 < fc["low_quantile"] < fc["high_quantile"] < 1 and fc["ratio_floor"] <= fc["ratio_cap"]
            and fc["simulations"] >= 1 and fc["prior_strength"] >= 0
            and min(fc["prior_sd"], fc["execution_sd"], fc["common_sd"]) >= 0):
        raise _fail("[forecast] 参数不合理：需 0<low_quantile<high_quantile<1、ratio_floor≤ratio_cap、"
                    "simulations≥1、prior_strength≥0、各标准差≥0。")
    fc["simulations"], fc["seed"] = float(int(fc["simulations"])), float(int(fc["seed"]))
    natures = tuple(str(n) for n in cfg.get("tech_upgrade_natures", ["扩建", "改建及技术改造"]))
    unknown = [n for n in natures if n not in config.NATURES]
    if unknown:
        raise _fail(f"tech_upgrade_natures 中的 {'、'.join(unknown)} 不是建设性质（{'、'.join(config.NATURES)}）。")
    levels = {k: resp.get(k, d) for k, d in (("min_level", "处室"), ("major_min_level", "局级"))}
    wrong = [v for v in levels.values() if v not in config.LEADER_LEVELS]
    plan_counts = {str(k): int(v) for k, v in resp.get("plan_counts", {}).items()}
    wrong += [k for k in plan_counts if k not in config.LEADER_LEVELS]
    if wrong:
        raise _fail(f"[responsibility] 中的 {'、'.join(map(str, wrong))} 不是包保层级（{'、'.join(config.LEADER_LEVELS)}）。")
    return Rules(
        shares=shares, bands=tuple(tiers), tech_natures=natures,
        on_track=on_track, at_risk=at_risk,
        coverage_at_risk=_number(st, "coverage_at_risk", "status_thresholds", 1.0),
        green=green, amber=amber, stalled_months=int(stalled), forecast=fc, plan_counts=plan_counts,
        min_level_from_wan=_number(resp, "min_level_from_wan", "responsibility", 3000),
        min_level=str(levels["min_level"]), major_min_level=str(levels["major_min_level"]),
        chain_rules=dict(cfg.get("chain_rules") or {}),
    )


def from_file(folder: Path | None = None) -> Rules:
    """The rules as the files (in ``$PORTFOLIO_DATA_DIR`` or ``data/``) write them now: targets.toml
    and the ``[rules]`` of chains.toml."""
    from .chains.rules import load_rules  # the chain rules' own check

    return from_settings({**config.targets_config(folder), "chain_rules": load_rules(folder).to_table()})


# --------------------------------------------------------------------------------------------
# the database copy

_SCALARS: dict[str, tuple[str, type]] = {
    # meta key: (Rules field, type)
    "rule.on_track": ("on_track", float),
    "rule.at_risk": ("at_risk", float),
    "rule.coverage_at_risk": ("coverage_at_risk", float),
    "rule.flag_green": ("green", float),
    "rule.flag_amber": ("amber", float),
    "rule.stalled_months": ("stalled_months", int),
    "rule.min_level_from_wan": ("min_level_from_wan", float),
    "rule.min_level": ("min_level", str),
    "rule.major_min_level": ("major_min_level", str),
}
_JSON = {"rule.tech_upgrade_natures": "tech_natures", "rule.plan_counts": "plan_counts"}
_FORECAST = "rule.forecast."
CHAIN_KEY = "rule.chain_rules"  # portfolio.chains.rules.META_KEY


def meta_values(rules: Rules) -> dict[str, str]:
    """The ``meta`` rows (``rule.*``) that hold ``rules`` for the SQL; z_low/z_high are derived."""
    out = {key: repr(getattr(rules, name)) if typ is float else str(getattr(rules, name))
           for key, (name, typ) in _SCALARS.items()}
    out["rule.tech_upgrade_natures"] = json.dumps(list(rules.tech_natures), ensure_ascii=False)
    out["rule.plan_counts"] = json.dumps(rules.plan_counts, ensure_ascii=False, sort_keys=True)
    if rules.chain_rules:
        out[CHAIN_KEY] = json.dumps(rules.chain_rules, ensure_ascii=False, sort_keys=True)
    fc = rules.forecast
    out |= {_FORECAST + k: repr(float(v)) for k, v in fc.items()}
    out[_FORECAST + "z_low"] = repr(NormalDist().inv_cdf(fc["low_quantile"]))
    out[_FORECAST + "z_high"] = repr(NormalDist().inv_cdf(fc["high_quantile"]))
    return out


def rule_tables(rules: Rules) -> dict[str, pl.DataFrame]:
    """The ``seasonal_profile`` and ``tiers`` rows that hold ``rules`` for the SQL."""
    cum = cumulative_shares(rules.shares)
    seasonal = pl.DataFrame({
        "month_no": list(range(1, 13)), "share": list(rules.shares), "cumulative_share": cum[1:],
    }, schema={"month_no": pl.Int32, "share": pl.Float64, "cumulative_share": pl.Float64})
    return {"seasonal_profile": seasonal, "tiers": rules.tiers}


def _has_meta(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute("select count(*) from duckdb_tables() where database_name = current_database()"
                       " and schema_name = 'main' and table_name in ('meta', 'tiers', 'seasonal_profile')").fetchall()
    return int(rows[0][0]) == 3


def stored(con: duckdb.DuckDBPyConnection) -> Rules | None:
    """The rules in force (the database's copy), or None where the database holds none (yet)."""
    if not _has_meta(con):
        return None
    meta = dict(con.execute("select key, value from meta where key like 'rule.%'").fetchall())
    wanted = [*_SCALARS, *_JSON, *(_FORECAST + k for k in FORECAST_DEFAULTS)]
    if any(k not in meta for k in wanted):
        return None
    profile = [r[0] for r in con.execute("select share from seasonal_profile order by month_no").fetchall()]
    tier_rows = con.execute(
        "select tier, coalesce(tier_en, tier), min_wan::bigint, plan_count, plan_cumulative_count"
        " from tiers order by min_wan desc").fetchall()
    if len(profile) != 12 or not tier_rows:
        return None
    values: dict[str, Any] = {name: typ(meta[key]) for key, (name, typ) in _SCALARS.items()}
    values["tech_natures"] = tuple(json.loads(meta["rule.tech_upgrade_natures"]))
    values["plan_counts"] = {str(k): int(v) for k, v in json.loads(meta["rule.plan_counts"]).items()}
    values["forecast"] = {k: float(meta[_FORECAST + k]) for k in FORECAST_DEFAULTS}
    values["chain_rules"] = json.loads(meta[CHAIN_KEY]) if meta.get(CHAIN_KEY) else {}
    return Rules(shares=tuple(float(x) for x in profile),
                 bands=tuple(Tier(str(a), str(b), int(c), d, e) for a, b, c, d, e in tier_rows), **values)


def in_force(con: duckdb.DuckDBPyConnection) -> Rules:
    """The rules every reader uses: the database's copy (ValueError when there is none)."""
    found = stored(con)
    if found is None:
        raise ValueError("数据库中没有判定规则（rules missing）；请运行 `portfolio init` 载入 targets.toml。")
    return found


def _write(con: duckdb.DuckDBPyConnection, rules: Rules) -> None:
    from . import store  # the store builds databases with these rules: imported late, no cycle

    for key, value in meta_values(rules).items():
        store.set_meta(con, key, value)
    for table, frame in rule_tables(rules).items():
        store.replace_table(con, table, frame)


# --------------------------------------------------------------------------------------------
# comparing and applying


@dataclass(frozen=True)
class Change:
    """One rule whose value differs: its key as written in targets.toml, then old and new."""

    key: str
    old: Any
    new: Any

    def sentence(self) -> str:
        """``key: old → new`` for a message."""
        return f"{self.key}: {_show(self.old)} → {_show(self.new)}"


def _show(value: Any) -> str:
    if value is None:
        return "（无）"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def flat(rules: Rules) -> dict[str, Any]:
    """The rules as ``targets.toml`` paths and values (what :func:`diff` compares)."""
    out: dict[str, Any] = {
        "status_thresholds.on_track": rules.on_track,
        "status_thresholds.at_risk": rules.at_risk,
        "status_thresholds.coverage_at_risk": rules.coverage_at_risk,
        "project_flags.green": rules.green,
        "project_flags.amber": rules.amber,
        "project_flags.stalled_months": rules.stalled_months,
        "seasonal_profile.shares": list(rules.shares),
        "tech_upgrade_natures": list(rules.tech_natures),
        "responsibility.plan_counts": dict(sorted(rules.plan_counts.items())),
        "responsibility.min_level_from_wan": rules.min_level_from_wan,
        "responsibility.min_level": rules.min_level,
        "responsibility.major_min_level": rules.major_min_level,
    }
    out |= {f"forecast.{k}": v for k, v in rules.forecast.items()}
    for t in rules.bands:
        out |= {f"tier[{t.tier}].{k}": getattr(t, k)
                for k in ("tier_en", "min_wan", "plan_count", "plan_cumulative_count")}
    out |= {f"chains.toml [rules].{k}": v for k, v in rules.chain_rules.items()}
    return out


def diff(old: Rules | None, new: Rules) -> list[Change]:
    """Every rule whose value differs between ``old`` (None: nothing yet) and ``new``."""
    a, b = flat(old) if old is not None else {}, flat(new)
    return [Change(k, a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]


def _target_rows(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[float, float | None]]:
    rows = con.execute("select year, metric, scope, value_wan::double, growth_pct::double from targets").fetchall()
    return {f"target[{y}/{m}/{s}]": (v, g) for y, m, s, v, g in rows}


def target_changes(con: duckdb.DuckDBPyConnection, ref: config.Reference | None = None) -> list[Change]:
    """Targets of targets.toml whose value or growth differs from the database's ``targets`` rows.

    Only the rows the file holds are compared: a year opened later lives in the database alone."""
    ref = ref or config.load_reference()
    have = _target_rows(con)
    out = []
    for y, m, s, v, g in ref.targets.select("year", "metric", "scope", "value_wan", "growth_pct").iter_rows():
        key = f"target[{y}/{m}/{s}]"
        new = (round(float(v), 2), None if g is None else round(float(g), 2))
        old = have.get(key)
        old = None if old is None else (round(old[0], 2), None if old[1] is None else round(old[1], 2))
        if old != new:
            out.append(Change(key + ".value_wan/growth_pct", None if old is None else list(old), list(new)))
    return out


def pending(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> list[Change]:
    """What ``portfolio init`` would change: targets.toml against the rules and targets in force."""
    changes = diff(stored(con), from_file(folder))
    return changes + target_changes(con, config.load_reference(folder))


def pending_message(con: duckdb.DuckDBPyConnection, folder: Path | None = None, *, limit: int = 5) -> str | None:
    """One sentence when targets.toml differs from the database's rules (None when they agree).

    A targets.toml that cannot be read is said too: the figures keep using the database's rules."""
    try:
        changes = pending(con, folder)
    except config.ConfigError as exc:
        return f"{exc}；仍按数据库中的规则计算（targets.toml unreadable, the rules in force are used）。"
    if not changes:
        return None
    shown = "；".join(c.sentence() for c in changes[:limit]) + ("……" if len(changes) > limit else "")
    files = "targets.toml" + ("、chains.toml" if any(c.key.startswith("chains.toml") for c in changes) else "")
    return (f"{files} 与数据库中生效的规则不同（{len(changes)} 项：{shown}）；"
            "现仍按数据库中的规则计算，运行 `portfolio init` 应用并记入修改日志"
            "（targets.toml differs from the rules in force; run `portfolio init` to apply）。")


#: The content of everything :func:`pending` compares with the files (the rules in meta, the
#: seasonal profile, the tiers, the targets) as a key: a hash sum per table. A page keys the
#: comparison on it, not on the data revision, so saving a project does not redo it.
_RULES_KEY_SQL = """
select (select sum(hash(m)) from meta m where key like 'rule.%'), (select sum(hash(s)) from seasonal_profile s),
       (select sum(hash(t)) from tiers t), (select sum(hash(g)) from targets g)
"""


def rules_key(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """A key of the rules and targets in force (:data:`_RULES_KEY_SQL`): equal keys, equal :func:`pending`."""
    return tuple(con.execute(_RULES_KEY_SQL).fetchall()[0])


def files_stamp(folder: Path | None = None) -> tuple[tuple[str, int, int], ...]:
    """Name, modification time and size of each configuration file (to key a cache on)."""
    folder = folder or config.data_dir()
    out = []
    for name in ("targets.toml", "chains.toml", "units.toml"):
        try:
            st = (folder / name).stat()
            out.append((name, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((name, 0, 0))
    return tuple(out)


def pending_note(con: duckdb.DuckDBPyConnection, *, files: tuple[tuple[str, int, int], ...] = ()) -> str | None:
    """:func:`pending_message` for the app: ``files`` (:func:`files_stamp`) only keys its cache,
    so that an edit of a file is noticed on the next page without reading the files every time."""
    return pending_message(con)


def ensure(con: duckdb.DuckDBPyConnection, *, actor: str = "system", source: str = "schema") -> list[Change]:
    """Give a database without (complete) rules the ones of targets.toml, with an audit row.

    Called when the schema is created or upgraded; a database that has its rules keeps them."""
    if stored(con) is not None:
        return []
    new = from_file()
    meta = dict(con.execute("select key, value from meta where key like 'rule.%'").fetchall())
    fresh = {k: v for k, v in meta_values(new).items() if k not in meta}
    for key, value in fresh.items():
        con.execute("insert into meta values (?, ?)", [key, value])
    for table, frame in rule_tables(new).items():
        if int(con.execute(f"select count(*) from {table}").fetchall()[0][0]) == 0:
            con.register("_rule_rows", frame)
            try:
                cols = ", ".join(frame.columns)
                con.execute(f"insert into {table} ({cols}) select {cols} from _rule_rows")
            finally:
                con.unregister("_rule_rows")
    filled = [Change(k, None, v) for k, v in fresh.items()]
    if filled:
        from . import store  # store creates the schema through the views, which call this

        store.audit(con, actor=actor, action="config", table="rules", record_id=SOURCE,
                    new={c.key: c.new for c in filled}, source=source)
    return filled


def apply(con: duckdb.DuckDBPyConnection, new: Rules, *, actor: str, source: str = SOURCE) -> list[Change]:
    """Make ``new`` the rules in force, recording each changed value in the audit log.

    Call inside the writing transaction. Nothing is written when nothing changes; otherwise the
    rule rows are replaced, one batch (kind ``init``, this source, table ``rules``) is recorded
    with one ``config`` audit row per changed rule (old and new value), and the data revision
    moves on so that every cached figure is recomputed."""
    from . import store  # store loads the reference data through this module

    changes = diff(stored(con), new)
    if not changes:
        return []
    _write(con, new)
    batch = store.new_batch(con)
    for c in changes:
        store.audit(con, actor=actor, action="config", table="rules", record_id=c.key,
                    old=None if c.old is None else {"value": c.old}, new={"value": c.new},
                    source=source, batch_id=batch)
    store.record_batch(con, batch, actor=actor, kind="init", source=source, table="rules",
                       counts={"updated": len(changes)})
    store.bump_revision(con)
    return changes


def context_frame(rules: Rules, *, month: int) -> pl.DataFrame:
    """One row of the parameters the metric checks use at ``month`` (the SQL's ``_ctx``)."""
    fc = rules.forecast
    return pl.DataFrame([{
        "month_no": month,
        "seasonal_share": rules.cumulative_share(month),
        "linear_share": month / 12,
        "on_track": rules.on_track, "at_risk": rules.at_risk, "coverage_at_risk": rules.coverage_at_risk,
        "simulations": int(fc["simulations"]), "seed": int(fc["seed"]),
        "low_quantile": fc["low_quantile"], "high_quantile": fc["high_quantile"],
        "common_sd": fc["common_sd"],
    }], schema={"month_no": pl.Int64, "seasonal_share": pl.Float64, "linear_share": pl.Float64,
                "on_track": pl.Float64, "at_risk": pl.Float64, "coverage_at_risk": pl.Float64,
                "simulations": pl.Int64, "seed": pl.Int64, "low_quantile": pl.Float64,
                "high_quantile": pl.Float64, "common_sd": pl.Float64})
