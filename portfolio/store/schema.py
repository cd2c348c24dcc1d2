"""The schema: every table as one constant (:data:`SCHEMA`) with a Chinese comment on every column.

The data dictionary lives in the database (``duckdb_columns()``), generated from
:data:`COMMENTS`; ``docs/data-dictionary.md`` and its test are built from it.
:func:`create_schema` runs the DDL, the comments and the views (idempotent, so an upgrade can
run it again) and records :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from .. import config
from .meta import set_meta

#: The version of :data:`SCHEMA`. A database of an older version is upgraded in place the first
#: time it is opened (:func:`upgrade_schema`): SCHEMA runs again under the writer's lock, in one
#: transaction, so every statement in it must be idempotent (``create ... if not exists``,
#: ``alter table ... add column if not exists``). Bump it with every change to SCHEMA.
SCHEMA_VERSION = 17

_E = ", ".join


def _enum(values: Sequence[str]) -> str:
    return _E(f"'{v}'" for v in values)


#: The statistics bureau's monthly series (``actuals.metric``).
ACTUAL_METRICS = ("industrial_investment", "tech_upgrade_investment", "industrial_output")
#: Project columns a closed plan year keeps as they stood when it was closed (``plans``).
FROZEN_COLUMNS = ("name", "enterprise", "chain_id", "node_id", "unit_id", "nature", "status",
                  "total_investment_wan", "leader", "leader_level", "is_major", "chain_role",
                  "start_date", "end_date")

#: Keeps ``plans`` of the current plan year in step with ``projects`` (run by every write, in its
#: transaction, through ``bump_revision``): a new project joins the current year, a deleted one
#: leaves it, and the year's plan reads ``projects.annual_plan_wan`` (an empty plan, NULL, stays
#: empty while the project's plan is 0).
SYNC_PLANS = """
insert into plans (project_id, year, annual_plan_wan)
select p.project_id, y.year, p.annual_plan_wan
from projects p, (select value::integer as year from meta where key = 'plan_year') y
where not exists (select 1 from plans pl where pl.project_id = p.project_id);
update plans set annual_plan_wan = p.annual_plan_wan
from projects p, (select value::integer as year from meta where key = 'plan_year') y
where plans.project_id = p.project_id and plans.year = y.year and not plans.closed
  and plans.annual_plan_wan is distinct from p.annual_plan_wan
  and not (plans.annual_plan_wan is null and p.annual_plan_wan = 0);
delete from plans
where year = (select value::integer from meta where key = 'plan_year') and not closed
  and not exists (select 1 from projects p where p.project_id = plans.project_id);
