"""How a run uses the database: one open per run, closed after it, one project frame shared by the pages,
charts built once per data revision, long tables cut to a page with a note (issue 14; no timing here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import ui
from portfolio import access, chains, charts, edits, i18n, store, targets
from portfolio.store import connection
from tests.app.conftest import ROOT, no_exception, page_text


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Every open of the database file in this process (True for read-only), as the runs make them."""
    seen: list[bool] = []
    original = connection.connect_retrying

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(bool(kwargs.get("read_only")))
        return original(*args, **kwargs)

    monkeypatch.setattr(connection, "connect_retrying", counting)
    yield seen


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries that read ``project_status_at`` (each builds a project frame in DuckDB)."""
    seen: list[str] = []
    original = connection.fetch

    def counting(con: Any, sql: str, params: Any = None) -> Any:
        if "project_status_at(" in sql:
            seen.append(sql)
        return original(con, sql, params)

    monkeypatch.setattr(connection, "fetch", counting)
    monkeypatch.setattr(store, "fetch", counting)
    return seen


def test_a_run_opens_the_database_once_and_leaves_it_closed(open_page: Callable[..., AppTest], app_db: Path,
                                                            opens: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui, "HOLD_S", 3600.0)  # no computation counts as long, however loaded the machine
    at = open_page("app_pages/overview.py")  # a first visit: a dozen cached results, one open
    assert opens == [True]
    for page in ("app_pages/projects.py", "app_pages/targets.py", "app_pages/leaders.py"):
        opens.clear()
        at.switch_page(page).run()
        no_exception(at)
        assert opens == [True], page
        opens.clear()
        at.run()  # a rerun on unchanged files: the revision is kept, every figure cached, nothing opened
        assert opens == [], page
    # nothing stays open between runs: a writer in this process gets the file at once (no retry loop)
    with store.connect(app_db, timeout=0.5) as con:
        con.execute("select 1").fetchall()


def test_a_long_computation_lets_the_file_go_until_the_next_one(open_page: Callable[..., AppTest], app_db: Path,
                                                                 opens: list[bool],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui, "HOLD_S", 0.0)  # every computation counts as long
    at = open_page("app_pages/overview.py")
    no_exception(at)
    assert len(opens) > 2  # opened again for each cached result after the first
    opens.clear()
    at.run()  # all cached and the files unchanged: nothing is opened
    assert opens == []


def test_overview_targets_and_leaders_share_one_pass_over_the_projects(open_page: Callable[..., AppTest],
                                                                       frames: list[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    payloads: list[Any] = []
    original = targets.check_payload

    def counting(*args: Any, **kwargs: Any) -> Any:
        payloads.append(kwargs.get("as_of"))
        return original(*args, **kwargs)

    monkeypatch.setattr(targets, "check_payload", counting)
    at = open_page("app_pages/overview.py")
    for page in ("app_pages/targets.py", "app_pages/leaders.py", "app_pages/overview.py"):
        at.switch_page(page).run()
        no_exception(at)
    assert len(payloads) == 1  # one check payload (one pass over the projects) for the month the pages show
    # no page reads every project's whole row: the lagging list and a leader's projects read their own rows
    assert not [sql for sql in frames if sql.startswith("select * from project_status_at(?) order by project_id")]
    assert any("where is_lagging" in sql for sql in frames)
    assert any("leader is not distinct from" in sql for sql in frames)


def test_a_chart_is_built_once_per_data_revision(open_page: Callable[..., AppTest], app_db: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    original = charts.s_curve

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs.get("lang", "zh"))
        return original(*args, **kwargs)

    monkeypatch.setattr(charts, "s_curve", counting)
    at = open_page("app_pages/overview.py")
    assert built == ["zh"]
    at.run()
    at.run()
    assert built == ["zh"]  # reruns send the kept spec
    drawn = [c.proto for c in at.get("vega_lite_chart")]
    assert drawn and all('"autosize"' in c.spec for c in drawn)  # drawn at their natural size
    with store.connect(app_db) as con:  # a change anywhere makes a new revision
        edits.update_project(con, "CC2016-0001", {"note": "新的修订"}, expected_version=1, user=access.LOCAL_USER)
    at.run()
    no_exception(at)
    assert built == ["zh", "zh"]


def test_a_long_table_sends_only_its_first_rows_and_says_so(open_page: Callable[..., AppTest],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ui, "TABLE_ROWS", 5)
    at = open_page("app_pages/targets.py")
    header = i18n.t("col.project_id", "zh")
    lagging = next(d.value for d in at.dataframe if header in d.value.columns)
    assert lagging.shape[0] == 5
    shown = next(c.value for c in at.caption if "个滞后项目" in c.value)
    total = int(shown.split("/")[1].split("个")[0].replace(",", "").strip())
    assert total > 5
    assert i18n.t("ui.capped", "zh", n="5", total=f"{total:,}") in page_text(at)


def test_the_rules_banner_follows_the_files_and_the_rules_not_every_save(
        open_page: Callable[..., AppTest], app_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The "targets.toml differs from the rules in force" warning: shown once the file changes, kept
    across a save of project data, gone once the database's targets match the file again."""
    import shutil

    from portfolio import config, store

    data = tmp_path / "data"
    shutil.copytree(config.data_dir(), data, ignore=shutil.ignore_patterns("*.duckdb*"))
    monkeypatch.setenv("PORTFOLIO_DATA_DIR", str(data))
    at = open_page("app_pages/overview.py")
    assert not any("targets.toml" in str(w.value) for w in at.warning)
    toml = data / "targets.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("value_wan = 23520000", "value_wan = 23530000", 1),
                    encoding="utf-8")
    at.run()
    no_exception(at)
    assert any("targets.toml" in str(w.value) for w in at.warning)
    with store.connect(app_db) as con:  # a save elsewhere: a new data revision, the same rules
        con.execute("update projects set note = 'x' where project_id = 'CC2016-0001'")
        store.bump_revision(con)
    at.run()
    assert any("targets.toml" in str(w.value) for w in at.warning)
    with store.connect(app_db) as con:  # the database's target as the file says
        con.execute("update targets set value_wan = 23530000 where year = 2016 and metric = 'industrial_investment'"
                    " and scope = 'city'")
        store.bump_revision(con)
    at.run()
    no_exception(at)
    assert not any("targets.toml" in str(w.value) for w in at.warning)


