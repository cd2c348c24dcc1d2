"""用户与日志 → 用户与角色: the users read in Chinese, and saving a user confirms (toast and message)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from portfolio import access, i18n, store
from tests.app.conftest import no_exception

PAGE = "app_pages/admin.py"


def users_table(at: AppTest) -> list[str]:
    for frame in at.dataframe:
        if i18n.t("admin.col.user_id", "zh") in frame.value.columns:
            return list(frame.value.columns)
    raise AssertionError("no users table")


def test_the_users_read_in_chinese(open_page: Callable[..., AppTest]) -> None:
    at = open_page(PAGE)
    no_exception(at)
    columns = users_table(at)
    assert columns == ["用户标识", "姓名", "电子邮箱", "角色", "责任单位", "启用", "登记时间"]
    frame = next(f.value for f in at.dataframe if "用户标识" in f.value.columns)
    assert set(frame["角色"]) <= set(access.ROLE_LABELS.values())
    assert set(frame["启用"]) <= {"是", "否"}


def test_saving_a_user_confirms_with_a_toast_and_a_message(open_page: Callable[..., AppTest], app_db: Path) -> None:
    at = open_page(PAGE)
    field = {t.label: t for t in at.text_input}
    field[i18n.t("admin.user_id", "zh")].set_value("new.viewer@gxj.cn")
    field[i18n.t("admin.name", "zh")].set_value("新同事")
    form_submit = next(b for b in at.button if b.label == i18n.t("admin.save", "zh"))
    form_submit.click().run()
    no_exception(at)
    said = i18n.t("admin.saved", "zh", who="new.viewer@gxj.cn")
    assert said in [t.value for t in at.toast]
    assert said in [s.value for s in at.success]
    with store.connect(app_db, read_only=True) as con:
        users = access.list_users(con)
    row = users.filter(users["user_id"] == "new.viewer@gxj.cn").row(0, named=True)
    assert row["role"] == "viewer" and row["name"] == "新同事"
    # the next run no longer repeats it
    at.run()
    assert said not in [s.value for s in at.success]
