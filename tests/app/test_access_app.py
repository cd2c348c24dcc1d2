"""Sign-in in the app (AppTest with a mocked st.user): who sees what, who may change what."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from portfolio import access, store
from tests.app.conftest import ROOT, no_exception, open_tab, page_text

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789abcdef",
    "client_id": "portfolio",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def _app(user: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = user
    at.run()
    return at


@pytest.fixture
def registered(app_db: Path) -> Path:
    with store.connect(app_db) as con:
        access.save_user(con, access.SYSTEM_USER, user_id="li@qk.cn", role="unit", unit_id="QK",
                         name="李四", email="li@qk.cn")
        access.save_user(con, access.SYSTEM_USER, user_id="viewer@gxj.cn", role="viewer",
                         email="viewer@gxj.cn")
    return app_db


def test_without_sign_in_only_the_sign_in_page_shows(registered: Path) -> None:
    at = _app({"is_logged_in": False})
    no_exception(at)
    assert [b.label for b in at.button] == ["登录"]
    assert "统一身份认证" in page_text(at)
    assert "示例数据" not in page_text(at)  # nothing of the pipeline is shown


def test_an_unregistered_user_is_asked_to_see_an_administrator(registered: Path) -> None:
    at = _app({"is_logged_in": True, "email": "stranger@x.cn", "sub": "stranger"})
    no_exception(at)
    assert "尚未开通" in page_text(at)
    assert "stranger@x.cn" in page_text(at)


def test_a_unit_user_sees_the_pipeline_but_not_the_admin_page(registered: Path) -> None:
    at = _app({"is_logged_in": True, "email": "li@qk.cn", "sub": "li"})
    no_exception(at)
    assert "李四 · li@qk.cn" in "\n".join(str(c.value) for c in at.sidebar.caption)
    with pytest.raises(Exception):  # noqa: B017 - AppTest raises when the page is not in the navigation
        at.switch_page("app_pages/admin.py").run()


def _open_project(at: AppTest, project_id: str) -> AppTest:
    at.switch_page("app_pages/projects.py").run()
    no_exception(at)
    at.session_state["pj_pick"] = project_id
    at.run()
    no_exception(at)
    return open_tab(at, "edit")  # the project's edit form


def _unit_of(db: Path, project_id: str) -> str:
    with store.connect(db, read_only=True) as con:
        return str(con.execute("select unit_id from projects where project_id = ?", [project_id]).fetchall()[0][0])


def test_a_unit_user_cannot_save_another_units_project_but_can_save_their_own(registered: Path) -> None:
    assert _unit_of(registered, "CC2016-0001") == "QK"
    assert _unit_of(registered, "CC2016-0005") != "QK"
    at = _app({"is_logged_in": True, "email": "li@qk.cn", "sub": "li"})
    _open_project(at, "CC2016-0005")
    assert at.button(key="pj_edit_submit").disabled
    assert "无权" in page_text(at) or "本单位" in page_text(at)
    _open_project(at, "CC2016-0001")
    assert not at.button(key="pj_edit_submit").disabled


def test_a_viewer_cannot_save_anything(registered: Path) -> None:
    at = _app({"is_logged_in": True, "email": "viewer@gxj.cn", "sub": "v"})
    _open_project(at, "CC2016-0001")
    assert at.button(key="pj_edit_submit").disabled
