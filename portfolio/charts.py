"""Altair charts shared by the app and the report: independent functions, frames in, charts out.

Charts never reference remote data or fonts: data goes inline (``alt.Data(values=...)``) and
text uses the system's Noto CJK font when rendered to SVG/PNG with vl-convert.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl

FONT = "Noto Sans CJK SC"
FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto")


def _title(text: str, subtitle: str | list[str], *, size: int = 15) -> alt.TitleParams:
    """A chart's title in the house style: left-aligned, its note below in grey. A layered chart takes
    it, with its size, as the layer's own arguments, not through ``.properties()`` (which copies every
    layer once more)."""
    return alt.TitleParams(text, subtitle=subtitle, anchor="start", fontSize=size, subtitleColor="#666666")


def _styled(chart: Any, *, view: bool = True, legend: bool = False) -> Any:
    """``chart`` in the house style (the CJK font; no border round the plot; legend labels at 12 px),
    set on the chart itself: each of Altair's ``configure*`` methods copies the whole chart, its
    inline data included (some tens of milliseconds a call on a page's first visit)."""
    config: dict[str, Any] = {"font": FONT}
    if view:
        config["view"] = alt.ViewConfig(stroke=None)
    if legend:
        config["legend"] = alt.LegendConfig(labelFontSize=12)
    chart.config = alt.Config(**config)
    return chart


#: Fixed colours for segment categories (gap kinds first), the same in every chart.
CATEGORY_COLORS = {
    "补链": "#d1495b",
    "增链": "#3a7fc1",
    "丰链": "#edae49",
    "已覆盖": "#5a9e6f",
    "未覆盖": "#c9ccd1",
}
CATEGORY_EN = {"补链": "Fill (补链)", "增链": "Extend (增链)", "丰链": "Enrich (丰链)",
               "已覆盖": "Covered", "未覆盖": "Absent"}
TEXT = {
    "zh": {"map": "{chain} 产业链图谱", "map_note": "圆面积∝√产值；黑色描边为暂无在库项目的缺口（招商目标）；虚线为跨链连接",
           "category": "环节类别", "output": "产值（亿元）", "node": "环节", "chain": "产业链",
           "stage": "阶段", "firms": "本地企业（家）", "score": "得分", "projects": "在库项目",
           "density": "关联密度（可行性）", "value": "得分（价值）",
           "scatter": "待招商缺口：可行性与价值", "scatter_note": "横轴：周边环节本地已有企业的关联密度；纵轴：缺口得分",
           "none": "没有待招商的缺口", "reason": "理由"},
    "en": {"map": "{chain}: chain map", "map_note": "circle area ∝ √output; black ring: gap without pipeline project (promotion target); dashed: cross-chain link",
           "category": "Segment class", "output": "Output (100m yuan)", "node": "Segment",
           "chain": "Chain", "stage": "Stage", "firms": "Local firms", "score": "Score",
           "projects": "Pipeline projects", "density": "Relatedness density (feasibility)",
           "value": "Score (value)", "scatter": "Open gaps: feasibility against value",
           "scatter_note": "x: density of present related segments; y: gap score",
           "none": "No open gap", "reason": "Reason"},
}
COL_W, ROW_H, PAD_TOP, PAD_BOTTOM = 150, 62, 46, 40
AREA_MIN, AREA_MAX = 90.0, 1500.0


def _text(lang: str) -> dict[str, str]:
    if lang not in TEXT:
        raise ValueError(f"不支持的语言 {lang!r}；可选 zh、en。")
    return TEXT[lang]


def _category_scale(lang: str) -> alt.Scale:
    names = list(CATEGORY_COLORS) if lang == "zh" else [CATEGORY_EN[c] for c in CATEGORY_COLORS]
    return alt.Scale(domain=names, range=list(CATEGORY_COLORS.values()))


#: The chain classes in English, for the gap labels of the map.
ENUM_EN_KIND = {"补链": "fill", "增链": "extend", "丰链": "enrich"}


def _area(output_yi: float, top_yi: float) -> float:
    """Point area in px², as the sqrt size scale below computes it (for arrowhead offsets)."""
    return AREA_MIN + (AREA_MAX - AREA_MIN) * math.sqrt(output_yi / top_yi) if top_yi > 0 else AREA_MIN


def _text_px(text: str, font: float = 12) -> float:
    """Rough width of one line of text in pixels (CJK full width, Latin about half)."""
    return sum(font if ord(ch) > 0x2E80 else font * 0.55 for ch in text)


def _wrap(text: str, limit: int = 18) -> str:
    """Break a long Latin label at the space nearest its middle (CJK labels are short)."""
    if len(text) <= limit or " " not in text:
        return text
    middle = len(text) / 2
    cut = min((i for i, ch in enumerate(text) if ch == " "), key=lambda i: abs(i - middle))
    return text[:cut] + "\n" + text[cut + 1:]


def _projects(ids: list[str] | None) -> str:
    ids = ids or []
    return "、".join(ids[:6]) + (f" 等{len(ids)}个" if len(ids) > 6 else "") if ids else "—"


#: The marker of a segment a what-if scenario changes (:func:`chain_map`'s ``changed``).
CHANGED_COLOR = "#e4572e"
CHANGED_NOTE = {"zh": "橙色粗圈◆为情景改变的环节", "en": "orange ring ◆: segment the scenario changes"}


def chain_map(nodes_frame: pl.DataFrame, edges_frame: pl.DataFrame, *, lang: str = "zh",
              changed: set[str] | None = None) -> alt.LayerChart:
    """A layered chain map: stages left to right, segments coloured by class and sized by output.

    ``nodes_frame`` and ``edges_frame`` come from :func:`portfolio.chains.chain_map_frames`
    (x column, centred y, category, firms, output_wan, addressed_by, external; edges with a
    ``cross`` flag). ``changed``: node ids a what-if scenario changes (their class after the
    pipeline, or their projects), drawn with an orange ring and a ◆ beside them.
    """
    t = _text(lang)
    en = lang == "en"
    n_cols = max(nodes_frame["x"].to_list()) + 1
    rows = max(nodes_frame.group_by("x").len()["len"].to_list())
    top_yi = max(float(v or 0) for v in nodes_frame["output_wan"].to_list()) / 10_000
    data = []
    for r in nodes_frame.iter_rows(named=True):
        out_yi = float(r["output_wan"] or 0) / 10_000
        gap_open = r["kind"] is not None and not r["addressed_by"]
        name = r["name_en"] if en else r["name"]
        # an open gap (a segment the chain lacks, often with no output) is what the map is for:
        # drawn as the largest ring and named with its class, never as the smallest dot
        gap_word = (f"[{ENUM_EN_KIND.get(r['kind'], r['kind'])}]" if en else f"【{r['kind']}】") if gap_open else ""
        data.append({
            "node_id": r["node_id"],
            "x": r["x"],
            "y": r["y"],
            "label": (f"{gap_word}\n" if gap_open else "")
                     + (f"{_wrap(name)}\n{_wrap('[' + r['chain_en'] + ']')}" if en and r["external"] else
                        f"{name}\n［{r['chain']}］" if r["external"] else _wrap(name)),
            "name": name,
            "chain": r["chain_en"] if en else r["chain"],
            "column": r["column_en"] if en else r["column"],
            "stage": r["stage"],
            "category": CATEGORY_EN[r["category"]] if en else r["category"],
            "firms": r["firms"],
            "output_yi": round(out_yi, 2),
            "radius": math.sqrt((AREA_MAX if gap_open and not r["firms"] else _area(out_yi, top_yi)) / math.pi),
            "score": r["score"],
            "projects": _projects(r["addressed_by"]),
            "open": gap_open,
            "empty_gap": gap_open and not r["firms"],  # nothing local yet: the large dashed ring
            "external": r["external"],
            "changed": bool(changed) and r["node_id"] in (changed or set()),
        })
    # each gap between columns fits the widest labels on both sides, and is at least COL_W
    half = [0.0] * n_cols
    for d in data:
        half[d["x"]] = max(half[d["x"]], *(_text_px(line) / 2 for line in d["label"].split("\n")))
    left = [max(half[0] + 10, 40.0)]
    for c in range(1, n_cols):
        left.append(left[-1] + max(COL_W, half[c - 1] + half[c] + 24))
    # rows tall enough for the biggest circle and the longest (wrapped) label below it
    row_h = max(ROW_H, max(d["radius"] + 15 * (d["label"].count("\n") + 1) + 22 for d in data))
    for d in data:
        d["px"] = left[d.pop("x")]
        d["py"] = PAD_TOP + (d.pop("y") + (rows - 1) / 2) * row_h
    pos = {d["node_id"]: d for d in data}
    links, heads = [], []
    for src, dst, cross in edges_frame.select("src_node_id", "dst_node_id", "cross").iter_rows():
        a, b = pos[src], pos[dst]
        dx, dy = b["px"] - a["px"], b["py"] - a["py"]
        length = math.hypot(dx, dy) or 1.0
        back = b["radius"] + 5
        links.append({"x": a["px"], "y": a["py"], "x2": b["px"] - dx / length * back,
                      "y2": b["py"] - dy / length * back, "cross": cross})
        heads.append({"x": b["px"] - dx / length * back, "y": b["py"] - dy / length * back,
                      "angle": math.degrees(math.atan2(dx, -dy)) % 360, "cross": cross})
    headers = (
        nodes_frame
        .group_by("column_en" if en else "column")
        .agg(pl.col("x").unique().sort().alias("xs"))
        .sort(pl.col("xs").list.first())
    )
    header_data = [{"px": sum(left[int(x)] for x in xs) / len(xs), "column": c}
                   for c, xs in headers.iter_rows()]
    width = left[-1] + max(half[-1] + 10, 40.0)
    height = PAD_TOP + (rows - 1) * row_h + PAD_BOTTOM
    px = alt.X("px:Q", scale=None, axis=None)
    py = alt.Y("py:Q", scale=None, axis=None)
    dash = alt.condition("datum.cross", alt.value([5, 3]), alt.value([1, 0]))
    edge_layer = alt.Chart(alt.Data(values=links)).mark_rule(color="#8c96a3", strokeWidth=1.2, opacity=0.8).encode(
        x=alt.X("x:Q", scale=None, axis=None), y=alt.Y("y:Q", scale=None, axis=None),
        x2="x2:Q", y2="y2:Q", strokeDash=dash,
    )
    head_layer = alt.Chart(alt.Data(values=heads)).mark_point(
        shape="triangle-up", filled=True, size=42, color="#8c96a3", opacity=0.9,
    ).encode(x=alt.X("x:Q", scale=None, axis=None), y=alt.Y("y:Q", scale=None, axis=None),
             angle=alt.Angle("angle:Q", scale=None))
    tooltip = [
        alt.Tooltip("name:N", title=t["node"]), alt.Tooltip("chain:N", title=t["chain"]),
        alt.Tooltip("stage:N", title=t["stage"]), alt.Tooltip("category:N", title=t["category"]),
        alt.Tooltip("firms:Q", title=t["firms"]), alt.Tooltip("output_yi:Q", title=t["output"], format=",.2f"),
        alt.Tooltip("score:Q", title=t["score"], format=".3f"),
        alt.Tooltip("projects:N", title=t["projects"]),
    ]
    base = alt.Chart(alt.Data(values=data))
    node_layer = base.mark_point(filled=True, shape="circle").encode(
        x=px, y=py,
        color=alt.Color("category:N", scale=_category_scale(lang),
                        legend=alt.Legend(title=t["category"], orient="bottom", direction="horizontal")),
        size=alt.Size("output_yi:Q", scale=alt.Scale(type="sqrt", domain=[0, max(top_yi, 1e-9)],
                                                     range=[AREA_MIN, AREA_MAX]),
                      legend=alt.Legend(title=t["output"], orient="bottom", direction="horizontal",
                                        format=",.0f", symbolFillColor="#b8bec6",
                                        symbolStrokeColor="#b8bec6")),
        opacity=alt.condition("datum.external", alt.value(0.45), alt.value(1.0)),
        stroke=alt.condition("datum.open", alt.value("#222222"), alt.value("white")),
        strokeWidth=alt.condition("datum.open", alt.value(2.2), alt.value(1.0)),
        tooltip=tooltip,
    )
    gap_ring = base.transform_filter("datum.empty_gap").mark_point(
        shape="circle", filled=False, size=AREA_MAX, strokeWidth=3, strokeDash=[5, 3], opacity=1.0,
    ).encode(x=px, y=py, color=alt.Color("category:N", scale=_category_scale(lang), legend=None), tooltip=tooltip)
    label: dict[str, Any] = {"align": "center", "baseline": "top", "fontSize": 12, "lineBreak": "\n"}
    halo = base.mark_text(**label, stroke="white", strokeWidth=4, strokeJoin="round").encode(
        x=px, y=alt.Y("label_y:Q", scale=None, axis=None), text="label:N",
    ).transform_calculate(label_y="datum.py + datum.radius + 2")
    text = base.mark_text(**label).encode(
        x=px, y=alt.Y("label_y:Q", scale=None, axis=None), text="label:N",
        color=alt.condition("datum.external", alt.value("#777777"), alt.value("#222222")),
        tooltip=tooltip,
    ).transform_calculate(label_y="datum.py + datum.radius + 2")
    header_layer = alt.Chart(alt.Data(values=header_data)).mark_text(
        fontSize=13, fontWeight="bold", color="#444444", baseline="middle",
    ).encode(x=alt.X("px:Q", scale=None, axis=None), y=alt.value(14), text="column:N")
    chain_name = nodes_frame.filter(~pl.col("external"))["chain_en" if en else "chain"].first()
    layers: list[Any] = [edge_layer, head_layer, node_layer, gap_ring]
    subtitle: str | list[str] = t["map_note"]
    if changed:
        marked = [{"px": d["px"], "py": d["py"], "size": math.pi * (d["radius"] + 7) ** 2,
                   "mx": d["px"] + d["radius"] + 5, "my": d["py"] - d["radius"] - 1, "name": d["name"]}
                  for d in data if d["changed"]]
        ring = alt.Chart(alt.Data(values=marked)).mark_point(
            shape="circle", filled=False, strokeWidth=3.5, color=CHANGED_COLOR, opacity=1.0,
        ).encode(x=px, y=py, size=alt.Size("size:Q", scale=None, legend=None),
                 tooltip=[alt.Tooltip("name:N", title=t["node"])])
        diamond = alt.Chart(alt.Data(values=marked)).mark_text(
            text="◆", fontSize=13, color=CHANGED_COLOR, align="left", baseline="bottom",
        ).encode(x=alt.X("mx:Q", scale=None, axis=None), y=alt.Y("my:Q", scale=None, axis=None))
        layers.append(ring)
        subtitle = [t["map_note"], CHANGED_NOTE[lang]]
    layers += [halo, text, header_layer]
    if changed:
        layers.append(diamond)
    return _styled(
        alt.layer(*layers, width=width, height=height,
                  title=_title(t["map"].format(chain=chain_name), subtitle, size=16))
    )


def _place_labels(points: list[dict[str, Any]], xdom: tuple[float, float], ydom: tuple[float, float],
                  width: float, height: float, font: float = 11) -> None:
    """Greedy label placement right, left, above or below each point, avoiding the labels and
    points already placed; sets ``lx``/``ly`` (data units) and ``align``, or drops the label."""

    def to_px(x: float, y: float) -> tuple[float, float]:
        return ((x - xdom[0]) / (xdom[1] - xdom[0]) * width,
                (1 - (y - ydom[0]) / (ydom[1] - ydom[0])) * height)

    dots = [to_px(p["density"], p["score"]) for p in points]
    boxes: list[tuple[float, float, float, float]] = [(x - 6, y - 6, x + 6, y + 6) for x, y in dots]
    for p in sorted(points, key=lambda p: -p["score"]):
        w = font * sum(1.0 if ord(ch) > 0x2E80 else 0.6 for ch in p["label"]) + 2
        h = font + 4
        x, y = to_px(p["density"], p["score"])
        options = [(10, -h / 2, "left"), (-10 - w, -h / 2, "right"), (-w / 2, -h - 8, "center"),
                   (-w / 2, 8, "center"), (8, -h - 4, "left"), (8, 4, "left"),
                   (-8 - w, -h - 4, "right"), (-8 - w, 4, "right")]
        p["show_label"] = False
        for ox, oy, align in options:
            box = (x + ox, y + oy, x + ox + w, y + oy + h)
            # labels may run a little past the right edge (the chart grows to fit them)
            inside = box[0] >= -4 and box[2] <= width + 60 and box[1] >= -4 and box[3] <= height + 4
            if inside and all(box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3]
                              for b in boxes if b != (x - 6, y - 6, x + 6, y + 6)):
                boxes.append(box)
                anchor = box[0] if align == "left" else box[2] if align == "right" else (box[0] + box[2]) / 2
                p["lx"] = xdom[0] + anchor / width * (xdom[1] - xdom[0])
                p["ly"] = ydom[0] + (1 - (box[1] + box[3]) / 2 / height) * (ydom[1] - ydom[0])
                p["align"] = align
                p["show_label"] = True
                break


