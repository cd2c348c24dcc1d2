"""AppTest harness: the app against a private copy of the sample database, page by page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import i18n

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def local_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest has no browser connection (its runtime is a mock): fake one on this machine.

    Without it local mode would refuse every AppTest run, as it refuses any request whose
    client cannot be shown to be local; tests/app/test_local_mode_app.py fakes other clients.
    """
    from app_pages import ui
    from portfolio import local_mode

    monkeypatch.setattr(ui, "client_request", lambda: local_mode.Client(address="127.0.0.1"))


@pytest.fixture
def app_db(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The database the app under test works on ($PORTFOLIO_DB points at a private copy)."""
    monkeypatch.setenv("PORTFOLIO_DB", str(sample_db))
    return sample_db


@pytest.fixture
def open_page(app_db: Path) -> Callable[..., AppTest]:
    """Run the app, switch to ``page`` (a path under app_pages/) and return the AppTest."""

    def _open(page: str, *, lang: str = "zh", timeout: float = 120) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
        at.session_state["ui_lang"] = lang
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if page != "app_pages/overview.py":
            at.switch_page(page)
            at.run()
        return at

    return _open


#: The 项目库 project's tabs (app_pages/projects.py): name → catalogue key of the label.
PROJECT_TABS = {"progress": "pj.tab.progress", "years": "pj.years", "problems": "pj.tab.problems",
                "history": "pj.tab.history", "edit": "pj.tab.edit", "entry": "pj.tab.entry"}


def open_tab(at: AppTest, tab: str, *, lang: str = "zh") -> AppTest:
    """Open a tab of the 项目库 project as a click on it does (only the open tab is drawn) and run."""
    at.session_state[f"pj_tab_{lang}"] = i18n.t(PROJECT_TABS[tab], lang)
    at.run()
    no_exception(at)
    return at


def no_exception(at: AppTest) -> None:
    """Fail with the messages of any exception the page showed."""
    assert not at.exception, [e.value for e in at.exception]


def page_text(at: AppTest) -> str:
    """All the text the page shows: titles, markdown, metrics, captions, alerts."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success",
                 "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)
