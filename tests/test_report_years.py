"""The report of a plan year: 同比 beside the statistics bureau's figures, and a closed year unchanged.

The sample may or may not carry the bureau's figures and 2015 progress; the fixtures here write
their own (upserted), so every expected figure comes from independent SQL over ``actuals`` and
``progress`` as they stand in the database the report read.
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from portfolio import cli, report, store, years

SEPT = date(2016, 9, 1)
NOW = datetime(2016, 10, 25, 6, 30)
TARGETS_2017 = {"industrial_investment": Decimal("26000000"), "tech_upgrade_investment": Decimal("15500000")}
METRICS = ("industrial_investment", "tech_upgrade_investment")
LABELS = {"industrial_investment": "工业投资", "tech_upgrade_investment": "技术改造投资"}
#: The bureau's 本年累计 written by the tests (万元): industrial grows, 技改 falls year on year.
ACTUALS = [
    ("2015-09-01", "industrial_investment", "16000000", None),
    ("2016-09-01", "industrial_investment", "17500000", "9.38"),
    ("2015-09-01", "tech_upgrade_investment", "10100000", None),
    ("2016-09-01", "tech_upgrade_investment", "9800000", "-2.97"),
]
STAMP = re.compile(r"(生成时间：)\d{4}-\d\d-\d\d \d\d:\d\d")


def yi(wan: Any) -> str:
    return f"{float(wan) / 10_000:,.2f}"


def cells(html: str, key: str) -> list[str]:
    """The texts of the elements carrying ``data-key="key"``, in page order."""
    return [html_lib.unescape(m) for m in re.findall(rf'data-key="{re.escape(key)}">([^<]*)<', html)]


def sheet_rows(path: Path, name: str) -> list[dict[str, Any]]:
    """The rows of one sheet as dicts keyed by the header row."""
    ws = openpyxl.load_workbook(path)[name]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def all_sheets(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


def write_history(db: Path) -> None:
    """The bureau's figures of September 2015 and 2016, and 2015 progress for 300 projects (kept if present)."""
    with store.connect(db) as con:
        for month, metric, value, yoy in ACTUALS:
            con.execute(
                "insert into actuals (month, metric, cumulative_wan, yoy_pct, updated_by) values (?, ?, ?, ?, 'test')"
                " on conflict (month, metric) do update set cumulative_wan = excluded.cumulative_wan,"
                " yoy_pct = excluded.yoy_pct",
                [date.fromisoformat(month), metric, Decimal(value), None if yoy is None else Decimal(yoy)])
        con.execute(
            "insert into progress (project_id, month, completed_wan)"
            " select project_id, (month - interval 1 year)::date, round(completed_wan * 0.8, 2) from progress"
            " where year(month) = 2016 and project_id in (select project_id from projects order by project_id limit 300)"
            " on conflict do nothing")
        # those projects were 2015's library (a history year before the first plan year)
        con.execute(
            "insert into plans (project_id, year, annual_plan_wan)"
            " select project_id, 2015, round(annual_plan_wan * 0.8, 2) from projects"
            " order by project_id limit 300 on conflict do nothing")


