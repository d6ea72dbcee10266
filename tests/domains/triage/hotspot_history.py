"""A generated message history with planted hotspots, for the hotspot tests (no demo corpus needed).

Six planted problems, each told in 8–40 paraphrases (a prefix, the place said several ways, the problem said
several ways, a request), some with coordinates and some without; one of them (the blocked fire lane) is
reported at two places 5 km apart. Around them, noise: messages made of fragments of many other problems at
many places, drawn with a seeded Random, so that noise shares words with the planted problems (street names,
"井盖", "噪音") without telling the same story.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

from gridgov.domains.triage.hotspots import Message

TZ = dt.timezone(dt.timedelta(hours=8))
END = dt.datetime(2026, 11, 27, 18, 0, tzinfo=TZ)
START = END - dt.timedelta(days=30)
ORIGIN = (113.66, 34.76)  # lng, lat near Zhengzhou
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LNG = 111_320.0 * math.cos(math.radians(ORIGIN[1]))


def offset(x_m: float, y_m: float) -> tuple[float, float]:
    """Returns the point x_m east and y_m north of the origin."""
    return ORIGIN[0] + x_m / M_PER_DEG_LNG, ORIGIN[1] + y_m / M_PER_DEG_LAT


PREFIXES = ["", "", "市民来电反映：", "来电人称", "巡查发现", "网友留言：", "诉求人反映，", "经核实，"]
REQUESTS = ["", "", "请尽快处理。", "希望有关部门管管。", "诉求：尽快解决。", "麻烦派人来看看。", "谢谢！"]


@dataclass(frozen=True)
class Plant:
    """One planted problem: how its place and problem are said, how many reports, where and when."""

    key: str
    places: tuple[str, ...]
    problems: tuple[str, ...]
    size: int
    where: tuple[float, float] | None  # metres from the origin; None: reported without coordinates
    located_share: float = 1.0
    days: tuple[float, float] = (0.0, 30.0)  # when the reports fall, in days after START


PLANTS: tuple[Plant, ...] = (
    Plant(
        "manhole",
        ("经三路与纬五路交叉口", "经三路纬五路口", "纬五路经三路路口东北角", "经三路纬五路交叉口附近"),
        (
            "供水井盖缺失，井口敞开，行人容易掉下去",
            "自来水井盖丢了，井口敞着，很危险",
            "井盖不见了，井口没有任何遮挡",
            "供水井盖被偷，井口裸露，晚上特别危险",
        ),
        40,
        (0.0, 0.0),
    ),
    Plant(
        "night-works",
        ("金水路锦绣家园小区北侧工地", "锦绣家园北边的建筑工地", "金水路锦绣家园旁工地", "锦绣家园小区北面施工工地"),
        (
            "夜间施工打桩，噪音扰民，凌晨两点还在干",
            "半夜施工打桩机一直响，噪音吵得居民无法入睡",
            "深夜施工打桩，噪音太大睡不着觉",
            "晚上十一点以后还在打桩施工，噪音严重扰民",
        ),
        24,
        (1500.0, 800.0),
        located_share=0.5,
        days=(20.0, 30.0),  # a recent, growing problem
    ),
    Plant(
        "oil",
        ("东三街美食街", "东三街小吃一条街", "东三街的饭店门口", "东三街夜市那一段"),
        (
            "餐馆把地沟油直接倒进雨水井，臭气熏天",
            "饭店往雨水井里倒地沟油，雨水井味道刺鼻",
            "饭店把地沟油倒进路边雨水井，恶臭难闻",
            "有餐馆往雨水井倒地沟油，整条街都是臭味",
        ),
        15,
        None,
    ),
    Plant(
        "lamp",
        ("北林路与沙口路交叉口往北", "沙口路北林路口北侧", "北林路沙口路路口往北一段", "北林路靠近沙口路的路段"),
        (
            "路灯一排都不亮，晚上漆黑一片",
            "十几盏路灯全部不亮，夜里走路看不见",
            "整段路灯坏了不亮，黑灯瞎火的",
            "路灯连续多天不亮，行人摸黑走路",
        ),
        12,
        (-2500.0, 3000.0),
    ),
    Plant(
        "dog",
        ("花园路康宁苑小区", "康宁苑小区院内", "花园路康宁苑", "康宁苑小区3号楼附近"),
        (
            "有人遛狗不拴绳，大狗追咬小孩",
            "大狗遛的时候不拴绳，在院里乱跑，已经咬伤老人",
            "狗主人遛狗不拴绳，孩子被大狗追着咬",
            "业主遛大狗不拴绳，吓得孩子不敢下楼",
        ),
        8,
        None,
    ),
    Plant(
        "fire-lane",
        ("小区消防通道", "单元楼前的消防通道", "楼下消防车通道", "小区里的消防通道上"),
        (
            "私家车长期占用堵死，消防车根本进不来",
            "停满了私家车，消防通道完全被堵死",
            "被乱停的私家车堵塞，一旦着火消防车进不来",
            "常年被私家车占满，消防车通道形同虚设",
        ),
        20,
        (0.0, 0.0),  # see FIRE_LANE_PLACES: half at each
    ),
)
# The fire-lane problem is reported at two places 5 km apart: the same text, two hotspots.
FIRE_LANE_PLACES = ((4000.0, -1000.0), (4000.0, 4000.0))

NOISE_PLACES = (
    "经三路",
    "纬五路",
    "金水路",
    "东三街",
    "北林路",
    "花园路",
    "文化路",
    "红专路",
    "丰产路",
    "南阳路",
    "黄河路",
    "政七街",
    "国基路",
    "丰庆路",
    "杨金路",
    "博学路",
    "东风路",
    "天明路",
    "宏达路",
    "索凌路",
    "兴达路",
    "杜岭街",
    "姚砦路",
    "沙口路",
)
NOISE_SPOTS = ("小区门口", "公交站旁", "菜市场附近", "学校门口", "十字路口", "人行道上", "绿化带边", "家属院里", "")
# Noise problems: a thing and what is wrong with it, drawn independently (so two noise reports rarely match).
NOISE_THINGS = (
    "路灯",
    "井盖",
    "垃圾桶",
    "护栏",
    "广告牌",
    "行道树",
    "公厕",
    "下水道",
    "共享单车",
    "消防栓",
    "健身器材",
    "公交站牌",
    "电线",
    "围挡",
    "台阶",
    "路面",
    "花坛",
    "雨水篦子",
    "隔离墩",
    "交通标志",
    "监控杆",
    "报刊亭",
    "座椅",
    "排水沟",
)
# Everyday words a report may mention besides its problem; three at random make each noise report its own.
NOISE_WORDS = tuple(
    """
    早上 中午 傍晚 周末 昨天 前天 上周 月初 老人 孩子 学生 邻居 司机 骑手 保安 商户 摊主 业主 租户 游客
    轮椅 推车 自行车 电动车 快递 外卖 包裹 雨伞 花盆 纸箱 塑料 玻璃 铁皮 木板 砖头 水泥 沙子 石子 树叶 积雪
    台风 暴雨 大风 高温 雾霾 灰尘 泥浆 污渍 油渍 铁锈 裂缝 缺口 凹坑 斜坡 拐角 路沿 栏杆 楼梯 电梯 车库
    超市 药店 银行 医院 诊所 饭店 茶馆 书店 网吧 宾馆 工厂 仓库 市场 广场 公园 河边 桥下 隧道 地铁 站台
    物业 社区 城管 交警 环卫 园林 供电 燃气 水务 电信
    """.split()
)
NOISE_DEFECTS = (
    "坏了",
    "歪了",
    "倒了",
    "松动",
    "缺了一块",
    "脏得不行",
    "生锈严重",
    "被撞变形",
    "堵住了",
    "漏水",
    "有异味",
    "晃得厉害",
    "掉漆",
    "被人挪走了",
    "裂开了",
    "一直没人修",
)


@dataclass
class History:
    """The generated messages and, for each planted key, the ids of its members (and the fire lane's halves)."""

    messages: list[Message]
    planted: dict[str, set[str]]


def _time(rng: random.Random, days: tuple[float, float]) -> dt.datetime:
    return START + dt.timedelta(days=rng.uniform(*days))


def _jitter(rng: random.Random, where: tuple[float, float], metres: float = 150.0) -> tuple[float, float]:
    return offset(where[0] + rng.uniform(-metres, metres), where[1] + rng.uniform(-metres, metres))


def planted_messages(rng: random.Random, plant: Plant, where: tuple[float, float] | None, size: int, tag: str):
    """Yields `size` paraphrased reports of one planted problem."""
    for n in range(size):
        text = (
            rng.choice(PREFIXES)
            + rng.choice(plant.places)
            + rng.choice(["", "，", "这里", "一带"])
            + rng.choice(plant.problems)
            + ("，" if rng.random() < 0.5 else "。")
            + rng.choice(REQUESTS)
        )
        located = where is not None and rng.random() < plant.located_share
        lng, lat = _jitter(rng, where) if located and where is not None else (None, None)
        yield Message(
            id=f"{tag}-{n}",
            text=text,
            at=_time(rng, plant.days),
            lng=lng,
            lat=lat,
            likes=rng.choice([0, 0, 0, 1, 2, 5]),
        )


def noise_messages(rng: random.Random, count: int):
    """Yields `count` unrelated reports made of random fragments."""
    for n in range(count):
        text = (
            rng.choice(PREFIXES)
            + rng.choice(NOISE_PLACES)
            + rng.choice(NOISE_SPOTS)
            + "的"
            + rng.choice(NOISE_THINGS)
            + rng.choice(NOISE_DEFECTS)
            + "，"
            + "、".join(rng.sample(NOISE_WORDS, 3))
            + "都受影响。"
            + rng.choice(REQUESTS)
        )
        located = rng.random() < 0.6
        lng, lat = _jitter(rng, (rng.uniform(-6000, 6000), rng.uniform(-6000, 6000)), 0) if located else (None, None)
        yield Message(id=f"noise-{n}", text=text, at=_time(rng, (0.0, 30.0)), lng=lng, lat=lat)


def generate(seed: int = 7, noise: int = 500) -> History:
    """Returns the planted history: six planted problems (the fire lane at two places) among `noise` others."""
    rng = random.Random(seed)
    messages: list[Message] = []
    planted: dict[str, set[str]] = {}
    for plant in PLANTS:
        if plant.key == "fire-lane":
            for half, where in enumerate(FIRE_LANE_PLACES):
                tag = f"{plant.key}-{half}"
                batch = list(planted_messages(rng, plant, where, plant.size // 2, tag))
                planted[tag] = {str(m.id) for m in batch}
                messages += batch
            continue
        batch = list(planted_messages(rng, plant, plant.where, plant.size, plant.key))
        planted[plant.key] = {str(m.id) for m in batch}
        messages += batch
    messages += noise_messages(rng, noise)
    rng.shuffle(messages)
    return History(messages=messages, planted=planted)
