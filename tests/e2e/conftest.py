"""Browser tests: the app served by `streamlit run`, driven by Playwright in Debian's Chromium.

Nothing is downloaded: Playwright drives /usr/bin/chromium through ``executable_path``. The
tests skip with a reason when Chromium is missing, unless PORTFOLIO_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PORTFOLIO_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "tests" / "e2e" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
    "--disable-dev-shm-usage",
]


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        try:
            import playwright  # noqa: F401
        except ImportError:
            if os.environ.get("PORTFOLIO_REQUIRE_BROWSER") == "1":
                pytest.fail("PORTFOLIO_REQUIRE_BROWSER=1 but the playwright package is not installed")
            pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
        return
    if os.environ.get("PORTFOLIO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PORTFOLIO_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk to run browser tests")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def start_app(db: Path, *, port: int, secrets_dir: Path | None = None,
              extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `streamlit run app.py` on ``port`` against ``db``; the caller stops it."""
    env = dict(os.environ, PORTFOLIO_DB=str(db), PYTHONUNBUFFERED="1")
    env.update(extra_env or {})
    cwd = ROOT
    if secrets_dir is not None:
        # Streamlit reads .streamlit/secrets.toml from the working directory: run from a copy
        # of the app whose .streamlit folder carries the test provider's settings.
        cwd = secrets_dir
    log = open(db.with_suffix(".log"), "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
    )


@contextmanager
def served(db: Path, **kwargs: Any) -> Iterator[str]:
    """The app served against ``db`` on a free port (its URL), stopped when the block ends."""
    port = free_port()
    proc = start_app(db, port=port, **kwargs)
    try:
        wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=90)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def e2e_db(tmp_path_factory: pytest.TempPathFactory, sample_db_template: Path) -> Path:
    """A private copy of the sample database for the served app."""
    path = tmp_path_factory.mktemp("e2e") / "portfolio.duckdb"
    shutil.copy(sample_db_template, path)
    return path


@pytest.fixture(scope="session")
def app_url(browser: Any, e2e_db: Path) -> Iterator[str]:
    """The app served on a free port in local mode; stopped after the session."""
    with served(e2e_db) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page at 1280×800."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def wait_idle(pg: Any, timeout: float = 90_000) -> None:
    """Wait until Streamlit has drawn the page and finished running the script.

    The script is done when the running indicator has stayed away for a second; the page is
    drawn when it shows a title or the sign-in button.
    """
    pg.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    deadline = time.monotonic() + timeout / 1000
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        drawn = pg.locator("h1").count() + pg.locator('[data-testid="stSidebarNavLink"]').count()
        busy = (pg.locator('[data-testid="stStatusWidget"]').count()
                + pg.locator('[data-testid="stSkeleton"]').count() + (0 if drawn else 1))
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= 1.0:
            return
        time.sleep(0.2)
    raise TimeoutError("the app kept running")


def screenshot(pg: Any, name: str) -> Path:
    """Save a full-page screenshot under tests/e2e/screenshots/ and return its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
