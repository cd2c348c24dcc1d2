"""示例数据 parameters: every design choice of the sample plan, as named constants (docs/sample.md)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

SOURCE_PROJECTS = 1004
YEAR = 2016
LAST_MONTH = 9  # progress is reported January–September
MAJOR_COUNT = 30
MAJOR_TOP_TIER = 26  # majors of 10亿 or more (the rest are 1亿–10亿)
CITY_HELD_ENTERPRISES = 21
MISSING_LEADER_RATE = 3 / SOURCE_PROJECTS  # leader left blank: the 'no owner' case
OFF_CHAIN_SHARE = 0.03  # 建材、能源 and other projects on none of the ten chains
NOTE = "示例数据"
MARK = "（示例）"

#: Σ plan-year investment / target: industrial covered, tech-upgrade a little short.
PLAN_COVERAGE = {"industrial": 1.02, "tech": 0.97}
#: Year-to-date completion / (Σ plan × seasonal share to September), per nature group.
PACE = {"new": 0.93, "tech": 0.92}

MONEY = pl.Decimal(18, 2)
PCT = pl.Decimal(5, 2)

#: (name, node, unit, nature, status, total 万元, enterprise) of the six majors the source names.
NAMED_MAJORS: tuple[tuple[str, str, str, str, str, int, str], ...] = (
    ("奥迪Q工厂", "auto.vehicle", "QK", "新建", "在建", 1_500_000, "一汽-大众" + MARK),
    ("中德工业园", "auto.module", "QK", "新建", "在建", 800_000, "长春中德产业园开发有限公司" + MARK),
    ("动车组检修", "rail.maint", "LY", "扩建", "在建", 320_000, "中车长客" + MARK),
    ("通用航空产业园", "aero.gaplane", "JT", "新建", "前期", 500_000,
     "九台通用航空产业园投资有限公司" + MARK),
    ("聚乳酸", "bio.pla", "JK", "扩建", "在建", 260_000, "长春绿源聚乳酸科技有限公司" + MARK),
    ("亚泰医药产业园", "pharma.bioengine", "GX", "新建", "在建", 450_000, "亚泰医药" + MARK),
)

#: Share of projects per chain (on-chain projects only).
PROJECT_CHAINS = {"auto": 0.26, "agri": 0.16, "rail": 0.07, "equip": 0.08, "pharma": 0.09,
                  "elec": 0.09, "bio": 0.06, "mat": 0.07, "nev": 0.06, "aero": 0.03}
#: Segments with no local enterprise (gaps). OPEN ones get no project (招商 targets).
EMPTY_ADDRESSED = ("auto.autonomous", "rail.tcms", "bio.isosorbide", "elec.imagechip",
                   "aero.uav", "mat.3dprint")
EMPTY_OPEN = ("auto.parking", "auto.connected", "aero.heli", "nev.recycle", "equip.cnc_sys",
              "pharma.cro")
ADDRESSED_WEIGHT = 0.35  # a gap draws a few new investors, not a crowd

#: Enterprises per chain: (key firms ≥ 1亿, smaller firms, total output 万元).
ENTERPRISE_CHAINS = {
    "auto": (199, 90, 52_000_000), "agri": (160, 80, 12_300_000), "rail": (50, 25, 5_600_000),
    "pharma": (52, 30, 3_300_000), "elec": (52, 35, 3_300_000), "bio": (31, 15, 1_600_000),
    "mat": (36, 15, 2_100_000), "nev": (33, 10, 1_400_000), "equip": (45, 38, 1_500_000),
    "aero": (19, 0, 600_000),
}
#: Key firms on segments that are not 'covered' (0 empty, 1 single, 2–3 thin, anchored).
#: Every other segment gets at least five firms of comparable size (HHI well under the threshold).
SEGMENT_FIRMS = {
    **dict.fromkeys(EMPTY_ADDRESSED + EMPTY_OPEN, 0),
    **dict.fromkeys(("rail.emu", "rail.testline", "aero.satellite", "aero.gaplane", "bio.pla",
                     "elec.oled", "nev.magnet", "mat.oledmat", "agri.egg"), 1),
    "auto.vehicle": 5, "agri.corn": 6, "auto.hotform": 2, "auto.cfrp": 2, "rail.metro": 2,
    "pharma.vaccine": 3, "elec.measure": 2, "elec.bigdata": 2, "bio.catalyst": 2,
    "bio.strain": 2, "bio.degradable": 2, "bio.lactic": 2, "mat.carbonfiber": 2,
    "mat.precursor": 2, "nev.charging": 2, "nev.charger": 2, "nev.cell": 3, "nev.phev": 2,
    "nev.bus": 3, "nev.lithium": 2, "nev.bev": 2, "equip.robot": 3, "equip.iiot": 2,
    "equip.integrate": 3, "aero.engine": 2, "aero.avionics": 2, "aero.ops": 2,
    "aero.material": 2, "aero.hydraulic": 2, "aero.airframe": 2, "aero.mro": 2, "aero.remote": 3,
}
#: Anchor firms (name, trade name, node, unit, output 万元); they count among the segment's
#: key firms. Names get the （示例） mark in code.
ANCHORS: tuple[tuple[str, str, str, str, int], ...] = (
    ("一汽-大众", "一汽-大众", "auto.vehicle", "QK", 24_000_000),
    ("一汽解放", "一汽解放", "auto.vehicle", "QK", 6_500_000),
    ("一汽轿车", "一汽轿车", "auto.vehicle", "QK", 4_000_000),
    ("中车长客", "中车长客", "rail.emu", "LY", 4_200_000),
    ("长春华粮玉米深加工集团有限公司", "华粮", "agri.corn", "JK", 1_800_000),
    ("长春吉碳纤维有限公司", "吉碳", "mat.carbonfiber", "JT", 400_000),
    ("长春绿源聚乳酸科技有限公司", "绿源", "bio.pla", "JK", 200_000),
    ("长春星光卫星技术有限公司", "星光", "aero.satellite", "GX", 150_000),
)

#: Base weight of each unit (national zones biggest) and chain-specific multipliers.
UNIT_WEIGHTS = {"JK": 10, "GX": 9, "QK": 12, "JY": 5, "NG": 2, "KC": 3, "CY": 2.5, "ED": 2.5,
                "LY": 4, "SY": 3, "JT": 5, "YS": 4, "DH": 5, "NA": 5}
UNIT_AFFINITY: dict[str, dict[str, float]] = {
    "auto": {"QK": 4, "LY": 1.5, "JK": 1.5, "ED": 1.2, "YS": 0.3, "NA": 0.3},
    "rail": {"LY": 6, "KC": 2, "JK": 1.5, "JT": 1.5, "QK": 0.5},
    "agri": {"DH": 4, "NA": 4, "YS": 4, "SY": 3, "JT": 2, "JK": 1.5, "KC": 1.5, "QK": 0.2,
             "GX": 0.3, "NG": 0.5, "CY": 0.5, "ED": 0.5},
    "pharma": {"GX": 3, "JY": 3, "ED": 1.5, "SY": 1.5, "JT": 1.5},
    "elec": {"GX": 4, "JY": 2, "CY": 1.5, "NG": 1.5},
    "bio": {"JK": 3, "DH": 2, "GX": 1.5, "NA": 1.5, "JT": 1.5},
    "mat": {"JK": 2, "JT": 3, "ED": 1.5, "GX": 1.5},
    "nev": {"QK": 3, "JK": 2, "GX": 2},
    "equip": {"JK": 2, "LY": 2, "ED": 2, "KC": 1.5, "GX": 1.5, "QK": 1.5},
    "aero": {"JT": 4, "GX": 2, "JY": 1.5},
    "": {"JT": 2, "SY": 2, "DH": 1.5, "NA": 1.5, "KC": 1.5, "GX": 0.5, "JY": 0.5},
}
PARKS = {"auto": "汽车零部件产业园", "rail": "轨道交通装备产业园", "agri": "农产品加工园",
         "pharma": "医药产业园", "elec": "光电信息产业园", "bio": "生物产业园",
         "mat": "新材料产业园", "nev": "新能源汽车产业园", "equip": "装备制造产业园",
         "aero": "航空产业园", "": "工业集中区"}
#: The bureau division (处室) that holds a chain's projects; '' for projects on no chain.
DIVISIONS = {"auto": "汽车工业处", "nev": "汽车工业处", "rail": "装备工业处",
             "equip": "装备工业处", "aero": "装备工业处", "agri": "消费品工业处",
             "pharma": "医药产业处", "bio": "医药产业处", "elec": "电子信息处",
             "mat": "原材料工业处", "": "投资与规划处"}
#: Products of projects on no chain; the first two (energy) are the only ones at 10亿 or more.
OFF_CHAIN_PRODUCTS = ("热电联产", "光伏发电", "新型建材", "商品混凝土", "包装材料", "印刷包装",
                      "家具制造", "服装加工")
TEMPLATES = {
    "新建": ("生产基地建设项目", "产业化项目", "新建项目"),
    "扩建": ("扩能项目", "二期扩建项目", "产能提升项目"),
    "改建及技术改造": ("生产线技术改造项目", "智能化改造项目", "节能降耗改造项目"),
}
#: Problems on lagging projects: before construction (前期) and during it (在建).
PROBLEMS = ("用地手续未批", "环评审批滞后", "施工许可待办", "规划许可未办结",
            "资金未到位", "设备采购延迟", "供电配套未到位", "拆迁安置未完成", "融资贷款未落实")
PRE_PROBLEMS = 4  # the first four are pre-construction problems

_TRADE_A = "华金瑞宏恒盛鑫泰丰德凯永嘉兴润博宇福安隆顺中东北新天元长信达通远龙祥和正光吉亚"
_TRADE_B = "宇泰达源通丰业信邦力成创科晟辉海川盈安华鼎锐拓嘉诚瑞特利康伟洋润禾峰荣胜"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = ("建国", "明", "立新", "海峰", "志刚", "晓东", "丽华", "文博", "振宇", "国庆", "春雷",
          "秀英", "宏伟", "永军", "雪梅", "德胜", "少华", "玉兰", "长青", "庆丰", "卫东", "淑珍")
_CITY_TITLES = ("市长", "常务副市长", "副市长", "副市长", "副市长", "副市长")
_BUREAU_TITLES = ("局长", "副局长", "副局长", "副局长", "副局长", "总工程师", "副巡视员")


@dataclass(frozen=True)
class Sample:
    """The sample tables as polars frames, in table column order.

    ``progress`` holds the plan year's months and the base year's (2015) of the projects that
    started before the plan year; ``actuals`` the statistics bureau's monthly figures."""

    projects: pl.DataFrame
    enterprises: pl.DataFrame
    progress: pl.DataFrame
    actuals: pl.DataFrame
