"""Local mode in the app (AppTest): only this machine is served, read-only mode, broken sign-in.

AppTest has no browser connection, so each test fakes one by replacing ``ui.client_request``,
the one function the gate reads the client's address and headers through.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import ui
from portfolio import access, i18n, local_mode, store
from tests.app.conftest import ROOT, no_exception, open_tab, page_text

GOOD_AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789abcdef",
    "client_id": "portfolio",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def _fake_client(monkeypatch: pytest.MonkeyPatch, address: str | None,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
    monkeypatch.setattr(ui, "client_request", lambda: local_mode.Client(address=address, headers=headers))


def _run(*, lang: str = "zh", secrets: dict | None = None, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["ui_lang"] = lang
    if secrets is not None:
        at.secrets["auth"] = secrets
    if user is not None:
        at.user = user
    at.run()
    no_exception(at)
    return at


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_refused(at: AppTest, reason: str) -> None:
    """The local-only page and nothing else: no figures, no tables, no buttons, no other page."""
    text = page_text(at)
    assert at.title[0].value == "仅限本机使用"
    assert "本机模式" in text and "docs/access.md" in text and "--read-only" in text
    assert "原因：" + i18n.t(f"local.reason.{reason}") in text
    assert len(at.metric) == 0 and len(at.dataframe) == 0 and len(at.table) == 0
    assert [b.label for b in at.button] == []
    assert "示例数据" not in text and "亿元" not in text
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/projects.py")


def test_a_request_from_another_computer_gets_the_local_only_page_and_no_data(
        app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _checksum(app_db)
    _fake_client(monkeypatch, "192.0.2.7")
    at = _run()
    _assert_refused(at, "remote")
    assert _checksum(app_db) == before  # the database was not even opened for writing


@pytest.mark.parametrize("header", [
    ("x-forwarded-for", "203.0.113.5"),
    ("x-forwarded-for", "203.0.113.5, 127.0.0.1"),
    ("x-real-ip", "203.0.113.5"),
    ("forwarded", 'for="[2001:db8::17]:4711";proto=https'),
    ("x-forwarded-for", "127.0.0.1"),  # a proxy on this machine passes on someone: refused too
])
def test_a_proxied_request_from_loopback_is_refused(app_db: Path, monkeypatch: pytest.MonkeyPatch,
                                                    header: tuple[str, str]) -> None:
    _fake_client(monkeypatch, "127.0.0.1", (("host", "127.0.0.1:8501"), header))
    _assert_refused(_run(), "proxy")


def test_an_unknown_client_address_is_refused(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_client(monkeypatch, None)
    _assert_refused(_run(), "unknown")


def test_a_page_opened_under_a_foreign_name_is_refused(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_client(monkeypatch, "127.0.0.1", (("origin", "https://portfolio.gxj.example.gov.cn"),))
    _assert_refused(_run(), "origin")


def test_a_refused_request_creates_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nothing.duckdb"
    monkeypatch.setenv("PORTFOLIO_DB", str(missing))
    _fake_client(monkeypatch, "10.0.0.8")
    _assert_refused(_run(), "remote")
    assert list(tmp_path.iterdir()) == []


def test_the_local_only_page_speaks_english_after_the_switch(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_client(monkeypatch, "192.0.2.7")
    at = _run()
    at.segmented_control(key="ui_lang_switch").set_value("en").run()
    no_exception(at)
    text = page_text(at)
    assert at.title[0].value == "This computer only"
    assert "local mode" in text and "Reason: the request comes from another computer." in text
    assert "本机模式" not in text
    assert len(at.metric) == 0 and len(at.dataframe) == 0


def test_a_browser_on_this_machine_gets_the_app_as_before(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_client(monkeypatch, "127.0.0.1", (("host", "localhost:8501"), ("origin", "http://localhost:8501")))
    at = _run()
    assert "仅限本机使用" not in page_text(at)
    assert len(at.metric) > 0
    assert "本机用户 · local · 管理员" in "\n".join(str(c.value) for c in at.sidebar.caption)


# ---------------------------------------------------------------- read-only
def test_read_only_serves_another_computer_as_a_viewer_who_cannot_save(
        app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local_mode.READ_ONLY_ENV, "1")
    _fake_client(monkeypatch, "192.0.2.7", (("x-forwarded-for", "192.0.2.7"),))
    before = _checksum(app_db)
    at = _run()
    assert "只读模式" in "\n".join(w.value for w in at.warning)
    assert "访客 · visitor · 只读" in "\n".join(str(c.value) for c in at.sidebar.caption)
    assert len(at.metric) > 0
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/admin.py")
    at.switch_page("app_pages/projects.py").run()
    at.session_state["pj_pick"] = "CC2016-0001"
    at.run()
    no_exception(at)
    assert at.button(key="pj_new_submit").disabled
    assert open_tab(at, "edit").button(key="pj_edit_submit").disabled
    assert open_tab(at, "entry").button(key="pj_entry_submit").disabled
    assert _checksum(app_db) == before


def test_read_only_makes_everyone_a_viewer_on_this_machine_too(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local_mode.READ_ONLY_ENV, "1")
    at = _run()
    assert at.session_state["ui_user"] == access.VISITOR
    assert "只读模式" in "\n".join(w.value for w in at.warning)


def test_read_only_caps_a_signed_in_administrator_to_viewer(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with store.connect(app_db) as con:
        access.save_user(con, access.SYSTEM_USER, user_id="wang@gxj.cn", role="admin", email="wang@gxj.cn")
    monkeypatch.setenv(local_mode.READ_ONLY_ENV, "1")
    at = _run(secrets=GOOD_AUTH, user={"is_logged_in": True, "email": "wang@gxj.cn", "sub": "w"})
    assert at.session_state["ui_user"].role == "viewer"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/admin.py")


def test_read_only_does_not_create_a_missing_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTFOLIO_DB", str(tmp_path / "nothing.duckdb"))
    monkeypatch.setenv(local_mode.READ_ONLY_ENV, "1")
    at = _run()
    assert "portfolio init" in "\n".join(e.value for e in at.error)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- a broken [auth] table
@pytest.mark.parametrize(("change", "expected"), [
    ({"client_id": None}, "缺少 `client_id`"),
    ({"client_secret": None}, "缺少 `client_secret`"),
    ({"server_metadata_url": None}, "缺少 `server_metadata_url`"),
    ({"cookie_secret": None}, "缺少 `cookie_secret`"),
    ({"redirect_uri": None}, "缺少 `redirect_uri`"),
    ({"cookie_secret": "short-secret"}, "`cookie_secret` 太短，至少需要 32 个字符"),
    ({"cookie_secret": local_mode.EXAMPLE_COOKIE_SECRET}, "仍是示例文件里的值"),
    ({"client_secret": "  "}, "`client_secret` 为空"),
    ({"server_metadata_url": "sso.example.gov.cn"}, "`server_metadata_url` 不是 http(s) 地址"),
])
def test_an_unusable_sign_in_section_stops_the_app_with_its_reason(
        app_db: Path, monkeypatch: pytest.MonkeyPatch, change: dict, expected: str) -> None:
    _fake_client(monkeypatch, "192.0.2.7")  # from elsewhere: it must not become local mode either
    section = {k: v for k, v in {**GOOD_AUTH, **change}.items() if v is not None}
    at = _run(secrets=section, user={"is_logged_in": False})
    text = page_text(at)
    assert at.title[0].value == "登录设置不可用"
    assert "不会退回本机模式" in "\n".join(e.value for e in at.error)
    assert expected in text
    assert [b.label for b in at.button] == []  # no sign-in button, no page
    assert len(at.metric) == 0 and "本机用户" not in text
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/projects.py")


def test_a_usable_sign_in_section_serves_another_computer_the_sign_in_page(
        app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_client(monkeypatch, "192.0.2.7", (("x-forwarded-for", "192.0.2.7"),))
    at = _run(secrets=GOOD_AUTH, user={"is_logged_in": False})
    assert [b.label for b in at.button] == ["登录"]
    assert "仅限本机使用" not in page_text(at)
