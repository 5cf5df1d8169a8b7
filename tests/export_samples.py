"""Hand-built stories in the export format (docs/export-format.md) and helpers the export tests share."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Text that is markup in at least one target format, so every exporter's escaping is exercised.
NASTY_ZH = (
    '{冷笑} [旧照片] 值班表上写着 a|b #7 // 别看 -> 地下室 <- 回来 ~ 叹气 "引号" \\ 反斜杠 TODO: 关灯\n'
    "* 星号开头\n"
    "+ 加号开头\n"
    "- 减号开头\n"
    "= 等号开头\n"
    ":: 双冒号开头\n"
    "== 不是结点 ==\n"
    '他低声说: 快跑。</script><script>alert("x")</script> $fear <<set $x to 1>> (set: $y to 2) """三引号"""'
)
NASTY_EN = (
    "{laughs} [old photo] the roster says a|b #7 // don't -> basement <- back ~ sigh 'quotes' \\ backslash\n"
    "Note: the clock stopped at 03:33.\n"
    "-> not an option\n"
    "<<jump nowhere>>\n"
    "=== not a node end ===\n"
    "--- not a body start ---\n"
    "</SCRIPT><!-- comment --> & <b>bold</b> \"double\" and 'single'"
)


def _state(
    scene: str,
    pr: int,
    gr: int,
    wf: int,
    time: str,
    flags: dict[str, Any] | None = None,
    inventory: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "scene": scene,
        "PR": pr,
        "GR": gr,
        "WF": wf,
        "time": time,
        "flags": dict(sorted((flags or {}).items())),
        "inventory": list(inventory or []),
    }


def _choice(
    text: str,
    nxt: str,
    pr: int = 0,
    gr: int = 0,
    wf: int = 0,
    minutes: int = 10,
    flags: dict[str, Any] | None = None,
    items: list[str] | None = None,
    scene: str | None = None,
    bridge: str = "",
) -> dict[str, Any]:
    return {
        "text": text,
        "consequences": {
            "PR": pr,
            "GR": gr,
            "WF": wf,
            "minutes": minutes,
            "scene": scene,
            "flags": flags or {},
            "items": items or [],
        },
        "next": nxt,
        "bridge": bridge,
    }


def _node(
    depth: int,
    narrative: str,
    state: dict[str, Any],
    choices: list[dict[str, Any]] | None = None,
    ending: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "depth": depth,
        "narrative": narrative,
        "state": state,
        "choices": choices or [],
        "ending": ending,
    }


def _ending(kind: str, title: str, reason: str = "writer") -> dict[str, Any]:
    return {"type": kind, "title": title, "reason": reason}


def _report(tree: dict[str, Any]) -> dict[str, Any]:
    nodes = tree["nodes"]
    endings = Counter(n["ending"]["type"] for n in nodes.values() if n["ending"])
    indegree = Counter(c["next"] for n in nodes.values() for c in n["choices"])
    return {
        "nodes": len(nodes),
        "max_depth": max(n["depth"] for n in nodes.values()),
        "main_path_length": max(n["depth"] for n in nodes.values()),
        "endings": sum(endings.values()),
        "endings_by_type": dict(sorted(endings.items())),
        "choices": sum(len(n["choices"]) for n in nodes.values()),
        "merged_edges": sum(d - 1 for d in indegree.values() if d > 1),
        "converged_edges": 0,
        "ignored_values": 0,
        "play_minutes_main_path": 1.0,
    }


def _plan(tree: dict[str, Any], lang: str) -> dict[str, Any]:
    """A plan of the documented shape: one beat per depth, the endings present, the flags and items used."""
    nodes = tree["nodes"]
    top = max(n["depth"] for n in nodes.values())
    beat = "第 {d} 拍" if lang == "zh" else "Beat {d}"
    flags = sorted({f for n in nodes.values() for c in n["choices"] for f in c["consequences"]["flags"]})
    items = sorted({i for n in nodes.values() for c in n["choices"] for i in c["consequences"]["items"]})
    kinds = sorted({n["ending"]["type"] for n in nodes.values() if n["ending"]})
    return {
        "beats": [
            {"depth": d, "title": beat.format(d=d), "summary": "…", "tension": min(100, 10 + 15 * d)}
            for d in range(top + 1)
        ],
        "endings": [
            {"type": kind, "title": kind, "leads_there": "…", "from_depth": 1, "to_depth": top}
            for kind in kinds
        ],
        "clues": ["…"],
        "flags": [{"name": name, "meaning": "…"} for name in flags],
        "items": [{"name": name, "meaning": "…"} for name in items],
    }


def _meta(lang: str) -> dict[str, Any]:
    return {
        "format_version": 2,
        "generator": "ghost-story-factory 0.2.0",
        "backend": "offline",
        "model": "offline-writer-2",
        "offline": True,
        "run_id": "00000000-0000-4000-8000-000000000000",
        "generated_at": "2026-11-24T06:00:00+00:00",
        "elapsed_seconds": 1.0,
        "resumed": False,
        "resumes": 0,
        "settings": {
            "lang": lang,
            "max_depth": 6,
            "branching": 3,
            "max_nodes": 40,
            "concurrency": 1,
            "checkpoint_every": 50,
        },
        "tokens": {"prompt": 0, "completion": 0, "cached": 0, "total": 0},
        "cost_usd": 0.0,
        "calls": 0,
    }


MAX_DEPTH = 6  # the samples' max_depth: the runtime endings sit there


def _guard_tree() -> dict[str, Any]:
    """保安's night (zh). What the runtime rules meet on it:

    - shared nodes (node_0006, node_0008, node_0010 ×3, node_0014 … node_0020), a bridge on every choice in;
    - root →1 node_0003 →1 node_0006 →2 node_0011 →1: fear 5+10+20+30+45 crosses 100 on a choice into the
      non-ending node_0015, so the player goes to the fear_collapse runtime ending (node_0001) instead;
    - root →1 node_0003 →2 node_0007 →2 node_0012 →2: the clock reaches 04:00 (10+30+90+120 minutes) on a
      choice into the non-ending node_0017: the dawn runtime ending (node_0002);
    - root →1 node_0003 →2 node_0007 →1 node_0010: the player holds 铜钥匙 🗝️, node_0010's stored state lacks it;
    - root →2 node_0004 →1 node_0008 →2 node_0010: the player's clock (01:25) is later than node_0010's
      stored 00:40;
    - node_0008 →1 takes fear below 0 (clamped) and node_0011 has a hostile scene name.
    """
    hall, basement, tower, stairs, boiler = (
        "大堂",
        "地下室",
        "钟楼",
        "消防梯",
        "锅炉房 [[alert(1)]] <<run alert(2)>>",
    )
    light, key = "手电筒", "铜钥匙 🗝️"
    nodes = {
        "node_0000": _node(
            0,
            "午夜零点，外滩老钟楼的大堂只剩你一个人。\n\n" + NASTY_ZH,
            _state(hall, 5, 0, 0, "00:00"),
            [
                _choice("打开手电筒，走向地下室", "node_0003", pr=10, items=[light], scene=basement),
                _choice("[查看] 值班日志 {第 3 页}", "node_0004", gr=10, flags={"read_log": True}),
                _choice("给前任保安老王打电话 | 无人接听", "node_0005", wf=15, flags={"called_wang": 1}),
            ],
        ),
        "node_0001": _node(
            MAX_DEPTH,
            "你的心跳越来越快，快得像钟楼里那口停了八十年的钟突然疯转。你跪倒在地，再也站不起来。",
            _state(hall, 100, 0, 0, "00:00"),
            ending=_ending("fear_collapse", "心跳停了", "runtime"),
        ),
        "node_0002": _node(
            MAX_DEPTH,
            "窗外泛起鱼肚白，黄浦江上传来第一班轮渡的汽笛。不管这一夜发生过什么，天亮了。",
            _state(hall, 5, 0, 0, "04:00"),
            ending=_ending("dawn", "天亮了", "runtime"),
        ),
        "node_0003": _node(
            1,
            "地下室的水管在滴水。墙上有人用粉笔写着：别回头。",
            _state(basement, 15, 0, 0, "00:10", inventory=[light]),
            [
                _choice(
                    "回头",
                    "node_0006",
                    pr=20,
                    flags={"looked_back": True},
                    bridge="你猛地回头——身后只有一串湿漉漉的脚印，一直通向锅炉。",
                ),
                _choice("捡起地上的旧钥匙", "node_0007", gr=5, minutes=30, items=[key]),
            ],
        ),
        "node_0004": _node(
            1,
            "日志最后一页写着：1937 年 8 月 13 日，钟停了。",
            _state(hall, 5, 10, 0, "00:10", flags={"read_log": True}),
            [
                _choice(
                    "去钟楼看看那口钟",
                    "node_0008",
                    gr=10,
                    minutes=15,
                    bridge="你合上日志，沿着吱呀作响的木梯爬上钟楼。",
                ),
                _choice(
                    "合上日志，去地下室",
                    "node_0006",
                    pr=15,
                    bridge='你走下地下室的台阶，日志上那句 "钟停了" 还在脑子里回响 {别看} [快走] -> 锅炉。',
                ),
            ],
        ),
        "node_0005": _node(
            1,
            "电话那头传来老王的声音，可他去年就死了。",
            _state(hall, 5, 0, 15, "00:10", flags={"called_wang": 1}),
            [
                _choice(
                    "问他钟楼的事",
                    "node_0008",
                    gr=15,
                    wf=5,
                    minutes=15,
                    bridge="老王只说了一句“去钟楼”，电话就断了。你照他说的爬上了钟楼。",
                ),
                _choice("挂断电话", "node_0009", pr=60, minutes=5),
            ],
        ),
        "node_0006": _node(
            2,
            "你看见一个穿旗袍的女人站在锅炉旁，背对着你。",
            _state(basement, 35, 0, 0, "00:20", flags={"looked_back": True}, inventory=[light]),
            [
                _choice(
                    "叫她",
                    "node_0010",
                    wf=10,
                    minutes=20,
                    flags={"ghost_name": "阿秀"},
                    bridge="“阿秀？”你叫出一个你不该知道的名字。她没有回头，却开始往钟楼走，你跟了上去。",
                ),
                _choice("关掉手电筒", "node_0011", pr=30, flags={"looked_back": False}),
            ],
        ),
        "node_0007": _node(
            2,
            "钥匙上刻着“钟楼”二字，冰凉刺骨。",
            _state(basement, 15, 5, 0, "00:40", inventory=[light, key]),
            [
                _choice(
                    "用钥匙打开钟楼的门",
                    "node_0010",
                    gr=10,
                    minutes=20,
                    bridge="钥匙在锁孔里转了三圈，钟楼的门开了。",
                ),
                _choice("把钥匙扔进下水道，坐下等", "node_0012", pr=5, minutes=90),
            ],
        ),
        "node_0008": _node(
            2,
            "钟楼里，巨大的钟摆静止不动，指针停在三点三十三分。",
            _state(tower, 5, 20, 5, "00:25", flags={"read_log": True}),
            [
                _choice("推动钟摆", "node_0013", pr=-20, gr=40),
                _choice(
                    "在钟下等待",
                    "node_0010",
                    wf=5,
                    minutes=60,
                    bridge="你在钟下坐了很久。脚步声从楼梯上来，停在你身后。",
                ),
            ],
        ),
        "node_0009": _node(
            2,
            "挂断的瞬间，大堂的灯全灭了。你的心跳声盖过了一切。",
            _state(hall, 65, 0, 15, "00:15", flags={"called_wang": 1}),
            ending=_ending("fear_collapse", "断线"),
        ),
        "node_0010": _node(
            3,
            "女人转过身来。她没有脸，只有一只停摆的怀表。",
            _state(
                tower, 30, 20, 10, "00:40", flags={"ghost_name": "阿秀", "read_log": True}, inventory=[light]
            ),
            [
                _choice(
                    "把怀表上好发条",
                    "node_0014",
                    gr=50,
                    minutes=30,
                    flags={"wound_watch": True},
                    bridge="发条一圈一圈地紧了，怀表里传出细小的滴答声。",
                ),
                _choice(
                    "转身逃跑",
                    "node_0015",
                    pr=40,
                    bridge="你转身就跑，楼梯在脚下一级一级地消失。",
                ),
            ],
        ),
        "node_0011": _node(
            3,
            "黑暗里，锅炉房的门自己开了。有什么东西在里面呼吸。",
            _state(boiler, 65, 0, 0, "00:30", flags={"looked_back": False}, inventory=[light]),
            [
                _choice(
                    "尖叫着冲向楼梯",
                    "node_0015",
                    pr=45,
                    minutes=5,
                    bridge="你尖叫着冲出锅炉房，一头扎进消防梯。",
                ),
                _choice(
                    "屏住呼吸，等它走开",
                    "node_0016",
                    pr=-10,
                    minutes=60,
                    bridge="你屏住呼吸数到一千。呼吸声远了，你摸着墙爬进了下水道口。",
                ),
            ],
        ),
        "node_0012": _node(
            3,
            "你坐在下水道口。远处传来钟声，可钟楼的钟明明停了。",
            _state(basement, 20, 5, 0, "02:10", inventory=[light, key]),
            [
                _choice(
                    "沿着下水道走",
                    "node_0016",
                    minutes=60,
                    bridge="你沿着下水道往前走，水没过了脚踝。",
                ),
                _choice(
                    "原地等天亮",
                    "node_0017",
                    minutes=120,
                    bridge="你靠着墙睡着了。醒来时，你已经躺在大堂的长椅上。",
                ),
            ],
        ),
        "node_0013": _node(
            3,
            "钟摆动了。整座楼像是深深吸了一口气。",
            _state(tower, 0, 60, 5, "00:35", flags={"read_log": True}),
            [
                _choice(
                    "读钟上的铭文",
                    "node_0014",
                    gr=30,
                    minutes=20,
                    bridge="铭文上刻着一个名字：阿秀。",
                ),
                _choice(
                    "离开钟楼",
                    "node_0017",
                    minutes=30,
                    bridge="你走下钟楼，回到空荡荡的大堂。",
                ),
            ],
        ),
        "node_0014": _node(
            4,
            "钟声重新响起。你终于明白，1937 年的那个夜晚，她一直在等人把时间还给她。",
            _state(tower, 25, 90, 30, "01:10", flags={"wound_watch": True}),
            ending=_ending("truth_revealed", "钟声"),
        ),
        "node_0015": _node(
            4,
            "消防梯一直往下，好像没有尽头。",
            _state(stairs, 70, 20, 10, "00:50", inventory=[light]),
            [
                _choice("冲出大门", "node_0018", pr=5, bridge="你撞开大门，冷风扑面而来。"),
                _choice("躲进值班室", "node_0019", pr=20, minutes=30, bridge="你躲进值班室，反锁了门。"),
            ],
        ),
        "node_0016": _node(
            4,
            "下水道尽头有一扇铁门，门上挂着一把新锁。",
            _state(basement, 30, 5, 0, "01:30", inventory=[light]),
            [
                _choice("继续往前走", "node_0019", minutes=60, bridge="你推开铁门，门在身后合上了。"),
                _choice("回到大堂等天亮", "node_0020", minutes=60, bridge="你原路返回，坐在大堂等天亮。"),
            ],
        ),
        "node_0017": _node(
            4,
            "大堂的钟指向三点三十三分。值班表上多了一个名字：你的。",
            _state(hall, 20, 30, 0, "03:00", inventory=[light]),
            [
                _choice(
                    "撕掉值班表，走出大门", "node_0018", minutes=20, bridge="你把值班表撕得粉碎，推门而出。"
                ),
                _choice("签下自己的名字", "node_0020", minutes=30, bridge="你签了名。笔迹和老王的一模一样。"),
            ],
        ),
        "node_0018": _node(
            5,
            "你站在外滩的风里，身后的钟楼一片漆黑。",
            _state(hall, 40, 20, 10, "01:00"),
            ending=_ending("escape", "天亮前的街"),
        ),
        "node_0019": _node(
            5,
            "黑暗吞没了你。你听见钟声一下一下地敲响，直到你数不清。",
            _state(basement, 90, 10, 10, "02:30", flags={"looked_back": False}),
            ending=_ending("trapped", "永远的值班"),
        ),
        "node_0020": _node(
            5,
            "第一班轮渡鸣笛。你熬过了这一夜。",
            _state(hall, 20, 30, 0, "04:00"),
            ending=_ending("dawn", "第一班轮渡", "dawn"),
        ),
    }
    return {
        "root": "node_0000",
        "runtime_endings": {"fear_collapse": "node_0001", "dawn": "node_0002"},
        "nodes": nodes,
    }


def _ghost_tree() -> dict[str, Any]:
    """The ghost's short night (zh, an emoji name), starting at 03:00: root →2 node_0004 →1 reaches 04:00
    on a choice into the non-ending node_0005 (dawn runtime ending); root →3 then →1 stays below both."""
    tower, roof = "钟楼", "钟楼顶"
    nodes = {
        "node_0000": _node(
            0,
            "你是阿秀。你已经在钟楼里等了八十多年。",
            _state(tower, 5, 30, 50, "03:00", inventory=["怀表"]),
            [
                _choice("附身在新来的保安身上", "node_0003", pr=5, flags={"possessing": True}),
                _choice("继续等待", "node_0004", minutes=30, bridge="你又等了半个时辰。钟楼下传来脚步声。"),
                _choice(
                    "敲响那口钟",
                    "node_0004",
                    pr=80,
                    minutes=5,
                    bridge="钟声把你自己也吓了一跳: 八十年来它第一次响。",
                ),
            ],
        ),
        "node_0001": _node(
            MAX_DEPTH,
            "连鬼也会害怕。你缩回怀表里，再也不敢出来。",
            _state(tower, 100, 30, 50, "03:00"),
            ending=_ending("fear_collapse", "缩回怀表", "runtime"),
        ),
        "node_0002": _node(
            MAX_DEPTH,
            "天亮了。外滩的第一班轮渡鸣笛，你又一次消失在晨光里。",
            _state(tower, 5, 30, 50, "04:00"),
            ending=_ending("dawn", "又一个清晨", "runtime"),
        ),
        "node_0003": _node(
            1,
            "保安的身体很温暖。你几乎忘了温暖是什么感觉。",
            _state("大堂", 10, 30, 60, "03:10", flags={"possessing": True}, inventory=["怀表"]),
            ending=_ending("possessed", "借来的身体"),
        ),
        "node_0004": _node(
            1,
            "脚步声停在钟楼门口。有人在门外犹豫。",
            _state(tower, 5, 30, 50, "03:30", inventory=["怀表"]),
            [
                _choice("再等一会儿", "node_0005", pr=10, minutes=30),
                _choice("下楼去找他", "node_0006", wf=10, items=["旧照片"]),
            ],
        ),
        "node_0005": _node(
            2,
            "门开了一条缝，又关上了。你爬上钟楼顶，看着江面。",
            _state(roof, 15, 30, 50, "03:50", inventory=["怀表"]),
            [
                _choice("纵身跳下", "node_0007", pr=20, minutes=1),
                _choice("回到钟里", "node_0008", minutes=2),
            ],
        ),
        "node_0006": _node(
            2,
            "门外是一个年轻的保安。他手里拿着你的旧照片。",
            _state("大堂", 5, 30, 60, "03:40", inventory=["怀表", "旧照片"]),
            ending=_ending("truth_revealed", "照片上的人"),
        ),
        "node_0007": _node(
            3,
            "你落进江里，像八十年前一样。这一次，有人看见了。",
            _state(roof, 35, 30, 50, "03:51"),
            ending=_ending("sacrifice", "第二次落水"),
        ),
        "node_0008": _node(
            3,
            "你回到钟里。钟摆又停了。",
            _state(tower, 15, 30, 50, "03:52", inventory=["怀表"]),
            ending=_ending("trapped", "停摆"),
        ),
    }
    return {
        "root": "node_0000",
        "runtime_endings": {"fear_collapse": "node_0001", "dawn": "node_0002"},
        "nodes": nodes,
    }


def _keeper_tree() -> dict[str, Any]:
    """An English night: merges with hostile bridges, a fear redirect (root →1 →1 →3: 5+10+10+90 into the
    non-ending node_0010), a dawn ending reached at exactly 04:00 (no redirect: it already is a dawn
    ending), and a dawn redirect into the non-ending node_0010 (root →2 →2 →2)."""
    lamp, stairs, sea, gallery = "Lamp room", "Stairwell", "Sea", 'Gallery "north" <b>&amp;</b>'
    nodes = {
        "node_0000": _node(
            0,
            "The lamp room is cold. Somebody has left a wet footprint on the stairs.\n\n" + NASTY_EN,
            _state(lamp, 5, 0, 0, "00:00"),
            [
                _choice("Follow the footprints down", "node_0003", pr=10, scene=stairs),
                _choice('Read the keeper\'s log: "Day 1 -> Day 40"', "node_0004", gr=10, flags={"log": 40}),
            ],
        ),
        "node_0001": _node(
            MAX_DEPTH,
            "Your legs give way. You curl up under the lamp and do not move until they find you.",
            _state(lamp, 100, 0, 0, "00:00"),
            ending=_ending("fear_collapse", "Under the Lamp", "runtime"),
        ),
        "node_0002": _node(
            MAX_DEPTH,
            "The sky goes grey over the water. Whatever walked tonight is gone, and so is the night.",
            _state(lamp, 5, 0, 0, "04:00"),
            ending=_ending("dawn", "Grey Morning", "runtime"),
        ),
        "node_0003": _node(
            1,
            "The footprints stop at the door to the sea.",
            _state(stairs, 15, 0, 0, "00:10"),
            [
                _choice(
                    "Open the door",
                    "node_0005",
                    pr=10,
                    items=["rusty key"],
                    bridge="The door sticks, then gives: -> Day 40 <<jump nowhere>> {x} [y] # z // c. "
                    "A rusty key falls from the lintel and you climb back up to the light.",
                ),
                _choice(
                    "Run for the boat",
                    "node_0006",
                    pr=5,
                    minutes=20,
                    flags={"boat": True},
                ),
            ],
        ),
        "node_0004": _node(
            1,
            "The last entry reads: she walks at three. Do not light the lamp.",
            _state(lamp, 5, 10, 0, "00:10", flags={"log": 40}),
            [
                _choice(
                    "Light the lamp anyway",
                    "node_0005",
                    gr=20,
                    items=["matches [box] #1"],
                    bridge="You strike a match; the lamp catches with a sigh.",
                ),
                _choice("Wait for morning", "node_0007", minutes=120),
            ],
        ),
        "node_0005": _node(
            2,
            "A drowned woman stands in the light, holding out her hand.",
            _state(lamp, 25, 20, 5, "00:30", flags={"log": 40}),
            [
                _choice("Take her hand", "node_0008", wf=30, minutes=30),
                _choice(
                    "Throw the matches into the sea",
                    "node_0009",
                    pr=5,
                    flags={"boat": True},
                    bridge="The matches hiss on the water. You are already at the boat.",
                ),
                _choice(
                    "Scream", "node_0010", pr=90, minutes=5, bridge="You scream and run for the gallery."
                ),
            ],
        ),
        "node_0006": _node(
            2,
            "The boat is half full of water. The oars are where you left them.",
            _state(sea, 20, 0, 0, "00:30", flags={"boat": True}),
            [
                _choice("Row", "node_0009", minutes=60, bridge="You row until your hands bleed."),
                _choice(
                    "Turn back",
                    "node_0010",
                    pr=30,
                    bridge="You turn back and climb to the gallery, dripping.",
                ),
            ],
        ),
        "node_0007": _node(
            2,
            "Two hours pass. The lamp stays dark. Something knocks, politely, three times.",
            _state(lamp, 5, 10, 0, "02:10", flags={"log": 40}),
            [
                _choice("Keep waiting", "node_0011", minutes=120),
                _choice(
                    "Open for her",
                    "node_0010",
                    wf=20,
                    minutes=120,
                    bridge="You open the door and walk with her out onto the gallery.",
                ),
            ],
        ),
        "node_0008": _node(
            3,
            "Her hand is cold, and then so is yours. The lamp will never go out again.",
            _state(lamp, 50, 60, 80, "03:00", flags={"log": 40}),
            ending=_ending("sacrifice", "The Keeper's Light"),
        ),
        "node_0009": _node(
            3,
            "You row until the lighthouse is a pin of light behind you.",
            _state(sea, 40, 20, 5, "01:00", flags={"boat": True}),
            ending=_ending("escape", "Open Water"),
        ),
        "node_0010": _node(
            3,
            "On the gallery the wind screams back at you.",
            _state(gallery, 60, 20, 5, "00:40"),
            [
                _choice("Climb over the rail", "node_0013", pr=10),
                _choice("Go back inside", "node_0012", minutes=30),
            ],
        ),
        "node_0011": _node(
            3,
            "Grey light. The gulls are back. Nothing walked tonight.",
            _state(lamp, 5, 10, 0, "04:00", flags={"log": 40}),
            ending=_ending("dawn", "Morning Watch", "dawn"),
        ),
        "node_0012": _node(
            4,
            "She leads you to the keeper's chair and you sit. It fits you.",
            _state(lamp, 30, 30, 40, "02:00"),
            ending=_ending("sacrifice", "The New Keeper"),
        ),
        "node_0013": _node(
            4,
            "The sea takes you kindly. You are not the first.",
            _state(sea, 70, 20, 5, "00:50"),
            ending=_ending("trapped", "Below the Rail"),
        ),
    }
    return {
        "root": "node_0000",
        "runtime_endings": {"fear_collapse": "node_0001", "dawn": "node_0002"},
        "nodes": nodes,
    }


def _character(name: str, role: str, protagonist: bool, tree: dict[str, Any], lang: str) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "description": f"{role}.",
        "is_protagonist": protagonist,
        "plan": _plan(tree, lang),
        "report": _report(tree),
        "tree": tree,
    }


def zh_story() -> dict[str, Any]:
    """A Shanghai story with two characters, the second named with an emoji."""
    return {
        "meta": _meta("zh"),
        "story": {
            "title": "外滩钟楼/停摆之夜",  # a slash, so file names must be sanitised
            "city": "上海",
            "lang": "zh",
            "synopsis": "外滩老钟楼里，一口停了八十多年的钟。",
            "game_design": "恐惧、真相、熟悉度三条数值。",
            "lore": "1937 年的一个夜晚。",
            "main_story": "保安与阿秀。",
            "scenes": ["大堂", "地下室", "钟楼"],
        },
        "characters": [
            _character("保安", "夜班保安", True, _guard_tree(), "zh"),
            _character("👻阿秀", "钟楼里的女人", False, _ghost_tree(), "zh"),
        ],
    }


def en_story() -> dict[str, Any]:
    """A one-character English story whose title is empty, so names fall back to the city."""
    return {
        "meta": _meta("en"),
        "story": {
            "title": "",
            "city": "Portland",
            "lang": "en",
            "synopsis": "A lighthouse, a log book and a drowned woman.",
            "game_design": "Fear, truth and familiarity.",
            "lore": "The keeper vanished in 1911.",
            "main_story": "The new keeper's first night.",
            "scenes": ["Lamp room", "Stairwell", "Sea"],
        },
        "characters": [_character("Keeper", "the new lighthouse keeper", True, _keeper_tree(), "en")],
    }


OFFLINE_ERRORS: dict[str, str] = {}  # sample -> why the offline writer's story could not be made


def all_samples() -> dict[str, dict[str, Any]]:
    """Every sample by a short name; each call returns fresh copies that a test may mutate."""
    samples = {"zh": zh_story(), "en": en_story()}
    from story_samples import sample_story

    samples["shared"] = copy.deepcopy(sample_story(city="上海", lang="zh", characters=2))
    samples["shared_en"] = copy.deepcopy(sample_story(city="London", lang="en", characters=1))
    for lang in ("zh", "en"):  # real stories from the offline writer, merges and all
        try:
            samples[f"offline_{lang}"] = copy.deepcopy(_offline_story(lang))
        except Exception as exc:  # the generator is another engineer's; say why instead of failing collection
            OFFLINE_ERRORS[f"offline_{lang}"] = f"{type(exc).__name__}: {exc}"
    return samples


@functools.cache
def _offline_story(lang: str) -> dict[str, Any]:
    from helpers import TestWriter, generate

    with tempfile.TemporaryDirectory() as folder:
        result = generate(
            Path(folder),
            TestWriter(),
            city="苏州" if lang == "zh" else "Boston",
            characters=("阿秀", "Zoë🕯️"),
            lang=lang,
            max_nodes=40,
            max_depth=8,
        )
    return result.story


# --- the runtime rules, worked out here independently of the exporters ------------------------------
FEAR_MAX = 100
NIGHT_MINUTES = 240


def minutes_of(clock: str) -> int:
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def incoming(tree: dict[str, Any]) -> Counter[str]:
    return Counter(c["next"] for n in tree["nodes"].values() for c in n["choices"])


def ending_type(tree: dict[str, Any], node_id: str) -> str:
    ending = tree["nodes"][node_id]["ending"]
    return ending["type"] if ending else ""


def ref_start(tree: dict[str, Any]) -> dict[str, Any]:
    """Rule 1: the root's stored state. Items keep their order; ``ending`` is the type at an ending."""
    state = tree["nodes"][tree["root"]]["state"]
    return {
        "node": tree["root"],
        "fear": state["PR"],
        "truth": state["GR"],
        "familiarity": state["WF"],
        "time": minutes_of(state["time"]),
        "scene": state["scene"],
        "flags": dict(state["flags"]),
        "items": list(dict.fromkeys(state["inventory"])),
        "ending": ending_type(tree, tree["root"]),
    }


