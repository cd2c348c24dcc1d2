"""报告 page: builds the month's report into the reports folder and lists earlier reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import no_exception, page_text

PAGE = "app_pages/reports.py"


@pytest.fixture
def reports_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the page writes to ($PORTFOLIO_REPORTS)."""
    folder = tmp_path / "reports"
    monkeypatch.setenv("PORTFOLIO_REPORTS", str(folder))
    return folder


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reports_page_opens_in_both_languages(open_page: Callable[..., AppTest], reports_dir: Path,
                                              lang: str) -> None:
    at = open_page(PAGE, lang=lang)
    no_exception(at)
    text = page_text(at)
    assert str(reports_dir) in text
    assert ("还没有报告" if lang == "zh" else "no report") in text


def test_without_the_variable_reports_go_next_to_the_database(open_page: Callable[..., AppTest], app_db: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTFOLIO_REPORTS", raising=False)
    at = open_page(PAGE)
    assert str(app_db.resolve().parent / "reports") in page_text(at)


def test_building_a_report_writes_the_files_and_offers_them(open_page: Callable[..., AppTest],
                                                            reports_dir: Path) -> None:
    at = open_page(PAGE)
    at.button_group(key="rp_formats").set_value(["html", "md"])
    at.button(key="rp_build").click().run()
    no_exception(at)
    assert sorted(p.name for p in reports_dir.glob("portfolio-report-*")) == [
        "portfolio-report-2016-09.html", "portfolio-report-2016-09.md"]
    html = (reports_dir / "portfolio-report-2016-09.html").read_text(encoding="utf-8")
    assert "<html" in html and "2016" in html
    keys = {b.key for b in at.download_button}
    assert {"rp_new_html", "rp_new_md", "rp_2016-09_html", "rp_2016-09_md"} <= keys
    assert "rp_2016-09_xlsx" not in keys
    assert "2016-09 月报" in page_text(at)


def test_earlier_reports_in_the_folder_are_listed_newest_first(open_page: Callable[..., AppTest],
                                                               reports_dir: Path) -> None:
    reports_dir.mkdir()
    for name in ("portfolio-report-2016-07.xlsx", "portfolio-report-2016-08.html", "portfolio-report-2016-08.md",
                 "notes.txt"):
        (reports_dir / name).write_text("x", encoding="utf-8")
    at = open_page(PAGE)
    no_exception(at)
    assert [b.key for b in at.download_button] == ["rp_2016-08_html", "rp_2016-08_md", "rp_2016-07_xlsx"]


def test_a_long_lists_csv_is_offered_beside_the_report(open_page: Callable[..., AppTest], reports_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from portfolio import report

    monkeypatch.setattr(report.data, "SHEET_ROWS", 5)  # the sample's lists pass it: the xlsx cuts them
    at = open_page(PAGE)
    at.button(key="rp_build").click().run(timeout=300)
    no_exception(at)
    csvs = sorted(p.name for p in reports_dir.glob("portfolio-report-2016-09-*.csv"))
    assert "portfolio-report-2016-09-lagging.csv" in csvs
    keys = [b.key for b in at.download_button]
    new = [k for k in keys if k.startswith("rp_new_")]
    assert new[:3] == ["rp_new_html", "rp_new_xlsx", "rp_new_md"]
    assert sorted(new[3:]) == sorted(f"rp_new_{name.split('2016-09-')[1].replace('.', '_')}" for name in csvs)
    assert "rp_2016-09_lagging_csv" in keys
    labels = {b.key: b.label for b in at.download_button}
    assert labels["rp_new_lagging_csv"] == "滞后项目（CSV 全表）"
    assert any("2016-09 月报已生成" in t.value for t in at.toast)


def test_every_download_reads_its_file_on_click_without_a_rerun(open_page: Callable[..., AppTest],
                                                                reports_dir: Path) -> None:
    reports_dir.mkdir()
    (reports_dir / "portfolio-report-2016-08.html").write_text("x", encoding="utf-8")
    (reports_dir / "portfolio-report-2016-08-lagging.csv").write_text("a\n1\n", encoding="utf-8")
    at = open_page(PAGE)
    buttons = {b.key: b for b in at.download_button}
    assert list(buttons) == ["rp_2016-08_html", "rp_2016-08_lagging_csv"]
    for b in buttons.values():
        assert b.proto.ignore_rerun and b.proto.deferred_file_id