def gap_scatter(gaps_frame: pl.DataFrame, *, lang: str = "zh", open_only: bool = True,
                width: int = 640, height: int = 420) -> alt.LayerChart:
    """Open gaps: feasibility (relatedness density) against value (score), labelled by segment.

    ``gaps_frame`` is :func:`portfolio.chains.gaps`; with ``open_only`` (default) the gaps
    the pipeline already addresses are left out. Labels that would overlap are dropped;
    every point keeps its tooltip.
    """
    t = _text(lang)
    en = lang == "en"
    frame = gaps_frame.filter(pl.col("open")) if open_only else gaps_frame
    points = [
        {
            "label": r["node_en"] if en else r["node"],
            "chain": r["chain_en"] if en else r["chain"],
            "category": CATEGORY_EN[r["kind"]] if en else r["kind"],
            "density": float(r["density"]), "score": float(r["score"]),
            "reason": (r["reasons_en"] if en else r["reasons"])[0],
        }
        for r in frame.iter_rows(named=True)
    ]
    low = min((p["density"] for p in points), default=0.0)
    xdom = (max(0.0, math.floor(low * 10 - 1) / 10), 1.0)
    ydom = (0.0, min(1.0, math.ceil(max((p["score"] for p in points), default=1.0) * 10 + 0.5) / 10))
    _place_labels(points, xdom, ydom, width, height)
    ticks = [round(xdom[0] + i / 10, 1) for i in range(round((xdom[1] - xdom[0]) * 10) + 1)]
    x = alt.X("density:Q", title=t["density"], scale=alt.Scale(domain=list(xdom), nice=False),
              axis=alt.Axis(format=".1f", values=ticks))
    y = alt.Y("score:Q", title=t["value"], scale=alt.Scale(domain=list(ydom), nice=False),
              axis=alt.Axis(format=".1f"))
    kinds = ["补链", "增链", "丰链"]
    colour = alt.Color(
        "category:N",
        scale=alt.Scale(domain=[CATEGORY_EN[k] if en else k for k in kinds],
                        range=[CATEGORY_COLORS[k] for k in kinds]),
        legend=alt.Legend(title=t["category"], orient="right"),
    )
    base = alt.Chart(alt.Data(values=points))
    dots = base.mark_point(filled=True, size=110, opacity=0.9, stroke="white", strokeWidth=1).encode(
        x=x, y=y, color=colour,
        tooltip=[alt.Tooltip("label:N", title=t["node"]), alt.Tooltip("chain:N", title=t["chain"]),
                 alt.Tooltip("category:N", title=t["category"]),
                 alt.Tooltip("density:Q", title=t["density"], format=".2f"),
                 alt.Tooltip("score:Q", title=t["score"], format=".3f"),
                 alt.Tooltip("reason:N", title=t["reason"])],
    )
    layers: list[alt.Chart] = [dots]
    for align in ("left", "right", "center"):
        subset = [p for p in points if p["show_label"] and p["align"] == align]
        if subset:
            layers.append(alt.Chart(alt.Data(values=subset)).mark_text(
                align=align, baseline="middle", fontSize=11, color="#333333",
            ).encode(x=alt.X("lx:Q"), y=alt.Y("ly:Q"), text="label:N"))
    if not points:
        layers.append(alt.Chart(alt.Data(values=[{"density": 0.5, "score": 0.5, "text": t["none"]}]))
                      .mark_text(fontSize=14, color="#666666").encode(x=x, y=y, text="text:N"))
    return _styled(
        alt.layer(*layers, width=width, height=height, title=_title(t["scatter"], t["scatter_note"], size=16)),
        view=False,
    )


