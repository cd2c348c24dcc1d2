"""The blank import templates (xlsx): title and header rows, drop-downs and a 说明 sheet."""

from __future__ import annotations

import io

from .. import config
from .catalogue import FIELDS, KIND_LABELS, KINDS

_KIND_NOTES: dict[str, tuple[str, ...]] = {
    "projects": (
        "年度：该行计划所属的年度。不写时取导入时的 --year（默认当前计划年度）。已结转的年度只读，尚未开启的年度请先"
        "运行 portfolio year open；早于第一个计划年度的历史计划只写入分年度计划，不改动项目库中已有项目的信息。",
    ),
    "progress": ("已结转年度的月份只读，晚于当前计划年度12月的月份须先开启下一年度。",),
    "actuals": (
        "每月每个指标一行：月份、指标、本年累计（1月至当月），同比增长可空。同一月份同一指标再次导入时更新。",
        "统计局公布的 1-2月 合并数写 2016年1-2月 或 2016.2 即可；本年累计在同一年内逐月不应下降，下降的行拒收。",
        "金额默认万元；表头写 本年累计(亿元) 时按亿元，也可用“计量单位”列或在指标后写（亿元）逐行说明。",
        "已结转年度的月份只读。只有管理员和局机关用户可以导入统计局数据。",
    ),
}


def template_xlsx(kind: str) -> bytes:
    """A blank import template: title and header rows, drop-downs, and a 说明 sheet."""
    import xlsxwriter

    if kind not in KINDS:
        raise ValueError(f"未知的台账类型 {kind!r}。")
    fields = FIELDS[kind]
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    title = wb.add_format({"bold": True, "font_size": 14})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "vcenter"})
    must = wb.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1, "text_wrap": True, "valign": "vcenter",
                          "font_color": "#C00000"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    ws = wb.add_worksheet(KIND_LABELS[kind])
    heading = ("长春市统计局月度数据：工业投资、技术改造投资、规上工业产值的本年累计与同比（导入模板；红色表头为必填，"
               "金额单位万元）" if kind == "actuals" else
               f"长春市工业投资{KIND_LABELS[kind]}（导入模板；红色表头为必填，金额单位万元）")
    ws.write(0, 0, heading, title)
    ws.set_row(1, 32)
    ref = config.load_reference()
    lists = {"unit": ref.units["short_name"].to_list(), "chain": ref.chains["name"].to_list(),
             "bool": ["是", "否"]}
    for i, f in enumerate(fields):
        ws.write(1, i, f.header, must if f.required else head)
        ws.set_column(i, i, max(10, len(f.header) * 2 + 2))
        choices = list(f.choices) or lists.get(f.type, [])
        if choices:
            ws.data_validation(2, i, 10001, i, {"validate": "list", "source": choices, "error_type": "warning"})
    ws.freeze_panes(2, 0)
    doc = wb.add_worksheet("说明")
    doc.set_column(0, 0, 22)
    doc.set_column(1, 1, 8)
    doc.set_column(2, 2, 22)
    doc.set_column(3, 4, 60)
    for j, h in enumerate(("列名", "必填", "数据库字段", "可填的值 / 格式", "也认得的列名")):
        doc.write(0, j, h, head)
    for r, f in enumerate(fields, start=1):
        values = "、".join(f.choices) + ("；" + f.help if f.help else "") if f.choices else f.help
        doc.write_row(r, 0, [f.header, "是" if f.required else "", f.name, values, "、".join(f.aliases)], wrap)
    row = len(fields) + 2
    notes = [
        "表头上方可以有标题行，表头下方的空行不计；合计、小计、总计行自动跳过。序号等其他列会被忽略。",
        "同一编号再次导入时更新原记录；内容没有变化的行不会改动。每一处修改都记入修改日志。",
        "有问题的行不会写入，连同原因写入 <文件名>.rejects.csv，可修改后重新导入。",
        *_KIND_NOTES.get(kind, ()),
    ]
    if kind != "actuals":
        notes += ["责任单位：" + "、".join(f"{n}（{s}）" for n, s in ref.units.select("name", "short_name").iter_rows()),
                  "产业链：" + "、".join(ref.chains["name"].to_list())]
    for text in notes:
        doc.merge_range(row, 0, row, 4, text, wrap)
        doc.set_row(row, 30 if len(text) < 120 else 60)
        row += 1
    wb.close()
    return buf.getvalue()
