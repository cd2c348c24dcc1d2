"""The chain gap rules (DOMAIN §5) and their settings, each written once.

- The **settings** live in the ``[rules]`` table of ``data/chains.toml``; ``portfolio init``
  copies it into the database (``meta`` key ``rule.chain_rules``), and every reader takes it from
  there: the SQL view ``v_chain_coverage``, the library (:func:`chain_rules`), the app and the report.
  A database without the copy (one made by ``create_schema`` alone) falls back to the TOML.
- The **concentration rule** (HHI of local output above ``hhi_threshold``) is decided once, in
  SQL (:mod:`portfolio.chains.sql`), because it needs every firm's output.
- The **class rule** (补链 / 增链 / 丰链) is :func:`kind_expr`, one polars expression over
  per-segment counts; the analysis, the after-the-pipeline view and the sample plan all use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from .. import config

KINDS = config.CHAIN_ROLES  # 补链, 增链, 丰链 in this order
KINDS_EN = {"补链": "fill", "增链": "extend", "丰链": "enrich"}
#: Stage order inside a chain; 配套服务 may link anywhere (data/chains.toml).
STAGE_RANK = {"上游": 0, "中游": 1, "下游": 2}
#: The factors a class's score may weigh (each in [0, 1]).
SCORE_FACTORS = ("dependence_norm", "betweenness_norm", "weight_norm", "density", "concentration")
#: Factor values carried on every gap of a class (raw values beside the normalised ones).
FACTORS: dict[str, tuple[str, ...]] = {
    "补链": ("dependence_wan", "dependence_norm", "betweenness", "betweenness_norm", "weight",
             "weight_norm", "present_successors"),
    "增链": ("density", "weight", "weight_norm", "betweenness", "betweenness_norm",
             "present_predecessors", "emerging"),
    "丰链": ("firms", "hhi", "concentration", "dependence_wan", "dependence_norm", "weight",
             "weight_norm"),
}
META_KEY = "rule.chain_rules"
HHI_MAX = 10_000


@dataclass(frozen=True)
class ChainRules:
    """The ``[rules]`` table of data/chains.toml, checked."""

    hhi_threshold: int  # 丰链 when the HHI of local output is strictly above (0–10000)
    decay: float  # a segment d steps away counts decay**(d-1) ...
    max_distance: int  # ... up to this many steps
    new_firm_output_ratio: float  # after the pipeline: a new firm's output / its investment
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # class → factor → coefficient

    @classmethod
    def from_table(cls, table: Mapping[str, Any] | None, *, source: str = "data/chains.toml") -> ChainRules:
        """Check a ``[rules]`` table; ConfigError with one sentence naming the bad key."""
        where = f"{source}: [rules]"
        if not table:
            raise config.ConfigError(f"{where} 缺失：产业链缺口规则必须写明（chain rules missing）。")
        known = {"hhi_threshold", "decay", "max_distance", "new_firm_output_ratio", "scores"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise config.ConfigError(f"{where} 中没有 {'、'.join(unknown)} 这一项（可用：{', '.join(sorted(known))}）。")
        missing = sorted(known - set(table))
        if missing:
            raise config.ConfigError(f"{where} 缺少 {'、'.join(missing)}（chain rule missing）。")

        def number(key: str, lo: float, hi: float, *, integer: bool = False) -> Any:
            value = table[key]
            ok = isinstance(value, int | float) and not isinstance(value, bool) and lo <= value <= hi
            if integer:
                ok = ok and float(value).is_integer()
            if not ok:
                kind = "整数" if integer else "数"
                raise config.ConfigError(f"{where} {key} 应为 {lo:g}–{hi:g} 之间的{kind}（{value!r}）。")
            return int(value) if integer else float(value)

        scores_in = table["scores"]
        if not isinstance(scores_in, Mapping) or set(scores_in) != set(KINDS):
            raise config.ConfigError(f"{where}.scores 应为 补链、增链、丰链 各一组系数。")
        scores: dict[str, dict[str, float]] = {}
        for kind in KINDS:
            weights = scores_in[kind]
            bad = [f for f in weights if f not in SCORE_FACTORS]
            if bad or not weights or not all(
                    isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values()):
                raise config.ConfigError(
                    f"{where}.scores.{kind} 应为非负系数，因子只能是 {', '.join(SCORE_FACTORS)}。")
            scores[kind] = {f: float(w) for f, w in weights.items()}
        return cls(
            hhi_threshold=number("hhi_threshold", 0, HHI_MAX, integer=True),
            decay=number("decay", 0, 1),
            max_distance=number("max_distance", 1, 20, integer=True),
            new_firm_output_ratio=number("new_firm_output_ratio", 0, 1000),
            scores=scores,
        )

    def to_table(self) -> dict[str, Any]:
        """The settings as the TOML table they came from (stored as JSON in ``meta``)."""
        return {"hhi_threshold": self.hhi_threshold, "decay": self.decay,
                "max_distance": self.max_distance, "new_firm_output_ratio": self.new_firm_output_ratio,
                "scores": self.scores}

    def to_json(self) -> str:
        """The ``meta`` value (``rule.chain_rules``)."""
        return json.dumps(self.to_table(), ensure_ascii=False, sort_keys=True)


def load_rules(folder: Path | None = None) -> ChainRules:
    """The ``[rules]`` table of ``data/chains.toml`` (or ``$PORTFOLIO_DATA_DIR``), checked."""
    path = (folder or config.data_dir()) / "chains.toml"
    return ChainRules.from_table(config._load("chains.toml", folder).get("rules"), source=str(path))


def chain_rules(con: duckdb.DuckDBPyConnection) -> ChainRules:
    """The chain rules the database's views use (its ``meta`` copy); the TOML when it has none."""
    rows = con.execute("select value from meta where key = ?", [META_KEY]).fetchall()
    if rows and rows[0][0]:
        return ChainRules.from_table(json.loads(rows[0][0]), source=f"meta {META_KEY}")
    return load_rules()


def kind_expr(
    firms: pl.Expr | str = "firms",
    concentrated: pl.Expr | str = "concentrated",
    present_successors: pl.Expr | str = "n_present_successors",
    present_predecessors: pl.Expr | str = "n_present_predecessors",
    emerging: pl.Expr | str = "emerging",
) -> pl.Expr:
    """The class of a segment (DOMAIN §5): 补链, 增链, 丰链 or null, in this order of tests.

    A segment is present with at least one local firm. 补链: absent, a direct successor present.
    增链: absent, no present successor, a present predecessor or marked emerging. 丰链: present,
    a single firm or concentrated output. The arguments are column names or expressions; the
    successor / predecessor arguments count the *present* direct neighbours.
    """
    def col(x: pl.Expr | str) -> pl.Expr:
        return pl.col(x) if isinstance(x, str) else x

    present = col(firms) >= 1
    return (
        pl.when(~present & (col(present_successors) >= 1)).then(pl.lit("补链"))
        .when(~present & ((col(present_predecessors) >= 1) | col(emerging).fill_null(False))).then(pl.lit("增链"))
        .when(present & ((col(firms) == 1) | col(concentrated).fill_null(False))).then(pl.lit("丰链"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
