"""Roles and unit scope, enforced in the library for every action."""

from __future__ import annotations

import duckdb
import pytest

from portfolio import access

ADMIN = access.User("a@gxj.cn", "admin")
BUREAU = access.User("b@gxj.cn", "bureau")
UNIT_QK = access.User("q@qk.cn", "unit", unit_id="QK")
VIEWER = access.User("v@gxj.cn", "viewer")

EXPECTED = {
    # action: (admin, bureau, unit on own unit, unit on other unit, viewer)
    "view": (True, True, True, True, True),
    "edit_project": (True, True, True, False, False),
    "create_project": (True, True, True, False, False),
    "enter_progress": (True, True, True, False, False),
    "import": (True, True, True, False, False),
    "run_report": (True, True, True, True, True),
    "read_audit": (True, False, False, False, False),
    "undo": (True, True, False, False, False),
    "save_scenario": (True, True, False, False, False),
    "manage_users": (True, False, False, False, False),
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_every_role_may_do_exactly_what_its_row_allows(action: str) -> None:
    got = (
        access.can(ADMIN, action, unit_id="JK"),
        access.can(BUREAU, action, unit_id="JK"),
        access.can(UNIT_QK, action, unit_id="QK"),
        access.can(UNIT_QK, action, unit_id="JK"),
        access.can(VIEWER, action, unit_id="JK"),
    )
    assert got == EXPECTED[action]


def test_the_matrix_covers_every_action() -> None:
    assert set(EXPECTED) == set(access.ACTIONS)


def test_nobody_signed_in_may_do_nothing() -> None:
    assert not any(access.can(None, action) for action in access.ACTIONS)
    with pytest.raises(access.PermissionDenied, match="未登录"):
        access.require(None, "view")


def test_a_unit_user_is_told_which_unit_they_may_not_change() -> None:
    with pytest.raises(access.PermissionDenied, match="QK.*JK"):
        access.require(UNIT_QK, "edit_project", unit_id="JK")
    assert UNIT_QK.allowed_units == {"QK"}
    assert BUREAU.allowed_units is None


def test_admin_registers_users_and_the_change_is_audited(con: duckdb.DuckDBPyConnection) -> None:
    access.save_user(con, ADMIN, user_id="q@qk.cn", role="unit", unit_id="QK", email="q@qk.cn", name="李四")
    found = access.find_user(con, email="Q@QK.CN")
    assert found == access.User("q@qk.cn", "unit", unit_id="QK", name="李四", email="q@qk.cn")
    log = access.read_audit(con, ADMIN, table="users")
    assert log.select("actor", "action", "record_id").rows() == [("a@gxj.cn", "insert", "q@qk.cn")]


def test_only_an_admin_manages_users(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(access.PermissionDenied):
        access.save_user(con, BUREAU, user_id="x", role="admin")
    with pytest.raises(access.PermissionDenied):
        access.read_audit(con, UNIT_QK)


def test_a_unit_role_needs_a_known_unit(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="责任单位"):
        access.save_user(con, ADMIN, user_id="x", role="unit", unit_id="NOPE")
    with pytest.raises(ValueError, match="角色"):
        access.save_user(con, ADMIN, user_id="x", role="superuser")


def test_inactive_and_unknown_users_are_not_found(con: duckdb.DuckDBPyConnection) -> None:
    access.save_user(con, ADMIN, user_id="old@gxj.cn", role="bureau", active=False)
    assert access.find_user(con, email="old@gxj.cn") is None
    assert access.find_user(con, subject="nobody") is None
    assert access.find_user(con) is None