def build(db: Path, out: Path, **kwargs: Any) -> dict[str, Any]:
    paths = {p.suffix: p for p in report.build_report(db, out_dir=out, now=NOW, **kwargs)}
    found: dict[str, Any] = {"xlsx": paths.get(".xlsx")}
    for suffix in (".md", ".html"):
        if suffix in paths:
            found[suffix[1:]] = paths[suffix].read_text(encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def history_db(sample_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample with the bureau's September figures of both years and 2015 progress."""
    path = tmp_path_factory.mktemp("years") / "history.duckdb"
    shutil.copy(sample_db_template, path)
    write_history(path)
    return path


@pytest.fixture(scope="module")
def built(history_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The September 2016 report of ``history_db`` in all three formats."""
    return build(history_db, tmp_path_factory.mktemp("years-report"), as_of=SEPT)


@pytest.fixture(scope="module")
def independent(history_db: Path) -> dict[str, dict[str, float | None]]:
    """Per metric, from SQL over ``actuals`` and ``progress`` alone: the bureau's and the library's figures."""
    with store.connect(history_db, read_only=True) as con:
        natures = con.execute("select tech_upgrade_natures from v_rules").fetchall()[0][0]
        official = {m: (cur, prev) for m, cur, prev in con.execute(
            "select a.metric, a.cumulative_wan, p.cumulative_wan from actuals a"
            " left join actuals p on p.metric = a.metric and p.month = ?"
            " where a.month = ?", [date(2015, 9, 1), SEPT]).fetchall()}
        lib = con.execute(
            "select sum(g.completed_wan) filter (where g.month between ? and ?),"
            "       sum(g.completed_wan) filter (where g.month between ? and ?),"
            "       sum(g.completed_wan) filter (where g.month between ? and ? and list_contains(?, p.nature)),"
            "       sum(g.completed_wan) filter (where g.month between ? and ? and list_contains(?, p.nature))"
            " from progress g join projects p using (project_id)"
            " where g.project_id in (select project_id from plans where year = year(g.month))",
            [date(2016, 1, 1), SEPT, date(2015, 1, 1), date(2015, 9, 1),
             date(2016, 1, 1), SEPT, natures, date(2015, 1, 1), date(2015, 9, 1), natures]).fetchall()[0]
    library = {"industrial_investment": (lib[0], lib[1]), "tech_upgrade_investment": (lib[2], lib[3])}
    out: dict[str, dict[str, float | None]] = {}
    for m in METRICS:
        cur, prev = official[m]
        done, done_prev = library[m]
        out[m] = {"official": float(cur), "yoy": (float(cur) / float(prev) - 1) * 100,
                  "library": float(done), "library_yoy": (float(done) / float(done_prev) - 1) * 100,
                  "diff": float(cur) - float(done)}
    return out


def change(pct: float | None) -> str:
    assert pct is not None
    return f"增长 {pct:.1f}%" if pct > 0 else f"下降 {-pct:.1f}%"


# --------------------------------------------------------------------------------------------
# 同比: the bureau's and the library's, equal to independent SQL


def test_each_metric_has_a_sentence_with_the_bureaus_and_the_librarys_year_on_year(
        built: dict[str, Any], independent: dict[str, dict[str, Any]]) -> None:
    for m in METRICS:
        x = independent[m]
        assert x["diff"] > 0, "the test's bureau figures lie above the library's"
        sentence = (f"1–9月 {LABELS[m]} 统计局累计 {yi(x['official'])}亿元，同比{change(x['yoy'])}；"
                    f"项目库口径 {yi(x['library'])}亿元，比上年项目库同期{change(x['library_yoy'])}，"
                    f"差 {yi(x['diff'])}亿元（1000万元以下项目与库外投资）。")
        assert f"- {sentence}\n" in built["md"], m
        assert sentence in html_lib.unescape(built["html"]), m
    assert "同比增长 9.4%" in built["md"] and "同比下降 3.0%" in built["md"]  # 17.5 / 16.0, 9.8 / 10.1


def test_the_targets_table_and_cards_carry_both_growths_and_the_difference(
        built: dict[str, Any], independent: dict[str, dict[str, Any]]) -> None:
    html = built["html"]
    for m in METRICS:
        x = independent[m]
        assert cells(html, f"{m}.official_completed_wan") == [yi(x["official"])]
        assert cells(html, f"{m}.official_diff_wan") == [yi(x["diff"])]
        assert cells(html, f"{m}.yoy_pct") == [f"{x['yoy']:+.1f}%"]
        assert cells(html, f"{m}.library_yoy_pct") == [f"{x['library_yoy']:+.1f}%"]
        assert cells(html, f"{m}.card_yoy") == [f"{x['yoy']:+.1f}%"]
    for label in ("统计局本年累计（亿元）", "差额：统计局 − 项目库（亿元）", "同比（统计局）", "同比（项目库）"):
        assert label in html


def test_the_xlsx_targets_sheet_has_the_official_figures_and_both_growths(
        built: dict[str, Any], independent: dict[str, dict[str, Any]]) -> None:
    rows = {r["指标"]: r for r in sheet_rows(built["xlsx"], "目标")}
    for m in METRICS:
        x, row = independent[m], rows[LABELS[m]]
        assert row["统计局本年累计（亿元）"] * 10_000 == pytest.approx(x["official"], abs=1e-6)
        assert row["差额：统计局−项目库（亿元）"] * 10_000 == pytest.approx(x["diff"], abs=0.01)
        assert row["同比：统计局（%）"] == pytest.approx(x["yoy"], abs=1e-4)
        assert row["同比：项目库（%）"] == pytest.approx(x["library_yoy"], abs=1e-4)
        assert row["同比说明"].startswith(f"1–9月 {LABELS[m]} 统计局累计 {yi(x['official'])}亿元")
    assert rows["工业投资"]["统计局公布同比（%）"] == pytest.approx(9.38)


def test_the_xlsx_has_the_bureau_against_the_library_month_by_month(
        built: dict[str, Any], history_db: Path) -> None:
    rows = sheet_rows(built["xlsx"], "统计局与项目库")
    with store.connect(history_db, read_only=True) as con:
        official = {(m, month): float(v) for month, m, v in con.execute(
            "select month, metric, cumulative_wan from actuals where year(month) = 2016 and month <= ?",
            [SEPT]).fetchall()}
        months = [r[0] for r in con.execute(
            "select distinct month from progress where year(month) = 2016 order by month").fetchall()]
    label_metric = {v: k for k, v in LABELS.items()}
    assert [(r["指标"], r["月份"].date()) for r in rows] == [(LABELS[m], month) for m in METRICS for month in months]
    for r in rows:
        key = (label_metric[r["指标"]], r["月份"].date())
        if key in official:
            assert r["统计局本年累计（亿元）"] * 10_000 == pytest.approx(official[key], abs=1e-6)
            assert r["说明"] in (None, "暂无上年同期统计数据")
        else:  # said in words, the cell left empty (not 0)
            assert r["统计局本年累计（亿元）"] is None and r["说明"] == "暂无统计局数据"
    sept = {label_metric[r["指标"]]: r for r in rows if r["月份"].date() == SEPT}
    assert sept["industrial_investment"]["同比：统计局（%）"] == pytest.approx((17500000 / 16000000 - 1) * 100, abs=0.01)


def test_unit_and_chain_tables_carry_the_librarys_year_on_year(built: dict[str, Any], history_db: Path) -> None:
    with store.connect(history_db, read_only=True) as con:
        by_unit = {name: (float(now) / float(prev) - 1) * 100 if prev else None for name, now, prev in con.execute(
            "select u.name,"
            " sum(g.completed_wan) filter (where g.month between '2016-01-01' and '2016-09-01'),"
            " sum(g.completed_wan) filter (where g.month between '2015-01-01' and '2015-09-01')"
            " from progress g join projects p using (project_id) join units u using (unit_id)"
            " where g.project_id in (select project_id from plans where year = year(g.month)) group by u.name"
            " having sum(g.completed_wan) filter (where g.month between '2016-01-01' and '2016-09-01') is not null"
            ).fetchall()}
    units = [r for r in sheet_rows(built["xlsx"], "责任单位") if r["指标"] == "工业投资"]
    assert {r["责任单位"] for r in units} == set(by_unit)
    for r in units:
        expected = by_unit[r["责任单位"]]
        assert (r["同比：项目库（%）"] is None) == (expected is None), r["责任单位"]
        if expected is not None:
            assert r["同比：项目库（%）"] == pytest.approx(expected, abs=1e-3), r["责任单位"]
    shown = cells(built["html"], "group.yoy")
    chains = [r for r in sheet_rows(built["xlsx"], "产业链") if r["指标"] == "工业投资"]
    assert shown == ["—" if r["同比：项目库（%）"] is None else f"{r['同比：项目库（%）']:+.1f}%" for r in units + chains]
    assert "同比为项目库口径" in built["html"]


# --------------------------------------------------------------------------------------------
# missing statistics are said in words


@pytest.fixture(scope="module")
def without_statistics(sample_db_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The September report with no bureau figures at all and no progress of 2015."""
    root = tmp_path_factory.mktemp("no-stats")
    db = root / "bare.duckdb"
    shutil.copy(sample_db_template, db)
    with store.connect(db) as con:
        con.execute("delete from actuals")
        con.execute("delete from progress where year(month) < 2016")
    return build(db, root / "out", as_of=SEPT)


def test_missing_statistics_are_said_in_words_never_as_zero(without_statistics: dict[str, Any]) -> None:
    md, html = without_statistics["md"], without_statistics["html"]
    for m in METRICS:
        assert re.search(rf"^- 1–9月 {LABELS[m]} 暂无统计局数据；项目库口径 [\d,.]+亿元（项目库暂无上年同期数据）。$",
                         md, re.MULTILINE), m
        for key in ("official_completed_wan", "official_diff_wan", "yoy_pct", "card_yoy"):
            assert cells(html, f"{m}.{key}") == ["暂无统计局数据"], (m, key)
        assert cells(html, f"{m}.library_yoy_pct") == ["暂无上年同期"]
    assert set(cells(html, "group.yoy")) == {"—"}
    for text in (md, html):
        assert not re.search(r"\bnan\b|NaN|统计局累计 0\.00", text)
    targets = sheet_rows(without_statistics["xlsx"], "目标")
    for row in targets:
        assert row["统计局本年累计（亿元）"] is None and row["同比：统计局（%）"] is None
        assert row["项目库上年同期（亿元）"] is None and row["同比：项目库（%）"] is None  # not 0
        assert "暂无统计局数据" in row["同比说明"]
    official = sheet_rows(without_statistics["xlsx"], "统计局与项目库")
    assert official and {r["说明"] for r in official} == {"暂无统计局数据"}
    assert {r["统计局本年累计（亿元）"] for r in official} == {None}


def test_a_bureau_figure_without_last_years_says_so_or_shows_the_published_growth(
        history_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "half.duckdb"
    shutil.copy(history_db, db)
    with store.connect(db) as con:
        con.execute("delete from actuals where year(month) = 2015")
        con.execute("update actuals set yoy_pct = null where metric = 'industrial_investment' and month = ?", [SEPT])
    found = build(db, tmp_path / "out", as_of=SEPT, formats=["md", "html"])
    assert "1–9月 工业投资 统计局累计 1,750.00亿元（暂无上年同期统计数据）；" in found["md"]
    assert cells(found["html"], "industrial_investment.yoy_pct") == ["暂无上年同期"]
    # the growth the bureau published stands in when last year's 本年累计 is not in the table
    assert "1–9月 技术改造投资 统计局累计 980.00亿元，同比下降 3.0%；" in found["md"]
    assert cells(found["html"], "tech_upgrade_investment.yoy_pct") == ["-3.0%"]


def test_the_english_report_says_the_same_in_english(history_db: Path) -> None:
    with store.connect(history_db, read_only=True) as con:
        data = report.collect(con, as_of=SEPT, now=NOW)
    md = report.render_markdown(data, "en")
    assert "- January–September, Industrial investment: statistics bureau 1,750.00 (100 m yuan), up 9.4% year on year;" in md
    assert "Tech-upgrade investment: statistics bureau 980.00 (100 m yuan), down 3.0% year on year;" in md
    assert "(projects under RMB 10 m and investment outside the pipeline)." in md
    html = report.render_html(data, "en")
    assert "report." not in re.sub(r"portfolio-report-\S+", "", html)
    assert "Year on year (bureau)" in html


# --------------------------------------------------------------------------------------------
# the report of any plan year; a closed year's is the one made before the rollover


def test_a_closed_years_report_is_the_one_made_before_the_rollover(history_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "rollover.duckdb"
    shutil.copy(history_db, db)
    before = build(db, tmp_path / "before", as_of=SEPT)
    with store.connect(db) as con:
        years.open_year(con, 2017, targets=TARGETS_2017)
        # the projects change after the rollover: the closed year keeps them as they were
        con.execute("update projects set status = '竣工', name = '改名', unit_id = 'CY', leader = null"
                    " where project_id in (select project_id from projects order by project_id limit 40)")
        store.bump_revision(con)
    after = build(db, tmp_path / "after", year=2016)  # the month: 2016's latest with progress
    assert after["md"] == before["md"]
    assert after["html"] == before["html"]
    assert all_sheets(after["xlsx"]) == all_sheets(before["xlsx"])
    assert "同比增长 9.4%" in after["md"]
    # the command line gives the same, apart from the generation time
    out = tmp_path / "cli"
    result = CliRunner().invoke(cli.app, ["report", "--db", str(db), "--year", "2016", "--format", "md", "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = (out / "portfolio-report-2016-09.md").read_text(encoding="utf-8")
    assert STAMP.sub("", md) == STAMP.sub("", before["md"])


def test_a_nature_changed_after_the_rollover_leaves_the_closed_years_sheets_alone(
        history_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "nature.duckdb"
    shutil.copy(history_db, db)
    before = build(db, tmp_path / "before", as_of=SEPT, formats=["xlsx"])
    with store.connect(db) as con:
        years.open_year(con, 2017, targets=TARGETS_2017)
        con.execute("update projects set nature = '新建'"
                    " where project_id in (select project_id from projects order by project_id limit 40)")
        store.bump_revision(con)
    after = build(db, tmp_path / "after", year=2016, formats=["xlsx"])
    assert all_sheets(after["xlsx"]) == all_sheets(before["xlsx"])


def test_after_the_rollover_the_new_year_is_the_default_and_a_year_without_progress_is_refused(
        sample_db: Path, tmp_path: Path) -> None:
    with store.connect(sample_db) as con:
        years.open_year(con, 2017, targets=TARGETS_2017)
        assert store.progress_months(con, 2016)[-1] == SEPT and store.progress_months(con) == []
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="2017 年度没有任何月度进度数据"):
        report.build_report(sample_db, out_dir=out)
    with pytest.raises(ValueError, match="2016-09 不在 2017 计划年度内"):
        report.build_report(sample_db, as_of=SEPT, year=2017, out_dir=out)
    assert not out.exists()
    # an as-of month alone picks its plan year
    (path,) = report.build_report(sample_db, as_of=SEPT, out_dir=out, formats=["md"], now=NOW)
    assert path.name == "portfolio-report-2016-09.md"


def test_a_year_the_database_does_not_hold_is_refused_with_one_sentence(sample_db_template: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(years.YearError, match="数据库中没有 2014 计划年度"):
        report.build_report(sample_db_template, year=2014, out_dir=out)
    with pytest.raises(ValueError, match="2015-09 不在 2016 计划年度内"):
        report.build_report(sample_db_template, as_of=date(2015, 9, 1), year=2016, out_dir=out)
    result = CliRunner().invoke(cli.app, ["report", "--db", str(sample_db_template), "--year", "2014",
                                          "--out", str(out)])
    assert result.exit_code == 2
    assert "没有 2014 计划年度" in result.stderr and "Traceback" not in result.output
    assert not out.exists()
