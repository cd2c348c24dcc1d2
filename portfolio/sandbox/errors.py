"""The sandbox's refusals: one sentence per reason (Chinese first, English in brackets)."""

from __future__ import annotations

from typing import Any

from .limits import MEMORY_LIMIT

_ALLOWED_HINT = "只允许查询：SELECT、WITH、FROM、VALUES、DESCRIBE、SHOW、SUMMARIZE、PIVOT、EXPLAIN 和只读的 PRAGMA"

#: One sentence per refusal reason (Chinese first, English in brackets).
MESSAGES: dict[str, str] = {
    "empty": "没有可执行的 SQL 语句（empty query）。",
    "multiple_statements": "一次只能执行一条语句，这里有 {n} 条；请分开执行（one statement at a time）。",
    "ddl": "SQL 控制台只读，不能建立、删除或修改表、视图等数据库对象（{kw}；read-only console）。",
    "dml": "SQL 控制台只读，不能插入、修改或删除数据（{kw}）；修改数据请使用应用或导入功能（read-only console）。",
    "copy": "SQL 控制台不能用 COPY 读写文件；导出查询结果请用 --format csv 或 json 重定向到文件（COPY refused）。",
    "export": "SQL 控制台不能导出或导入整个数据库（{kw}）；做法见 docs/sql.md（EXPORT/IMPORT refused）。",
    "attach": "SQL 控制台不能附加或分离其他数据库（{kw}；ATTACH/DETACH refused）。",
    "extension": "SQL 控制台不能安装或加载扩展（{kw}；INSTALL/LOAD refused）。",
    "setting": "SQL 控制台不能修改设置（{kw}；SET/RESET/PRAGMA refused）。",
    "call": "SQL 控制台不能使用 CALL；请改写为 select * from 函数名(...)（CALL refused）。",
    "checkpoint": "SQL 控制台不能执行 CHECKPOINT（CHECKPOINT refused）。",
    "maintenance": "SQL 控制台不能执行 VACUUM、ANALYZE 等维护语句（{kw}；maintenance refused）。",
    "transaction": "每条查询自动在只读事务中执行，不能使用 BEGIN、COMMIT、ROLLBACK（transactions refused）。",
    "prepare": "SQL 控制台不能使用 PREPARE、EXECUTE；请直接写出查询（PREPARE refused）。",
    "file_access": "SQL 控制台不能读取或列出文件（{what}）；请查询数据库中的表和视图（file access refused）。",
    "not_allowed": _ALLOWED_HINT + "；{kw} 不被允许（not a query）。",
    "bad_option": "{what}",
    "bad_file": "{what}",
    "syntax": "SQL 语法错误：{detail}",
    "sql_error": "SQL 执行出错：{detail}",
    "out_of_memory": "查询所需内存超过控制台上限 " + MEMORY_LIMIT + "，请缩小范围或增加筛选条件（out of memory）。",
    "timeout": "查询超过 {timeout:g} 秒未完成，已中止；请缩小范围、增加筛选条件或加大 --timeout（query timed out）。",
}


class QueryRefused(ValueError):
    """The console refused to run the statement, or it failed; ``reason`` says why."""

    def __init__(self, reason: str, **details: Any) -> None:
        self.reason = reason
        self.details = details
        super().__init__(MESSAGES[reason].format(**details))


class QueryTimeout(QueryRefused):
    """The query ran longer than its timeout and was interrupted."""


class QueryError(QueryRefused):
    """The statement was allowed but the engine rejected it (syntax, unknown column, memory)."""
