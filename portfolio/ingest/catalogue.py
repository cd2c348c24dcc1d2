"""The header catalogue: which ledgers exist, their columns, the headers and spellings accepted.

A :class:`Field` is one importable column: its database name, the Chinese header of the
template, its type (which parser and which checks apply), whether it is required and the
other headers staff write for it. :data:`HEADER_MAPS` maps every accepted header, normalised
by :func:`normalize_header`, to its field; :data:`ENUM_ALIASES` holds the tolerated spellings
of the enumerations (技改 for 改建及技术改造 …).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .. import config

KINDS = ("projects", "progress", "enterprises", "actuals")
KIND_LABELS = {"projects": "项目台账", "progress": "月度进度", "enterprises": "企业名录", "actuals": "统计局数据"}


@dataclass(frozen=True)
class Field:
    """One importable column: its database name, Chinese header, type and accepted aliases."""

    name: str
    header: str
    type: str  # id | text | amount | date | month | period | year | growth | amount_unit | bool | pct | enum | unit | chain | node
    required: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    help: str = ""


_AMOUNT_HELP = "数字，默认单位万元；可写 3,000、１２００、1.5亿、800万元、5000000元"
_DATE_HELP = "2016.3、2016年3月、2016-03-15、2016/3/15、2016年3月15日 或 Excel 日期；只写到月份时取当月1日"
_BOOL_HELP = "是/否、Y/N、true/false、1/0、√；空白为否"
#: The statistics bureau's indicators as staff write them, and the ``actuals.metric`` each is stored as.
METRIC_LABELS = {"工业投资": "industrial_investment", "技术改造投资": "tech_upgrade_investment",
                 "规上工业产值": "industrial_output"}

FIELDS: dict[str, tuple[Field, ...]] = {
    "projects": (
        Field("project_id", "项目编号", "id", True, ("编号", "项目代码", "项目编码", "项目ID"),
              help="唯一编号，重复导入时据此更新"),
        Field("name", "项目名称", "text", True, ("名称",)),
        Field("enterprise", "建设单位", "text", False, ("项目单位", "建设企业", "业主单位", "企业名称", "企业")),
        Field("chain_id", "产业链", "chain", False, ("所属产业链", "产业链名称", "chain"),
              help="产业链名称、别名或编号"),
        Field("node_id", "产业链环节", "node", False, ("环节", "所属环节", "产业链节点", "链上环节", "node"),
              help="环节名称或编号；名称在各链中唯一时可不填产业链"),
        Field("unit_id", "责任单位", "unit", True, ("所属单位", "属地", "责任主体", "县(市)区", "所在地区", "unit"),
              help="单位全称、简称（如 汽开区）或编号"),
        Field("park", "所在园区", "text", False, ("园区", "所属园区")),
        Field("nature", "建设性质", "enum", True, ("性质", "项目性质"), config.NATURES,
              help="技改、技术改造 视为 改建及技术改造；改扩建 视为 扩建"),
        Field("status", "项目状态", "enum", True, ("状态", "建设状态", "项目阶段"), config.STATUSES,
              help="续建、新开工 视为 在建；储备 视为 谋划"),
        Field("total_investment_wan", "总投资(万元)", "amount", True,
              ("总投资", "计划总投资", "项目总投资", "总投资额", "total_investment"),
              help=_AMOUNT_HELP + "；须不少于1000万元"),
        Field("annual_plan_wan", "年度计划投资(万元)", "amount", False,
              ("年度计划投资", "年度计划", "本年计划投资", "计划投资", "年计划投资", "当年计划投资", "annual_plan"),
              help=_AMOUNT_HELP + "；不得大于总投资，空白为0"),
        Field("start_date", "开工时间", "date", False, ("开工日期", "计划开工时间", "开工年月"), help=_DATE_HELP),
        Field("end_date", "竣工时间", "date", False, ("竣工日期", "计划竣工时间", "完工时间", "竣工年月"),
              help=_DATE_HELP + "；不得早于开工时间"),
        Field("leader", "包保领导", "text", False, ("包保责任人", "责任领导")),
        Field("leader_level", "包保层级", "enum", False, ("包保级别", "领导层级"), config.LEADER_LEVELS,
              help="市领导 视为 市级，局领导 视为 局级"),
        Field("is_major", "是否重大产业化项目", "bool", False, ("重大产业化项目", "是否重大项目", "重大项目"),
              help=_BOOL_HELP),
        Field("chain_role", "链上作用", "enum", False, ("补链增链丰链", "补链/增链/丰链", "补增丰"), config.CHAIN_ROLES,
              help="延链 视为 增链，强链 视为 丰链"),
        Field("note", "备注", "text", False, ("说明",)),
        Field("year", "年度", "year", False, ("计划年度", "年份", "所属年度", "plan_year"),
              help="该行计划所属的年度，如 2016；空白时取 --year（默认当前计划年度）。一个台账可含多个年度的计划"),
    ),
    "progress": (
        Field("project_id", "项目编号", "id", True, ("编号", "项目代码", "项目编码", "项目ID"),
              help="须已在项目库中"),
        Field("month", "月份", "month", True, ("月度", "填报月份", "统计月份", "年月"),
              help="2016.9、2016年9月、2016-09 等，记为当月1日；只写 9月 时取项目库的计划年度"),
        Field("completed_wan", "本月完成投资(万元)", "amount", True,
              ("本月完成投资", "当月完成投资", "本月完成", "月度完成投资", "完成投资", "completed"),
              help=_AMOUNT_HELP + "；当月数，不是累计数；空白为0"),
        Field("physical_pct", "形象进度(%)", "pct", False, ("形象进度", "工程形象进度", "physical"),
              help="0–100 的数字，可带 %"),
        Field("problems", "存在问题", "text", False, ("存在的问题", "存在问题及困难", "困难问题", "问题")),
        Field("problem_level", "问题协调层级", "enum", False, ("协调层级", "问题层级", "提交层级"),
              config.PROBLEM_LEVELS, help="问题提交协调的层级"),
    ),
    "enterprises": (
        Field("enterprise_id", "企业编号", "id", True, ("编号", "企业代码", "统一社会信用代码", "企业ID"),
              help="唯一编号，重复导入时据此更新"),
        Field("name", "企业名称", "text", True, ("名称", "企业")),
        Field("unit_id", "责任单位", "unit", False, ("所属单位", "属地", "所在地区", "unit"),
              help="单位全称、简称或编号"),
        Field("chain_id", "产业链", "chain", False, ("所属产业链", "chain"),
              help="只用于确定环节，不单独保存"),
        Field("node_id", "产业链环节", "node", False, ("环节", "所属环节", "node"), help="环节名称或编号"),
        Field("output_wan", "年产值(万元)", "amount", False, ("年产值", "产值", "工业总产值", "output"),
              help=_AMOUNT_HELP + "；空白为0"),
        Field("is_key", "是否重点企业", "bool", False, ("重点企业", "是否亿元以上企业"), help=_BOOL_HELP),
        Field("leader_level", "包保层级", "enum", False, ("包保级别",), config.LEADER_LEVELS),
    ),
    "actuals": (
        Field("month", "月份", "period", True, ("月度", "统计月份", "年月", "时间", "统计期", "期别", "报告期"),
              help="2016.9、2016年9月、2016-09、2016年1-9月、1-9月 等，记为当月1日；只写月份时取 --year"
                   "（默认当前计划年度）"),
        Field("metric", "指标", "enum", True, ("指标名称", "统计指标", "metric"), tuple(METRIC_LABELS),
              help="工业投资、技术改造投资（技改投资）、规上工业产值（规模以上工业总产值）；英文 industrial_investment、"
                   "tech_upgrade_investment、industrial_output 也认得；前面的“其中：”不计"),
        Field("cumulative_wan", "本年累计(万元)", "amount", True,
              ("本年累计", "累计", "本年累计完成", "1至本月累计", "1-本月累计", "自年初累计", "累计值",
               "cumulative", "cumulative_wan"),
              help=_AMOUNT_HELP + "；1月至当月的累计数，同一年内逐月不应下降"),
        Field("yoy_pct", "同比增长(%)", "growth", False,
              ("同比增长", "同比", "同比增速", "增速", "比上年同期增长", "增长", "yoy", "yoy_pct"),
              help="百分数，可写 12.5、-4.6、12.5%、增长12%、下降4.6%；须大于 -100、小于 1000；可空"),
        Field("amount_unit", "计量单位", "amount_unit", False, ("单位", "金额单位"),
              help="亿元、万元 或 元：该行本年累计的单位（表头未写单位时用）；也可写在指标里，如 工业投资（亿元）"),
    ),
}
KEYS: dict[str, tuple[str, ...]] = {
    "projects": ("project_id",),
    "progress": ("project_id", "month"),
    "enterprises": ("enterprise_id",),
    "actuals": ("month", "metric"),
}
#: Every table an import writes, with its key: the kinds, and ``plans`` (a projects ledger's
#: plans of a year other than the current one, or a carried project's empty plan filled).
TABLE_KEYS: dict[str, tuple[str, ...]] = {**KEYS, "plans": ("project_id", "year")}
#: Stored values of enumerations whose stored form is not the Chinese label (指标 → metric key).
STORED_VALUES: dict[str, dict[str, str]] = {"metric": METRIC_LABELS}

#: Tolerant spellings of the enumerations (keys compared without spaces, half-width, lower case).
ENUM_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "nature": {"新建": ("新建项目",), "扩建": ("扩建项目", "改扩建", "扩能"),
               "改建及技术改造": ("技改", "技术改造", "改建", "改造", "技改项目", "技术改造项目",
                           "改建及技改", "改造升级", "改建和技术改造")},
    "status": {"谋划": ("谋划中", "谋划项目", "储备", "储备项目"),
               "前期": ("前期工作", "前期阶段", "前期项目", "拟开工"),
               "在建": ("续建", "新开工", "建设中", "施工中", "在建项目", "开工", "已开工"),
               "竣工": ("已竣工", "完工", "建成", "竣工投产", "已建成"),
               "达产达效": ("达产", "达效", "已达产", "投产达效")},
    "leader_level": {"市级": ("市领导", "市级领导", "市", "市级包保"),
                     "局级": ("局领导", "局级领导", "局", "局级包保"),
                     "处室": ("处级", "处室领导", "处", "处室包保", "科室"),
                     "属地": ("属地部门", "县区", "区县", "属地包保", "区级", "县级")},
    "chain_role": {"补链": ("补链项目", "补"), "增链": ("增链项目", "延链", "增", "延"),
                   "丰链": ("丰链项目", "强链", "丰", "强")},
}
ENUM_ALIASES["problem_level"] = ENUM_ALIASES["leader_level"]
ENUM_ALIASES["metric"] = {
    "工业投资": ("industrial_investment", "工业固定资产投资", "工业投资完成额", "全市工业投资", "工业投资额",
             "工业投资完成"),
    "技术改造投资": ("tech_upgrade_investment", "技改投资", "工业技术改造投资", "技术改造", "技改",
               "工业技改投资", "技术改造投资完成额"),
    "规上工业产值": ("industrial_output", "规模以上工业总产值", "规上工业总产值", "规模以上工业产值", "工业总产值",
               "规上工业"),
}

_UNIT_RE = re.compile(r"^(.+?)[(\[]?(?:单位[:：]?)?(亿元|万元|元|%)[)\]]?$")


def normalize_header(text: object) -> tuple[str, str | None]:
    """A header cell as a lookup key (NFKC, no spaces, lower case) and its unit suffix if any."""
    s = unicodedata.normalize("NFKC", str(text))
    s = re.sub(r"\s+", "", s).lower().strip("*:：")
    s = re.sub(r"^\d{4}年度?", "", s)
    m = _UNIT_RE.match(s)
    return (m.group(1), m.group(2)) if m else (s, None)


def _header_map(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in FIELDS[kind]:
        for name in (f.header, f.name, *f.aliases):
            out.setdefault(normalize_header(name)[0], f.name)
    return out


HEADER_MAPS = {kind: _header_map(kind) for kind in KINDS}