@cache
def _register_fonts() -> None:
    import vl_convert as vlc

    for folder in FONT_DIRS:
        if Path(folder).is_dir():
            vlc.register_font_directory(folder)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to SVG text offline (vl-convert, CJK fonts registered)."""
    import vl_convert as vlc

    _register_fonts()
    return str(vlc.vegalite_to_svg(chart.to_dict(), vl_version=_vl_version()))


def to_png(chart: alt.TopLevelMixin, *, scale: float = 2.0) -> bytes:
    """Render a chart to PNG bytes offline (vl-convert, CJK fonts registered)."""
    import vl_convert as vlc

    _register_fonts()
    return bytes(vlc.vegalite_to_png(chart.to_dict(), scale=scale, vl_version=_vl_version()))


def _vl_version() -> str:
    """The Vega-Lite version Altair writes (e.g. ``6.4``), as vl-convert names it."""
    major, minor, *_ = alt.SCHEMA_VERSION.lstrip("v").split(".")
    return f"{major}.{minor}"


# --------------------------------------------------------------------------------------------
# target charts: S-curve, tier funnel, plan vs completed by unit or chain (labels: i18n ``chart.*``)

#: Series colours of the target charts (the palette above: blue done, amber expected, red target;
#: green the statistics bureau's figure, purple last year).
SERIES_COLORS = {"completed": "#3a7fc1", "official": "#2e8b57", "prev": "#9467bd", "official_prev": "#8cc7a0",
                 "monthly": "#b9d3ec", "expected": "#edae49", "linear": "#8c96a3", "target": "#d1495b"}
#: Line dashes of the S-curve series (bars and the target rule have none).
SERIES_DASH = {"completed": [1, 0], "official": [1, 0], "prev": [5, 3], "official_prev": [5, 3], "expected": [7, 4],
               "linear": [2, 3]}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _label(key: str, lang: str, **values: object) -> str:
    from .i18n import t

    _text(lang)  # the same language check as the chain charts
    return t(f"chart.{key}", lang, **values)


def _yi_num(value: Any) -> float | None:
    """万元 (Decimal, float or None) as a float in 亿元."""
    return None if value is None else float(value) / 10_000


def _month_axis(lang: str) -> alt.Axis:
    names = "[" + ",".join(f"'{m}'" for m in MONTHS_EN) + "]"
    expr = "datum.value + '月'" if lang == "zh" else f"{names}[datum.value - 1]"
    return alt.Axis(values=list(range(1, 13)), labelExpr=expr, grid=False, title=None)


#: Cumulative columns of :func:`portfolio.monthly.targets_monthly` drawn as lines, by series.
_LINES = {"expected": "expected_cumulative_wan", "linear": "linear_cumulative_wan",
          "official_prev": "official_prev_cumulative_wan", "prev": "cumulative_prev_wan",
          "official": "official_cumulative_wan", "completed": "cumulative_completed_wan"}


def _s_note(last: dict[str, Any], lang: str) -> list[str]:
    """The subtitle lines at the last reported month: completed against the seasonal expectation;
    last year's same months and the statistics bureau's figure where they exist."""
    done = float(last["cumulative_completed_wan"])
    expected = last["expected_cumulative_wan"] or 0.0
    ratio = f"{done / expected:.1%}" if expected else "—"
    month = f"{last['month_index']}月" if lang == "zh" else MONTHS_EN[last["month_index"] - 1]
    lines = [_label("s_curve_note", lang, month=month, done=f"{done / 10_000:,.1f}", ratio=ratio)]
    more = []
    prev = last.get("cumulative_prev_wan")
    if prev is not None:  # nothing done yet (a new year's January) is no growth figure
        growth = f"{(done / float(prev) - 1) * 100:+.1f}%" if prev and done else "—"
        more.append(_label("s_curve_prev_note", lang, prev=f"{float(prev) / 10_000:,.1f}", growth=growth))
    official = last.get("official_cumulative_wan")
    if official is not None:
        before = last.get("official_prev_cumulative_wan")
        growth = f"{(float(official) / float(before) - 1) * 100:+.1f}%" if before else "—"
        more.append(_label("s_curve_official_note", lang, official=f"{float(official) / 10_000:,.1f}",
                           growth=growth))
    if more:
        lines.append(("；" if lang == "zh" else "; ").join(more))
    return lines


def _s_panel(frame: pl.DataFrame, *, lang: str, width: int, height: int) -> Any:
    """One metric's S-curve: monthly bars, cumulative line, seasonal and linear paths, target, and
    (where the data has them) last year's same months and the statistics bureau's 本年累计."""
    first = frame.row(0, named=True)
    target_yi = _yi_num(first["target_wan"]) or 0.0
    names = {k: _label(k, lang) for k in SERIES_COLORS}
    rows = [{"m": r["month_index"], "series": names[k], "v": _yi_num(r[column])}
            for r in frame.iter_rows(named=True)
            for k, column in _LINES.items() if r.get(column) is not None]
    bars = [{"m": r["month_index"], "series": names["monthly"], "v": _yi_num(r["completed_wan"])}
            for r in frame.iter_rows(named=True) if r["completed_wan"] is not None]
    present = {k for k, column in _LINES.items() if column in frame.columns and frame[column].is_not_null().any()}
    done = frame.filter(pl.col("cumulative_completed_wan").is_not_null())
    last = done.row(-1, named=True) if done.height else None
    order = [k for k in ("completed", "official", "prev", "official_prev", "monthly", "expected", "linear", "target")
             if k in present or k in ("monthly", "expected", "linear", "target")]
    # four to a row: seven series would run past the plot's width in English
    colour = alt.Color("series:N", scale=alt.Scale(domain=[names[k] for k in order],
                                                   range=[SERIES_COLORS[k] for k in order]),
                       legend=alt.Legend(title=None, orient="bottom", direction="horizontal", columns=4))
    top = max([target_yi, *(r["v"] or 0.0 for r in rows), *(b["v"] or 0.0 for b in bars)])
    x = alt.X("m:Q", scale=alt.Scale(domain=[0.5, 12.5], nice=False), axis=_month_axis(lang))
    y = alt.Y("v:Q", title=_label("cumulative_yi", lang),
              scale=alt.Scale(domain=[0, top * 1.08 if top else 1], nice=False),
              axis=alt.Axis(format=",.0f", tickCount=6))
    tip = [alt.Tooltip("series:N", title=_label("series", lang)), alt.Tooltip("m:Q", title=_label("month", lang)),
           alt.Tooltip("v:Q", title=_label("value_yi", lang), format=",.2f")]
    dashed = [k for k in SERIES_DASH if k in order]
    dash = alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
        domain=[names[k] for k in dashed], range=[SERIES_DASH[k] for k in dashed]))
    layers: list[Any] = [
        alt.Chart(alt.Data(values=bars)).mark_bar(width=18, opacity=0.9)
        .encode(x=x, y=y, color=colour, tooltip=tip),
        alt.Chart(alt.Data(values=[{"v": target_yi, "series": names["target"]}]))
        .mark_rule(strokeWidth=1.5).encode(y=alt.Y("v:Q"), color=colour),
        alt.Chart(alt.Data(values=[{"v": target_yi, "text": _label("target_label", lang, value=f"{target_yi:,.0f}")}]))
        .mark_text(align="left", baseline="bottom", dx=4, dy=-3, fontSize=12, color=SERIES_COLORS["target"])
        .encode(x=alt.value(0), y=alt.Y("v:Q"), text="text:N"),
        alt.Chart(alt.Data(values=rows)).mark_line(strokeWidth=2.2, point=False)
        .encode(x=x, y=y, color=colour, strokeDash=dash, tooltip=tip),
    ]
    if "official" in present:  # published months are points: the bureau may skip a month
        layers.append(alt.Chart(alt.Data(values=[r for r in rows if r["series"] == names["official"]]))
                      .mark_point(filled=True, size=36, shape="diamond").encode(x=x, y=y, color=colour, tooltip=tip))
    subtitle: list[str] | str = ""
    if last is not None:
        done_yi = _yi_num(last["cumulative_completed_wan"]) or 0.0
        subtitle = _s_note(last, lang)
        point = [{"m": last["month_index"], "v": done_yi, "text": f"{done_yi:,.0f}"}]
        layers.append(alt.Chart(alt.Data(values=point))
                      .mark_point(filled=True, size=70, color=SERIES_COLORS["completed"]).encode(x=x, y=y))
        layers.append(alt.Chart(alt.Data(values=point))
                      .mark_text(align="right", dx=-8, dy=-10, fontSize=12, fontWeight="bold",
                                 color=SERIES_COLORS["completed"])
                      .encode(x=x, y=y, text="text:N"))
    label = first["label"] if lang == "zh" else _metric_en(first["metric"], first["label"])
    return alt.layer(*layers, width=width, height=height,
                     title=_title(_label("s_curve", lang, label=label), subtitle))


def _metric_en(metric: str, fallback: str) -> str:
    from .i18n import CATALOGUE

    pair = CATALOGUE.get(f"metric.{metric}")
    return pair[1] if pair else fallback


def s_curve(monthly: pl.DataFrame, *, lang: str = "zh", width: int = 520, height: int = 300) -> alt.TopLevelMixin:
    """Cumulative completion by month against the seasonal expectation, the linear share and the target.

    ``monthly`` is :func:`portfolio.monthly.targets_monthly` (one or both metrics); one panel
    per metric, side by side. Values in 亿元.
    """
    _text(lang)
    panels = [_s_panel(part, lang=lang, width=width, height=height)
              for part in monthly.partition_by("metric", maintain_order=True)]
    if not panels:
        raise ValueError("没有月度数据可画（monthly frame is empty）。")
    chart: Any = panels[0] if len(panels) == 1 else alt.hconcat(*panels, spacing=36)
    return _styled(chart, legend=True)


#: The two forecasts of a what-if scenario: grey the baseline, orange the scenario.
SCENARIO_COLORS = {"before": "#8c96a3", "after": CHANGED_COLOR}


def scenario_curve(monthly: pl.DataFrame, before: dict[str, Any], after: dict[str, Any], *, lang: str = "zh",
                   width: int = 520, height: int = 280) -> alt.LayerChart:
    """One metric's S-curve with two year-end forecasts: the baseline and a what-if scenario.

    ``monthly`` is :func:`portfolio.monthly.targets_monthly` of one metric; ``before`` and
    ``after`` each carry ``forecast_wan``, ``forecast_low_wan`` and ``forecast_high_wan`` (a row
    of the check, or of :meth:`portfolio.scenarios.Outcome.metrics` renamed). The cumulative
    completion runs to the last reported month; from there each forecast is a dashed line to
    December with its range as a widening band. Values in 亿元.
    """
    from .i18n import t as label

    _text(lang)
    if monthly.is_empty():
        raise ValueError("没有月度数据可画（monthly frame is empty）。")
    first = monthly.row(0, named=True)
    target_yi = _yi_num(first["target_wan"]) or 0.0
    done = monthly.filter(pl.col("cumulative_completed_wan").is_not_null())
    start_m, start_v = ((done["month_index"][-1], _yi_num(done["cumulative_completed_wan"][-1]) or 0.0)
                        if done.height else (0, 0.0))
    # the year-end figures in the legend: the two points may lie a few pixels apart
    figures = {key: _yi_num(row.get("forecast_wan")) for key, row in (("before", before), ("after", after))}
    names = {"completed": label("wi.chart.completed", lang), "target": label("wi.chart.target", lang),
             **{key: label(f"wi.chart.{key}", lang) + ("" if v is None else f" {v:,.1f}") for key, v in figures.items()}}
    lines = [{"m": r["month_index"], "v": _yi_num(r["cumulative_completed_wan"]), "series": names["completed"]}
             for r in done.iter_rows(named=True)]
    bands: list[dict[str, Any]] = []
    ends: list[dict[str, Any]] = []
    for key, row in (("before", before), ("after", after)):
        forecast, low, high = (_yi_num(row.get(c)) for c in ("forecast_wan", "forecast_low_wan", "forecast_high_wan"))
        if forecast is None:
            continue
        lines += [{"m": start_m, "v": start_v, "series": names[key]}, {"m": 12, "v": forecast, "series": names[key]}]
        bands += [{"m": start_m, "lo": start_v, "hi": start_v, "series": names[key]},
                  {"m": 12, "lo": low if low is not None else forecast, "hi": high if high is not None else forecast,
                   "series": names[key]}]
        ends.append({"m": 12, "v": forecast, "series": names[key]})
    order = ["completed", "before", "after", "target"]
    colour = alt.Color("series:N", scale=alt.Scale(
        domain=[names[k] for k in order],
        range=[SERIES_COLORS["completed"], SCENARIO_COLORS["before"], SCENARIO_COLORS["after"], SERIES_COLORS["target"]]),
        legend=alt.Legend(title=None, orient="bottom", direction="horizontal", columns=2, symbolType="stroke",
                          symbolOpacity=1, symbolStrokeWidth=3))
    dash = alt.StrokeDash("series:N", legend=None, scale=alt.Scale(
        domain=[names[k] for k in order[:3]], range=[[1, 0], [6, 4], [6, 4]]))
    top = max([target_yi, start_v, *(float(b["hi"]) for b in bands)])
    x = alt.X("m:Q", scale=alt.Scale(domain=[0.5, 12.5], nice=False), axis=_month_axis(lang))
    y_scale = alt.Scale(domain=[0, top * 1.08 if top else 1], nice=False)
    y = alt.Y("v:Q", title=_label("cumulative_yi", lang), scale=y_scale, axis=alt.Axis(format=",.0f", tickCount=6))
    tip = [alt.Tooltip("series:N", title=_label("series", lang)), alt.Tooltip("m:Q", title=_label("month", lang)),
           alt.Tooltip("v:Q", title=_label("value_yi", lang), format=",.1f")]
    layers: list[Any] = [
        alt.Chart(alt.Data(values=bands)).mark_area(opacity=0.18)
        .encode(x=x, y=alt.Y("lo:Q", scale=y_scale, title=None), y2="hi:Q", color=colour,
                tooltip=[alt.Tooltip("series:N", title=_label("series", lang)),
                         alt.Tooltip("lo:Q", title=label("wi.chart.low", lang), format=",.1f"),
                         alt.Tooltip("hi:Q", title=label("wi.chart.high", lang), format=",.1f")]),
        alt.Chart(alt.Data(values=[{"v": target_yi, "series": names["target"]}]))
        .mark_rule(strokeWidth=1.5).encode(y=y, color=colour),
        alt.Chart(alt.Data(values=lines)).mark_line(strokeWidth=2.4).encode(x=x, y=y, color=colour, strokeDash=dash,
                                                                            tooltip=tip),
        alt.Chart(alt.Data(values=ends)).mark_point(filled=True, size=60).encode(x=x, y=y, color=colour, tooltip=tip),
    ]
    title = label("wi.chart.title", lang, label=first["label"] if lang == "zh" else _metric_en(first["metric"], first["label"]))
    return _styled(
        alt.layer(*layers, width=width, height=height, title=_title(title, label("wi.chart.note", lang))),
        legend=True,
    )


def _tier_min_label(min_wan: int, lang: str) -> str:
    if lang == "zh":
        value = f"{min_wan // 10_000:g}亿元" if min_wan >= 10_000 else f"{min_wan:g}万元"
    else:
        yuan = min_wan * 10_000
        value = f"{yuan / 1e9:g} bn yuan" if yuan >= 1e9 else f"{yuan / 1e6:g} m yuan"
    return _label("tier_min", lang, value=value)


def tier_funnel(tiers: pl.DataFrame, *, lang: str = "zh", width: int = 620) -> alt.LayerChart:
    """The tier funnel (cumulative project counts, widest band at the top) with the plan counts marked.

    ``tiers`` is :func:`portfolio.targets.tier_summary` or the ``tiers`` of ``check_report``
    (min_wan, cumulative_count, plan_cumulative_count).
    """
    _text(lang)
    rows = [
        {"band": _tier_min_label(int(r["min_wan"]), lang), "actual": int(r["cumulative_count"]),
         "plan": r["plan_cumulative_count"], "min_wan": int(r["min_wan"]),
         "text": _label("tier_text", lang, actual=f"{int(r['cumulative_count']):,}",
                        plan="—" if r["plan_cumulative_count"] is None else f"{int(r['plan_cumulative_count']):,}")}
        for r in tiers.sort("min_wan").iter_rows(named=True)
    ]
    top = max([r["actual"] for r in rows] + [r["plan"] or 0 for r in rows] + [1])
    for r in rows:
        r["x0"], r["x1"] = -r["actual"] / 2, r["actual"] / 2
        r["p0"], r["p1"] = (-r["plan"] / 2, r["plan"] / 2) if r["plan"] is not None else (None, None)
        r["tx"] = max(r["actual"], r["plan"] or 0) / 2
    order = [r["band"] for r in rows]
    # the funnel takes the width less room on the right for the count labels
    label_px = 150
    half = top / 2 * 1.02
    extra = 2 * half * label_px / max(width - label_px, 1)
    y = alt.Y("band:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13, ticks=False, domain=False))
    x = alt.X("x0:Q", scale=alt.Scale(domain=[-half, half + extra], nice=False), axis=None)
    base = alt.Chart(alt.Data(values=rows))
    shades = ["#3a7fc1", "#5b95cd", "#7eadd9", "#a3c5e5", "#c4d9ee"][: len(rows)]
    bars = base.mark_bar(height={"band": 0.78}).encode(
        x=x, x2="x1:Q", y=y,
        color=alt.Color("band:N", sort=order, scale=alt.Scale(domain=order, range=shades), legend=None),
        tooltip=[alt.Tooltip("band:N", title=_label("tier_band", lang)),
                 alt.Tooltip("actual:Q", title=_label("actual", lang), format=","),
                 alt.Tooltip("plan:Q", title=_label("plan", lang), format=",")],
    )
    ticks = [base.transform_filter("datum.plan != null").mark_tick(color="#222222", thickness=2.5, size=34)
             .encode(x=alt.X(f"{c}:Q"), y=y) for c in ("p0", "p1")]
    text = base.mark_text(align="left", dx=8, fontSize=13, color="#1b1b1b").encode(
        x=alt.X("tx:Q"), y=y, text="text:N")
    return _styled(
        alt.layer(bars, *ticks, text, width=width, height=56 * len(rows),
                  title=_title(_label("tier_funnel", lang), _label("tier_note", lang)))
    )


def group_bars(frame: pl.DataFrame, *, group: str, lang: str = "zh", metric: str = "industrial_investment",
               width: int = 560) -> alt.LayerChart:
    """Plan-year vs completed vs seasonal expectation per unit or chain, in 亿元, largest plan first.

    ``frame`` is :func:`portfolio.targets.target_checks` with ``by="unit"`` or ``"chain"`` (or
    the ``by_unit`` / ``by_chain`` of ``check_report``); ``metric`` picks the rows. With
    ``lang="en"`` a ``<group>_name_en`` column is used when present.
    """
    if group not in ("unit", "chain"):
        raise ValueError(f"group 只能是 unit 或 chain，而不是 {group!r}。")
    _text(lang)
    name_col = f"{group}_name_en" if lang == "en" and f"{group}_name_en" in frame.columns else f"{group}_name"
    part = frame.filter(pl.col("metric") == metric)
    if part.is_empty():
        raise ValueError(f"没有指标 {metric} 的分组数据。")
    label = part["label"][0] if lang == "zh" else _metric_en(metric, part["label"][0])
    rows: list[dict[str, Any]] = [
        {"name": r[name_col] or "—", "plan": _yi_num(r["planned_wan"]), "done": _yi_num(r["completed_wan"]),
         "expected": _yi_num(r["expected_wan"]),
         "ratio": None if not r["expected_wan"] else float(r["completed_wan"]) / float(r["expected_wan"])}
        for r in part.sort(["planned_wan", name_col], descending=[True, False]).iter_rows(named=True)
    ]
    for r in rows:
        r["ratio_text"] = "—" if r["ratio"] is None else f"{r['ratio']:.0%}"
    order = [str(r["name"]) for r in rows]
    # a new year before its plan is imported has nothing to draw: an axis of 0–10, not of 0, 0, 0
    top = max([max(r["plan"] or 0.0, r["done"] or 0.0, r["expected"] or 0.0) for r in rows]) or 10.0
    names = {"plan": _label("planned", lang), "done": _label("done", lang), "expected": _label("expected", lang)}
    colour = alt.Color("series:N", scale=alt.Scale(domain=list(names.values()),
                                                   range=["#c9d8e8", SERIES_COLORS["completed"], "#222222"]),
                       legend=alt.Legend(title=None, orient="bottom", direction="horizontal", symbolType="square"))
    y = alt.Y("name:N", sort=order, title=None, axis=alt.Axis(labelFontSize=12, ticks=False, labelLimit=220))
    x = alt.X("v:Q", title=_label("value_yi", lang), scale=alt.Scale(domain=[0, top * 1.04], nice=False),
              axis=alt.Axis(format=",.0f", grid=True, gridColor="#eeeeee"))
    long = [{"name": r["name"], "series": names[k], "v": r[k], "ratio": r["ratio_text"]}
            for r in rows for k in ("plan", "done", "expected") if r[k] is not None]
    tip = [alt.Tooltip("name:N", title=_label(group, lang)), alt.Tooltip("series:N", title=_label("series", lang)),
           alt.Tooltip("v:Q", title=_label("value_yi", lang), format=",.2f"),
           alt.Tooltip("ratio:N", title=_label("ratio", lang))]
    base = alt.Chart(alt.Data(values=long))
    plan = base.transform_filter(alt.datum.series == names["plan"]).mark_bar(height={"band": 0.8}).encode(
        x=x, y=y, color=colour, tooltip=tip)
    done = base.transform_filter(alt.datum.series == names["done"]).mark_bar(height={"band": 0.42}).encode(
        x=x, y=y, color=colour, tooltip=tip)
    expected = base.transform_filter(alt.datum.series == names["expected"]).mark_tick(
        thickness=2.5, size=20).encode(x=x, y=y, color=colour, tooltip=tip)
    ratio = alt.Chart(alt.Data(values=rows)).mark_text(align="left", dx=6, fontSize=11, color="#444444").encode(
        x=alt.value(width), y=y, text="ratio_text:N")
    key = "group_unit" if group == "unit" else "group_chain"
    return _styled(
        alt.layer(plan, done, expected, ratio, width=width, height=max(24 * len(rows), 120),
                  title=_title(_label(key, lang, label=label), _label("group_note", lang)))
    )