def _step_minutes(consequences: dict[str, Any]) -> int:
    if "minutes" in consequences:
        return int(consequences["minutes"])
    return int(str(consequences.get("time", "+0")).strip().lstrip("+").rstrip("min") or 0)  # version 1


def ref_take(
    tree: dict[str, Any], state: dict[str, Any], index: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rule 2 and 3: the state after choice ``index`` and what arriving shows: {node, bridge, redirected}."""
    choice = tree["nodes"][state["node"]]["choices"][index]
    cons = choice["consequences"]

    def clamp(value: int) -> int:
        return max(0, min(FEAR_MAX, value))

    fear = clamp(state["fear"] + cons.get("PR", 0))
    time = min(state["time"] + max(0, _step_minutes(cons)), NIGHT_MINUTES)
    target, kind = choice["next"], ending_type(tree, choice["next"])
    runtime = tree.get("runtime_endings") or {}
    redirected = None
    if runtime and fear >= FEAR_MAX and kind != "fear_collapse":
        redirected = "fear_collapse"
    elif runtime and time >= NIGHT_MINUTES and fear < FEAR_MAX and kind != "dawn":
        redirected = "dawn"
    if redirected:
        target = runtime[redirected]
    after = {
        "node": target,
        "fear": fear,
        "truth": clamp(state["truth"] + cons.get("GR", 0)),
        "familiarity": clamp(state["familiarity"] + cons.get("WF", 0)),
        "time": time,
        "scene": state["scene"] if redirected else tree["nodes"][target]["state"]["scene"],
        "flags": {**state["flags"], **cons.get("flags", {})},
        "items": state["items"]
        + [i for i in dict.fromkeys(cons.get("items", [])) if i not in state["items"]],
        "ending": ending_type(tree, target),
    }
    bridge = "" if redirected else flat(choice.get("bridge") or "")
    return after, {"node": target, "bridge": bridge, "redirected": redirected}


def ref_play(tree: dict[str, Any], choices: list[int]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The states along a play that takes ``choices``: [(state, arrival)], the start's arrival None."""
    state = ref_start(tree)
    steps: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(state, None)]
    for index in choices:
        state, arrival = ref_take(tree, state, index)
        steps.append((state, arrival))
    return steps