def test_a_rerun_on_unchanged_files_opens_no_connection_and_a_write_elsewhere_is_seen(
        open_page: Callable[..., AppTest], app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The revision is kept while the database file and its log are unchanged: a rerun with every
    figure cached opens nothing; a write by another process (here: another connection) changes the
    files, and the next run reads the new revision and shows the new data."""
    at = open_page("app_pages/projects.py")
    at.run()
    opened: list[str] = []
    real = connection.open_connection

    def counting(*args: object, **kwargs: object) -> object:
        opened.append(str(args[0]) if args else "")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ui.store, "open_connection", counting)
    at.run()
    no_exception(at)
    assert opened == []
    monkeypatch.setattr(ui.store, "open_connection", real)
    with store.connect(app_db) as con:
        con.execute("update projects set name = '外部改名' where project_id = 'CC2016-0001'")
        store.bump_revision(con)
    monkeypatch.setattr(ui.store, "open_connection", counting)
    at.run()
    no_exception(at)
    assert opened, "the changed files were not noticed"
    assert "外部改名" in page_text(at) or any("外部改名" in str(s.options) for s in at.selectbox)


def test_the_objects_alive_after_the_first_run_leave_the_cycle_collector(open_page: Callable[..., AppTest]) -> None:
    """ui.freeze_once: after a run, what the imports made is frozen (a full collection no longer
    walks it inside a later page's run), once per process, garbage collected first."""
    import gc

    open_page("app_pages/overview.py")
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # Streamlit's, Altair's, polars' objects (hundreds of thousands here)
    assert ui._FROZEN.is_set()
    open_page("app_pages/targets.py")
    assert gc.get_freeze_count() <= frozen  # once per process (frozen objects still die by reference count)


@pytest.fixture
def gaps_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads ``chains.gaps`` runs on (recorded, then computed as usual)."""
    import threading

    from portfolio import chains

    ran_on: list[str] = []
    original = chains.gaps

    def recording(*args: Any, **kwargs: Any) -> Any:
        ran_on.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(chains, "gaps", recording)
    return ran_on


def test_the_overviews_gap_analysis_runs_beside_the_payload_and_is_kept(open_page: Callable[..., AppTest],
                                                                        app_db: Path, gaps_threads: list[str]) -> None:
    """ui.beside: on a first visit the gap analysis runs on a thread of its own (no Streamlit call
    there), its result lands in the cache the page reads; a rerun starts no thread and computes
    nothing; the run's connection is closed when the run ends."""
    at = open_page("app_pages/overview.py")
    no_exception(at)
    assert len(gaps_threads) == 1 and gaps_threads[0].startswith("beside ")
    with store.connect(app_db, read_only=True) as con:
        top = chains.gaps(con, year=2016).filter("open").sort("score", descending=True)["node"].head(5).to_list()
    text = page_text(at)
    assert top and all(name in text for name in top)  # the page shows what the library computes
    at.run()
    no_exception(at)
    assert len(gaps_threads) == 2  # kept: nothing computed, no thread started (one call: the check above)
    with store.connect(app_db, timeout=0.5) as con:  # nothing left open
        con.execute("select 1").fetchall()


def test_a_failure_beside_the_page_is_shown_as_on_the_page(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the function on a :func:`ui.beside` thread raises is raised where the page asks for it."""
    from portfolio import chains

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("缺口分析失败（测试）")

    monkeypatch.setattr(chains, "gaps", failing)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)  # the overview is the first page
    at.session_state["ui_lang"] = "zh"
    at.run()
    assert any("缺口分析失败（测试）" in str(e.value) for e in at.exception)
    with store.connect(app_db, timeout=0.5) as con:  # the thread ended and the connection is closed
        con.execute("select 1").fetchall()


def test_a_large_library_computes_beside_figures_on_the_pages_thread(open_page: Callable[..., AppTest],
                                                                     gaps_threads: list[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """From ui.BESIDE_BELOW projects the scans use both cores already: no thread is started."""
    monkeypatch.setattr(ui, "BESIDE_BELOW", 1_000)  # the sample's 1,004 projects count as large
    at = open_page("app_pages/overview.py")
    no_exception(at)
    assert len(gaps_threads) == 1 and not gaps_threads[0].startswith("beside ")
