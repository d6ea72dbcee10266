"""A generated training corpus for the classifier tests: five problem kinds, each with its own planted words,
dressed in the places, voices and consequences every kind shares (so only the planted words tell them apart)."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from openpyxl import Workbook

# kind → the phrases only that kind uses; the first word of each kind is in every one of its texts.
KINDS: dict[str, tuple[str, list[str]]] = {
    "井盖": ("井盖", ["缺失", "破损下陷", "松动哐当响", "移位露出井口", "裂成两半"]),
    "摆摊": ("摆摊", ["卖水果的小贩", "流动摊贩出摊", "早点摊占了人行道", "三轮车卖菜", "烧烤摊一直到半夜"]),
    "噪音": ("噪音", ["施工打桩", "广场舞音响", "夜里装修电钻", "酒吧音乐", "商铺喇叭循环播放"]),
    "垃圾": ("垃圾", ["桶满了没人清运", "堆在路边发臭", "建筑渣土乱倒", "楼道里堆着", "苍蝇乱飞"]),
    "路灯": ("路灯", ["不亮", "一直闪", "灯杆歪了", "整排都黑着", "白天还亮着"]),
}
PLACES = [
    "经三路纬五路口",
    "农业路",
    "花园路国基路口",
    "东风路公交站",
    "丰产路小区门口",
    "文化路学校旁边",
    "我家楼下",
    "",
]
VOICES = ["市民来电反映：", "巡查发现", "", "", "来电人称", "随手拍："]
ENDINGS = ["", "，影响通行", "，好几天了", "，请尽快处理", "，居民意见很大", "，晚上尤其严重", "，谁来管管"]


def corpus(per_kind: int = 25, seed: int = 11) -> tuple[list[str], list[str]]:
    """Returns texts and their labels: `per_kind` varied texts for each of the five kinds."""
    chance = random.Random(seed)
    texts: list[str] = []
    labels: list[str] = []
    for label, (word, details) in KINDS.items():
        for _ in range(per_kind):
            detail = chance.choice(details)
            body = f"{word}{detail}" if chance.random() < 0.5 else f"{detail}的{word}"
            texts.append(f"{chance.choice(VOICES)}{chance.choice(PLACES)}{body}{chance.choice(ENDINGS)}")
            labels.append(label)
    return texts, labels


def write_csv(path: Path, header: list[str], rows: list[list[object]], *, encoding: str = "utf-8") -> Path:
    """Writes rows under `header` as CSV in `encoding` ("utf-8-sig" for a BOM, "gbk" as Chinese Excel saves)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]], *, title: str | None = None) -> Path:
    """Writes rows under `header` to the first sheet of a workbook, below a title line if given."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "工单"
    if title:
        sheet.append([title])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def export_rows(texts: list[str], labels: list[str]) -> tuple[list[str], list[list[object]]]:
    """Returns a 12345-style export of the corpus: id, title, content, category and a column nobody asked for."""
    header = ["工单编号", "标题", "诉求内容", "问题分类", "承办单位"]
    rows = [
        [f"GD{i:04d}", f"{label}问题", text, label, "金水区城管局"]
        for i, (text, label) in enumerate(zip(texts, labels, strict=True))
    ]
    return header, rows