# --- running the node checkers in tools/export-check ----------------------------------------------
REPO = Path(__file__).resolve().parents[1]
CHECK_DIR = REPO / "tools" / "export-check"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
_SETUP_HINT = "run tools/setup_test_tools.sh"


def need(available: object, reason: str) -> None:
    """Skip with a visible reason when a tool is missing; with GSF_REQUIRE_EXPORT_TOOLS=1 (CI, after the
    setup script) a missing tool fails instead, so a broken install step cannot hide behind skips."""
    if available:
        return
    if os.environ.get("GSF_REQUIRE_EXPORT_TOOLS") == "1":
        pytest.fail(f"{reason} (GSF_REQUIRE_EXPORT_TOOLS=1)")
    pytest.skip(reason)


def need_node_packages(package: str) -> None:
    need(shutil.which("node"), f"node is not installed (needs node 20+ and npm): {_SETUP_HINT}")
    need((CHECK_DIR / "node_modules" / package).is_dir(), f"npm package {package} is missing: {_SETUP_HINT}")


def need_graphviz() -> None:
    need(shutil.which("dot"), f"Graphviz (dot) is not installed: {_SETUP_HINT} or apt-get install graphviz")


def need_chromium() -> None:
    need_node_packages("playwright-core")
    need(CHROMIUM.exists(), f"{CHROMIUM} is missing: {_SETUP_HINT} or apt-get install chromium")