"""

#: The whole schema, one constant (Datasette habit). Money is DECIMAL(18,2) 万元.
SCHEMA = f"""
create table if not exists meta (
    key varchar primary key,
    value varchar not null
);
create table if not exists units (
    unit_id varchar primary key,
    name varchar not null unique,
    short_name varchar not null,
    kind varchar not null check (kind in ({_enum(config.UNIT_KINDS)})),
    aliases varchar[]
);
create table if not exists chains (
    chain_id varchar primary key,
    name varchar not null unique,
    name_en varchar,
    is_assumption boolean not null default false,
    aliases varchar[]
);
create table if not exists chain_nodes (
    node_id varchar primary key,
    chain_id varchar not null,
    name varchar not null,
    name_en varchar,
    stage varchar not null check (stage in ({_enum(config.STAGES)})),
    weight decimal(6,3) not null check (weight > 0),
    emerging boolean not null default false
);
create table if not exists chain_edges (
    src_node_id varchar not null,
    dst_node_id varchar not null,
    weight decimal(6,3) not null default 1 check (weight > 0),
    primary key (src_node_id, dst_node_id),
    check (src_node_id <> dst_node_id)
);
create table if not exists targets (
    year integer not null check (year between 2000 and 2100),
    metric varchar not null,
    scope varchar not null default 'city',
    value_wan decimal(18,2) not null check (value_wan >= 0),
    growth_pct decimal(7,2),
    label varchar,
    is_optional boolean not null default false,
    primary key (year, metric, scope)
);
create table if not exists projects (
    project_id varchar primary key,
    name varchar not null,
    enterprise varchar,
    chain_id varchar,
    node_id varchar,
    unit_id varchar not null,
    park varchar,
    nature varchar not null check (nature in ({_enum(config.NATURES)})),
    status varchar not null check (status in ({_enum(config.STATUSES)})),
    total_investment_wan decimal(18,2) not null check (total_investment_wan >= 0),
    annual_plan_wan decimal(18,2) not null default 0 check (annual_plan_wan >= 0),
    start_date date,
    end_date date,
    leader varchar,
    leader_level varchar check (leader_level in ({_enum(config.LEADER_LEVELS)})),
    is_major boolean not null default false,
    chain_role varchar check (chain_role in ({_enum(config.CHAIN_ROLES)})),
    note varchar,
    is_sample boolean not null default false,
    version integer not null default 1 check (version >= 1),
    updated_at timestamp not null default current_timestamp,
    updated_by varchar not null default 'system',
    check (annual_plan_wan <= total_investment_wan),
    check (start_date is null or end_date is null or start_date <= end_date)
);
create table if not exists progress (
    project_id varchar not null,
    month date not null check (month = date_trunc('month', month)),
    completed_wan decimal(18,2) not null default 0 check (completed_wan >= 0),
    physical_pct decimal(5,2) check (physical_pct between 0 and 100),
    problems varchar,
    problem_level varchar check (problem_level in ({_enum(config.PROBLEM_LEVELS)})),
    updated_at timestamp not null default current_timestamp,
    updated_by varchar not null default 'system',
    primary key (project_id, month)
);
create table if not exists enterprises (
    enterprise_id varchar primary key,
    name varchar not null,
    unit_id varchar,
    node_id varchar,
    output_wan decimal(18,2) not null default 0 check (output_wan >= 0),
    is_key boolean not null default false,
    leader_level varchar check (leader_level in ({_enum(config.LEADER_LEVELS)})),
    is_sample boolean not null default false
);
create sequence if not exists audit_seq start 1;
create table if not exists audit_log (
    audit_id bigint primary key default nextval('audit_seq'),
    "at" timestamp not null default current_timestamp,
    actor varchar not null,
    action varchar not null,
    table_name varchar not null,
    record_id varchar,
    old_values json,
    new_values json,
    source varchar,
    batch_id bigint
);
alter table audit_log add column if not exists batch_id bigint;
create sequence if not exists batch_seq start 1;
create table if not exists batches (
    batch_id bigint primary key,
    "at" timestamp not null default current_timestamp,
    actor varchar not null,
    kind varchar not null check (kind in ('import', 'edit', 'undo', 'init')),
    source varchar,
    table_name varchar,
    inserted integer not null default 0,
    updated integer not null default 0,
    deleted integer not null default 0,
    unchanged integer not null default 0,
    rejected integer not null default 0,
    skipped integer not null default 0,
    undoes bigint,
    undone_by bigint
);
create table if not exists users (
    user_id varchar primary key,
    email varchar,
    name varchar,
    role varchar not null check (role in ('admin', 'bureau', 'unit', 'viewer')),
    unit_id varchar,
    active boolean not null default true,
    created_at timestamp not null default current_timestamp,
    check (role <> 'unit' or unit_id is not null)
);
create table if not exists seasonal_profile (
    month_no integer primary key check (month_no between 1 and 12),
    share double not null check (share >= 0),
    cumulative_share double not null
);
create table if not exists plan_years (
    year integer primary key check (year between 2000 and 2100),
    opened_at timestamp not null default current_timestamp,
    opened_by varchar not null default 'system',
    closed_at timestamp,
    closed_by varchar
);
create table if not exists plans (
    project_id varchar not null,
    year integer not null check (year between 2000 and 2100),
    annual_plan_wan decimal(18,2) check (annual_plan_wan is null or annual_plan_wan >= 0),
    closed boolean not null default false,
    name varchar,
    enterprise varchar,
    chain_id varchar,
    node_id varchar,
    unit_id varchar,
    nature varchar,
    status varchar,
    total_investment_wan decimal(18,2),
    leader varchar,
    leader_level varchar,
    is_major boolean,
    chain_role varchar,
    start_date date,
    end_date date,
    primary key (project_id, year)
);
create table if not exists actuals (
    month date not null check (month = date_trunc('month', month)),
    metric varchar not null check (metric in ({_enum(ACTUAL_METRICS)})),
    cumulative_wan decimal(18,2) not null check (cumulative_wan >= 0),
    yoy_pct decimal(7,2),
    updated_at timestamp not null default current_timestamp,
    updated_by varchar not null default 'system',
    primary key (month, metric)
);
create table if not exists tiers (
    tier varchar primary key,
    tier_en varchar,
    min_wan decimal(18,2) not null unique,
    plan_count integer,
    plan_cumulative_count integer
);
create table if not exists scenarios (
    name varchar primary key,
    body json not null,
    note varchar,
    saved_by varchar not null,
    saved_at timestamp not null default current_timestamp
);
"""

#: Chinese comments: the data dictionary lives in the database (duckdb_columns()).
COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "scenarios": ("保存的情景推演（只存变化，不改数据；portfolio whatif --scenario、情景推演页、月报附录）", {
        "name": "情景名称", "body": "情景内容（JSON：changes 列表，每项 kind/project_id/months/factor/row）",
        "note": "说明", "saved_by": "保存人", "saved_at": "保存时间"}),
    "meta": ("元数据：数据库结构版本、数据修订号、是否示例数据等", {
        "key": "键", "value": "值"}),
    "units": ("责任单位（14个：国家级开发区、主城区、县域）", {
        "unit_id": "单位编号", "name": "单位全称", "short_name": "常用简称（如 汽开区、经开区）",
        "kind": "单位类型：国家级开发区 / 主城区 / 县域", "aliases": "导入时可识别的别名"}),
    "chains": ("产业链（10条）", {
        "chain_id": "产业链编号", "name": "产业链名称", "name_en": "英文名称",
        "is_assumption": "是否为假设（原文未点名的产业链）", "aliases": "导入时可识别的别名"}),
    "chain_nodes": ("产业链环节（节点）", {
        "node_id": "环节编号", "chain_id": "所属产业链编号", "name": "环节名称",
        "name_en": "英文名称", "stage": "所处阶段：上游 / 中游 / 下游 / 配套服务",
        "weight": "环节权重（相对价值，1为一般）", "emerging": "是否新兴环节（增链判定用）"}),
    "chain_edges": ("产业链环节之间的供应关系（上游 → 下游，可跨链）", {
        "src_node_id": "供应方环节编号（上游）", "dst_node_id": "需求方环节编号（下游）",
        "weight": "连接权重"}),
    "targets": ("年度目标（万元）", {
        "year": "年度", "metric": "指标：industrial_investment 工业投资 / tech_upgrade_investment 技术改造投资 / industrial_output 规上工业产值",
        "scope": "范围：city 全市；unit:编号 单位；chain:编号 产业链；group:类型 单位组",
        "value_wan": "目标值（万元）", "growth_pct": "增长率（%）", "label": "指标中文名",
        "is_optional": "是否为参考指标（不参与投资目标检查）"}),
    "projects": ("项目库：总投资1000万元以上的工业项目", {
        "project_id": "项目编号", "name": "项目名称", "enterprise": "建设单位（企业）",
        "chain_id": "所属产业链编号", "node_id": "所属产业链环节编号", "unit_id": "责任单位编号",
        "park": "所在园区", "nature": "建设性质：新建 / 扩建 / 改建及技术改造",
        "status": "项目状态：谋划 / 前期 / 在建 / 竣工 / 达产达效",
        "total_investment_wan": "总投资（万元）", "annual_plan_wan": "年度计划投资（万元）",
        "start_date": "开工时间", "end_date": "竣工时间", "leader": "包保领导",
        "leader_level": "最高包保层级：市级 / 局级 / 处室 / 属地", "is_major": "是否重大产业化项目",
        "chain_role": "申报的链上作用：补链 / 增链 / 丰链", "note": "备注",
        "is_sample": "是否为示例数据", "version": "版本号（乐观锁，每次修改加1）",
        "updated_at": "最后修改时间", "updated_by": "最后修改人"}),
    "progress": ("月度进度：每个项目每月一行", {
        "project_id": "项目编号", "month": "月份（当月1日）", "completed_wan": "本月完成投资（万元）",
        "physical_pct": "形象进度（%）", "problems": "存在问题（需协调解决的困难）",
        "problem_level": "问题提交协调的层级：属地 / 处室 / 局级 / 市级",
        "updated_at": "最后修改时间", "updated_by": "最后修改人"}),
    "enterprises": ("产业链上的本地企业", {
        "enterprise_id": "企业编号", "name": "企业名称", "unit_id": "所在责任单位编号",
        "node_id": "所在产业链环节编号", "output_wan": "年产值（万元）",
        "is_key": "是否重点企业（亿元以上企业）", "leader_level": "包保层级",
        "is_sample": "是否为示例数据"}),
    "audit_log": ("修改日志：每一次修改的时间、人员、内容、修改前后的值", {
        "audit_id": "日志编号", "at": "时间", "actor": "操作人", "action": "操作：insert / update / delete / import / init",
        "table_name": "数据表", "record_id": "记录编号", "old_values": "修改前的值（JSON）",
        "new_values": "修改后的值（JSON）", "source": "来源：app / cli / import:文件名 / undo",
        "batch_id": "所属批次编号（batches；一次导入或一次表单保存为一个批次）"}),
    "batches": ("导入与修改批次：每次导入、表单保存、撤销各一行，可按批次撤销", {
        "batch_id": "批次编号", "at": "时间", "actor": "操作人",
        "kind": "类型：import 导入 / edit 表单修改 / undo 撤销 / init 建库",
        "source": "来源：导入的文件名，或表单（form:update_project 等）", "table_name": "数据表",
        "inserted": "新增行数", "updated": "更新行数", "deleted": "删除行数（撤销新增时）",
        "unchanged": "未变行数", "rejected": "拒收行数", "skipped": "跳过的合计/小计行数",
        "undoes": "本批次撤销的批次编号（撤销批次才有）", "undone_by": "撤销本批次的批次编号（已撤销时）"}),
    "users": ("用户与角色", {
        "user_id": "用户标识（身份提供方的 e-mail 或 subject）", "email": "电子邮箱", "name": "姓名",
        "role": "角色：admin 管理员 / bureau 局机关 / unit 责任单位 / viewer 只读",
        "unit_id": "所属责任单位（unit 角色必填）", "active": "是否启用", "created_at": "创建时间"}),
    "seasonal_profile": ("季节性进度曲线：各月完成投资占全年的比例（假设，来自 targets.toml，视图用）", {
        "month_no": "月份（1–12）", "share": "当月占全年比例",
        "cumulative_share": "截至当月末的累计比例"}),
    "plan_years": ("计划年度：每年1月由 portfolio year open 开启新年度，上一年度随之结转（只读）", {
        "year": "年度", "opened_at": "开启时间", "opened_by": "开启人",
        "closed_at": "结转时间（开启下一年度时；为空即当前年度）", "closed_by": "结转人"}),
    "plans": ("分年度计划：每个项目每个计划年度一行；projects.annual_plan_wan 即当前计划年度的计划", {
        "project_id": "项目编号", "year": "计划年度",
        "annual_plan_wan": "该年度计划投资（万元；结转入新年度而计划尚未导入时为空）",
        "closed": "该年度是否已结转（结转时项目的属性记入本行以下各列，往年数字不再变化）",
        "name": "结转时的项目名称", "enterprise": "结转时的建设单位", "chain_id": "结转时的产业链编号",
        "node_id": "结转时的产业链环节编号", "unit_id": "结转时的责任单位编号", "nature": "结转时的建设性质",
        "status": "结转时的项目状态", "total_investment_wan": "结转时的总投资（万元）",
        "leader": "结转时的包保领导", "leader_level": "结转时的包保层级",
        "is_major": "结转时是否重大产业化项目", "chain_role": "结转时的链上作用",
        "start_date": "结转时的开工时间", "end_date": "结转时的竣工时间"}),
    "actuals": ("统计局月度数据（统计口径）：本年累计与同比，与项目库口径对照", {
        "month": "月份（当月1日）",
        "metric": "指标：industrial_investment 工业投资 / tech_upgrade_investment 技术改造投资 / industrial_output 规上工业产值",
        "cumulative_wan": "本年累计（万元，1月至当月）", "yoy_pct": "同比增长（%，统计局公布值，可为空）",
        "updated_at": "最后修改时间", "updated_by": "最后修改人"}),
    "tiers": ("投资规模档次（按总投资，来自 targets.toml，视图用）", {
        "tier": "档次", "tier_en": "档次英文名", "min_wan": "下限（万元，含）",
        "plan_count": "原文计划项目数", "plan_cumulative_count": "原文计划累计项目数（本档及以上）"}),
}


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table with its comments, record the schema version (idempotent)."""
    for stmt in con.extract_statements(SCHEMA):
        con.execute(stmt.query)
    for table, (table_comment, columns) in COMMENTS.items():
        con.execute(f"comment on table {table} is {_sql_str(table_comment)}")
        for column, text in columns.items():
            con.execute(f"comment on column {table}.{column} is {_sql_str(text)}")
    set_meta(con, "schema_version", str(SCHEMA_VERSION))
    from .. import views  # views depend on the library's SQL; imported late to avoid a cycle

    views.create_views(con)


def migrate(con: duckdb.DuckDBPyConnection, found: int) -> None:
    """Move the data of a database of schema version ``found`` into the tables this version adds.

    Version 5 adds plan years: the one plan year an older database held becomes its first
    ``plan_years`` row and every project's ``annual_plan_wan`` its ``plans`` row of that year."""
    if found < 5:
        con.execute(
            "insert into plan_years (year, opened_by)"
            " select coalesce((select value::integer from meta where key = 'plan_year'), 2016), 'upgrade'"
            " on conflict do nothing")
        con.execute(
            "insert into plans (project_id, year, annual_plan_wan)"
            " select project_id, (select max(year) from plan_years), annual_plan_wan from projects"
            " on conflict do nothing")


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
