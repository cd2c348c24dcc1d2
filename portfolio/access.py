"""Who may see and change what: users, roles and unit scope, enforced in the library.

Roles (kept in the ``users`` table):
- ``admin``: users and roles, everything;
- ``bureau``: edit every project, undo an import or edit batch;
- ``unit``: edit only the projects of their own unit, see all;
- ``viewer``: read only (may run what-if scenarios, not save them).

Every write function of the library takes the acting :class:`User` and calls :func:`require`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import polars as pl

from . import store

ROLES = ("admin", "bureau", "unit", "viewer")
ROLE_LABELS = {"admin": "管理员", "bureau": "局机关", "unit": "责任单位", "viewer": "只读"}

#: Actions and the roles that may perform them (unit scope is checked separately).
_ALLOWED: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "edit_project": frozenset({"admin", "bureau", "unit"}),
    "create_project": frozenset({"admin", "bureau", "unit"}),
    "enter_progress": frozenset({"admin", "bureau", "unit"}),
    "import": frozenset({"admin", "bureau", "unit"}),
    "run_report": frozenset({"admin", "bureau", "unit", "viewer"}),
    "read_audit": frozenset({"admin"}),
    "undo": frozenset({"admin", "bureau"}),
    # 情景推演: everyone may run a scenario; saving one (a shared, named record) is the bureau's
    "save_scenario": frozenset({"admin", "bureau"}),
    "manage_users": frozenset({"admin"}),
}
ACTIONS = tuple(_ALLOWED)
_UNIT_SCOPED = frozenset({"edit_project", "create_project", "enter_progress", "import"})


class PermissionDenied(PermissionError):
    """The acting user's role does not allow the action."""


@dataclass(frozen=True)
class User:
    """An acting user: the identity provider's e-mail or subject, a role and a unit for `unit`."""

    user_id: str
    role: str
    unit_id: str | None = None
    name: str | None = None
    email: str | None = None

    @property
    def label(self) -> str:
        """What the audit log and the app show: the name with the id, or the id."""
        return f"{self.name}<{self.user_id}>" if self.name and self.name != self.user_id else self.user_id

    @property
    def allowed_units(self) -> set[str] | None:
        """Units whose rows the user may write; None means every unit."""
        return {self.unit_id} if self.role == "unit" and self.unit_id else None


#: The single person working on their own machine without an identity provider.
LOCAL_USER = User(user_id="local", role="admin", name="本机用户")
#: Scheduled jobs and the command line without ``--user``.
SYSTEM_USER = User(user_id="system", role="admin", name="系统")
#: Whoever opens the app served read-only without sign-in (``portfolio serve --read-only``).
VISITOR = User(user_id="visitor", role="viewer", name="访客")


def as_viewer(user: User) -> User:
    """The same person with the viewer role: what read-only mode makes of every user."""
    return replace(user, role="viewer", unit_id=None)


def can(user: User | None, action: str, *, unit_id: str | None = None) -> bool:
    """True when ``user`` may perform ``action`` (on a row of ``unit_id`` when given)."""
    if action not in _ALLOWED:
        raise ValueError(f"未知操作 {action!r}")
    if user is None or user.role not in _ALLOWED[action]:
        return False
    if user.role == "unit" and action in _UNIT_SCOPED and unit_id is not None:
        return unit_id == user.unit_id
    return True


def require(user: User | None, action: str, *, unit_id: str | None = None) -> User:
    """Return ``user`` if allowed, else raise :class:`PermissionDenied` with a clear sentence."""
    if can(user, action, unit_id=unit_id):
        assert user is not None
        return user
    if user is None:
        raise PermissionDenied("未登录或账号未登记，请联系管理员开通权限。")
    if user.role == "unit" and unit_id is not None and action in _UNIT_SCOPED:
        raise PermissionDenied(
            f"用户 {user.user_id}（责任单位 {user.unit_id}）无权修改其他单位（{unit_id}）的项目。"
        )
    raise PermissionDenied(f"用户 {user.user_id} 的角色“{ROLE_LABELS.get(user.role, user.role)}”无权执行此操作（{action}）。")


def find_user(con: duckdb.DuckDBPyConnection, *, email: str | None = None,
              subject: str | None = None) -> User | None:
    """The active user matched by the identity provider's e-mail or subject, or None."""
    keys = [k.strip().lower() for k in (email, subject) if k and k.strip()]
    if not keys:
        return None
    rows = con.execute(
        "select user_id, role, unit_id, name, email from users"
        " where active and (lower(user_id) in (select unnest(?::varchar[]))"
        "  or lower(email) in (select unnest(?::varchar[])))"
        " order by user_id limit 1",
        [keys, keys],
    ).fetchall()
    if not rows:
        return None
    user_id, role, unit_id, name, mail = rows[0]
    return User(user_id=user_id, role=role, unit_id=unit_id, name=name, email=mail)


def list_users(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every user with role and unit."""
    return store.fetch(con, "select user_id, email, name, role, unit_id, active, created_at"
                            " from users order by role, user_id")


def save_user(con: duckdb.DuckDBPyConnection, acting: User, *, user_id: str, role: str,
              unit_id: str | None = None, name: str | None = None, email: str | None = None,
              active: bool = True) -> None:
    """Create or change a user (admin only); the change is audited."""
    require(acting, "manage_users")
    user_id = user_id.strip()
    if not user_id:
        raise ValueError("用户标识不能为空。")
    if role not in ROLES:
        raise ValueError(f"角色 {role!r} 无效；可选 {', '.join(ROLES)}。")
    if role == "unit":
        known = con.execute("select count(*) from units where unit_id = ?", [unit_id]).fetchall()[0][0]
        if not unit_id or not known:
            raise ValueError("责任单位角色必须指定一个已有的责任单位。")
    else:
        unit_id = None
    old = store.fetch(con, "select user_id, email, name, role, unit_id, active from users where user_id = ?",
                      [user_id]).to_dicts()
    new = {"user_id": user_id, "email": email, "name": name, "role": role, "unit_id": unit_id,
           "active": active}
    with store.transaction(con):
        con.execute(
            "insert into users (user_id, email, name, role, unit_id, active) values (?, ?, ?, ?, ?, ?)"
            " on conflict (user_id) do update set email = excluded.email, name = excluded.name,"
            " role = excluded.role, unit_id = excluded.unit_id, active = excluded.active",
            [user_id, email, name, role, unit_id, active],
        )
        batch = store.new_batch(con)
        store.audit(con, actor=acting.label, action="update" if old else "insert", table="users",
                    record_id=user_id, old=old[0] if old else None, new=new, source="access", batch_id=batch)
        store.record_batch(con, batch, actor=acting.label, kind="edit", source="form:user", table="users",
                           counts={"updated" if old else "inserted": 1})
        store.bump_revision(con)


def read_audit(con: duckdb.DuckDBPyConnection, acting: User, *, table: str | None = None,
               record_id: str | None = None, limit: int = 1000) -> pl.DataFrame:
    """The audit log, newest first (admin only)."""
    require(acting, "read_audit")
    return store.fetch(
        con,
        "select audit_id, \"at\", actor, action, table_name, record_id, old_values, new_values, source"
        " from audit_log where ($table::varchar is null or table_name = $table)"
        " and ($rid::varchar is null or record_id = $rid) order by audit_id desc limit $lim",
        {"table": table, "rid": record_id, "lim": limit},
    )