def run_node(script: str, *args: str, timeout: float = 120) -> Any:
    """Run one checker script and return the JSON it prints; a crash fails the test with its stderr."""
    result = subprocess.run(
        ["node", str(CHECK_DIR / script), *args],
        cwd=CHECK_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{script} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)


def write_files(files: list[tuple[str, bytes]], directory: Path) -> list[Path]:
    paths = []
    for name, content in files:
        path = directory / name
        path.write_bytes(content)
        paths.append(path)
    return paths


def flat(text: str) -> str:
    return " ".join(str(text).split())


def ident(prefix: str, name: str) -> str:
    """The documented identifier rule for flags (f_) and items (i_): a prefix and 8 hex of SHA-256."""
    return f"{prefix}_{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


def symbol_table(tree: dict[str, Any]) -> dict[str, Any]:
    """The documented flag and item variables of a character, worked out from the tree: every flag and item
    a play can hold (the opening state's and every choice's), a flag's type from all its values."""
    opening = tree["nodes"][tree["root"]]["state"]
    values: dict[str, list[Any]] = {name: [value] for name, value in opening["flags"].items()}
    items = set(opening["inventory"])
    for node in tree["nodes"].values():
        for choice in node["choices"]:
            for name, value in choice["consequences"].get("flags", {}).items():
                values.setdefault(name, []).append(value)
            items.update(choice["consequences"].get("items", []))
    flags = {}
    for name, seen in values.items():
        if all(isinstance(v, bool) for v in seen):
            kind: str = "bool"
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in seen):
            kind = "number"
        else:
            kind = "string"
        flags[name] = (ident("f", name), kind)
    return {"flags": flags, "items": {name: ident("i", name) for name in items}}


def coerce(value: Any, kind: str) -> Any:
    if kind == "bool":
        return bool(value)
    if kind == "number":
        return int(value)
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def expected_flags(table: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """Every flag variable's value for a reference state's flags (unset flags at their type's default)."""
    defaults = {"bool": False, "number": 0, "string": ""}
    return {
        name: coerce(flags[name], kind) if name in flags else defaults[kind]
        for name, (_, kind) in table["flags"].items()
    }


def comparable(state: dict[str, Any], table: dict[str, Any], ordered_items: bool = False) -> dict[str, Any]:
    """A reference state in the shape the checkers' readings are normalised to."""
    return {
        "node": state["node"],
        "fear": state["fear"],
        "truth": state["truth"],
        "familiarity": state["familiarity"],
        "time": state["time"],
        "scene": state["scene"],
        "ending": state["ending"],
        "items": list(state["items"]) if ordered_items else sorted(state["items"]),
        "flags": expected_flags(table, state["flags"]),
    }


def engine_vars(
    table: dict[str, Any], node: str | None, variables: dict[str, Any], items: list[str]
) -> dict[str, Any]:
    """Ink or Yarn variables in that shape; ``items`` are the names the engine holds."""
    return {
        "node": node,
        "fear": variables["fear"],
        "truth": variables["truth"],
        "familiarity": variables["familiarity"],
        "time": variables["time"],
        "scene": variables["scene"],
        "ending": variables["ending"],
        "items": sorted(items),
        "flags": {name: variables[var] for name, (var, _) in table["flags"].items()},
    }


def assert_plays_match_reference(
    tree: dict[str, Any],
    plays: dict[str, Any],
    reading: Callable[[dict[str, Any]], dict[str, Any]],
    shown: Callable[[str], str] = lambda text: text,
    ordered_items: bool = False,
    fields: tuple[str, ...] | None = None,
) -> None:
    """Every random play a checker made, replayed through the reference: the same final state for every
    play, and the same node, bridge and state after every step for the plays it traced in full.
    ``reading`` turns one checker step into the comparable shape; ``shown`` normalises bridge text;
    ``fields`` limits the comparison to what the engine shows (the HTML player shows no flags)."""
    table = symbol_table(tree)

    def want(state: dict[str, Any]) -> dict[str, Any]:
        full = comparable(state, table, ordered_items)
        return {k: full[k] for k in fields} if fields else full

    assert plays["count"] == len(plays["plays"]) > 0
    traced = 0
    for number, play in enumerate(plays["plays"]):
        expected = ref_play(tree, play["choices"])
        assert reading(play["final"]) == want(expected[-1][0]), (number, play["choices"])
        if "steps" not in play:
            continue
        traced += 1
        assert len(play["steps"]) == len(expected), number
        for step, (got, (state, arrival)) in enumerate(zip(play["steps"], expected, strict=True)):
            where = (number, step, play["choices"][:step])
            assert reading(got) == want(state), where
            assert shown(flat(got.get("bridge", ""))) == shown(arrival["bridge"] if arrival else ""), where
    assert traced > 0


def mix_of(plays: dict[str, Any]) -> dict[str, float]:
    return {kind: round(share, 3) for kind, share in sorted(plays["endingMix"].items())}


def sample_cases(samples: dict[str, dict[str, Any]]) -> list[Any]:
    """One pytest case per (sample, character)."""
    import pytest

    return [
        pytest.param(key, char["name"], id=f"{key}-{char['name']}")
        for key, story in samples.items()
        for char in story["characters"]
    ]


def checker_reports(
    samples: dict[str, dict[str, Any]],
    fmt: str,
    script: str,
    directory: Path,
    *options: str,
    timeout: float = 300,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Export every sample character in ``fmt`` (each file with its tree beside it as FILE.tree.json, for
    the checkers' random plays) and run one node checker over all the files:
    (sample, character) -> that file's report."""
    from ghost_story_factory.export import render

    paths: dict[tuple[str, str], Path] = {}
    for key, story in samples.items():
        for char in story["characters"]:
            [path] = write_files(render(story, fmt, char["name"]), directory)
            path.with_name(path.name + ".tree.json").write_text(json.dumps(char["tree"], ensure_ascii=False))
            paths[(key, char["name"])] = path
    reports = run_node(script, *options, *(str(p) for p in paths.values()), timeout=timeout)
    return {key: reports[str(path)] for key, path in paths.items()}
