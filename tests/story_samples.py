"""Small, valid stories in the export format, version 2 (docs/export-format.md), for tests to save,
load and play.

Every character gets the same twelve-node graph (a DAG where every choice goes one level deeper, with two
converged nodes, and the two runtime endings no choice leads to):

    node_0000 ─1→ node_0001 ─1→ node_0004 ─1→ node_0007  truth_revealed (depth 3)
        │             └──2→ node_0003        └──2→ node_0005
        ├─2→ node_0002  trapped (depth 1)
        └─3→ node_0010 ─1→ node_0003 ─1→ node_0005  fear_collapse (depth 3)
                      │             └──2→ node_0006  escape (depth 3)
                      └──2→ node_0011  escape (depth 2)
    runtime endings: node_0008 fear_collapse, node_0009 dawn (depth 4)

Always choosing 1 ends in ``truth_revealed``; always choosing the last ends in ``escape``.
``node_0003`` is reached from ``node_0001`` (choice 2) and ``node_0010`` (choice 1); ``node_0005`` from
``node_0003`` and ``node_0004``: every choice into either carries a bridge. A player arriving at
node_0003 from node_0001 has PR 20, GR 10, WF 0 and 00:20, while the node's stored state (the path that
created it, through node_0010) says PR 25, GR 0, WF 5 and 00:25: players show their own state.
Every choice into node_0005 adds 80 fear, which reaches 100 on every path there: node_0005 is itself a
fear_collapse ending, so no runtime rule replaces it.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from typing import Any

ALWAYS_FIRST_ENDING = "truth_revealed"
ALWAYS_LAST_ENDING = "escape"
CONVERGED_NODE = "node_0003"

_NAMES = {
    "zh": ["保安", "清洁工", "夜班护士", "出租车司机", "看门老人", "实习记者"],
    "en": ["Security Guard", "Cleaner", "Night Nurse", "Taxi Driver", "Old Doorman", "Intern Reporter"],
}
_EMOJI_NAMES = ["🔦 保安", "👻 红衣女", "🧹清洁工", "🚕 司机", "🕯️ 守夜人", "📷 记者"]

_TEXT = {
    "zh": {
        "title": "{city}·午夜大楼",
        "synopsis": "{city}一栋老写字楼里，夜班的人听见了不该有的脚步声。",
        "lobby": "大堂",
        "monitor": "监控室",
        "corridor": "三楼走廊",
        "outside": "大门外",
        "stairs": "消防梯",
        "flashlight": "手电筒",
        "tape": "录像带",
        "n0": "{name}站在{city}老楼空荡荡的大堂里，三楼传来高跟鞋的声音。",
        "n1": "监控屏幕上，三楼走廊里站着一个穿红衣的女人。",
        "n2": "大门从外面锁住了，玻璃上慢慢浮现出一个手印。",
        "n3": "走廊尽头的门虚掩着，门缝里透出红光。",
        "n4": "录像带里，红衣女人一直在对着镜头说话，却没有声音。",
        "n5": "门后的东西抬起头，{name}的手电筒熄灭了。",
        "n6": "{name}从消防梯跑到街上，回头看见三楼的灯一盏盏灭了。",
        "n7": "日记里写着她的名字和那场火灾，一切都说得通了。",
        "c_monitor": "去监控室看录像",
        "c_door": "试着推开大门离开",
        "c_up": "上三楼看看是谁",
        "c_replay": "回放这段录像",
        "c_go_up": "关掉屏幕，上楼",
        "c_open": "推开尽头的门",
        "c_flee": "从消防梯逃走",
        "c_diary": "对照值班日记",
        "c_chase": "冲上楼去找她",
        "e_truth": "她的名字",
        "e_trapped": "锁住的门",
        "e_fear": "红光",
        "e_escape": "街上的风",
        "e_collapse": "腿软了",
        "n10": "楼梯间的灯一闪一闪，三楼的脚步声更近了。",
        "n11": "{name}推开消防门冲到街上，楼里的灯一盏盏灭了。",
        "c_keep_up": "继续往三楼走",
        "b_keep_up": "{name}一步一步走上三楼，脚步声停了。",
        "e_dawn": "天亮了",
        "n8": "{name}的腿一软，跪倒在地上。等保安队赶到时，{name}还在发抖。",
        "n9": "天边泛白，楼里的脚步声停了。{name}熬过了这一夜。",
        "b_go_up": "{name}关掉屏幕，顺着楼梯摸上三楼。",
        "b_open": "门轴尖叫了一声。",
        "b_chase": "{name}冲上楼梯，红衣在拐角一闪而过。",
        "role": "夜班{name}",
        "description": "在{city}这栋楼里值夜班的{name}。",
        "lore": "二十年前，这栋楼发生过一场火灾。",
        "game_design": "恐惧、真相、熟悉三条线。",
        "main_story": "一个值夜班的人发现了火灾的真相。",
    },
    "en": {
        "title": "Midnight Tower, {city}",
        "synopsis": "In an old office tower in {city}, the night shift hears footsteps that should not be.",
        "lobby": "Lobby",
        "monitor": "Monitor room",
        "corridor": "Third-floor corridor",
        "outside": "Front door",
        "stairs": "Fire stairs",
        "flashlight": "flashlight",
        "tape": "videotape",
        "n0": "The {name} stands in the empty lobby in {city}; high heels click on the third floor.",
        "n1": "On the monitor a woman in red stands in the third-floor corridor.",
        "n2": "The front door is locked from outside; a handprint slowly appears on the glass.",
        "n3": "The door at the end of the corridor is ajar, red light leaking out.",
        "n4": "On the tape the woman in red talks to the camera, without a sound.",
        "n5": "The thing behind the door looks up, and the {name}'s flashlight dies.",
        "n6": "The {name} runs down the fire stairs into the street; the lights go out floor by floor.",
        "n7": "The logbook gives her name and the fire; everything makes sense now.",
        "c_monitor": "Check the monitor room",
        "c_door": "Try the front door",
        "c_up": "Go up to the third floor",
        "c_replay": "Replay the tape",
        "c_go_up": "Switch off the screen and go up",
        "c_open": "Push open the door",
        "c_flee": "Flee down the fire stairs",
        "c_diary": "Check the night logbook",
        "c_chase": "Run upstairs after her",
        "e_truth": "Her name",
        "e_trapped": "The locked door",
        "e_fear": "Red light",
        "e_escape": "Wind in the street",
        "e_collapse": "Legs give way",
        "n10": "The stairwell light flickers; the footsteps on the third floor come closer.",
        "n11": "The {name} bursts through the fire door into the street; the lights go out behind.",
        "c_keep_up": "Keep climbing to the third floor",
        "b_keep_up": "The {name} climbs step by step to the third floor; the footsteps stop.",
        "e_dawn": "Daybreak",
        "n8": "The {name}'s legs give way. When the day shift arrives the {name} is still shaking.",
        "n9": "The sky pales and the footsteps stop. The {name} made it through the night.",
        "b_go_up": "The {name} switches off the screen and feels the way up the stairs.",
        "b_open": "The hinges shriek.",
        "b_chase": "The {name} takes the stairs two at a time; a flash of red turns the corner.",
        "role": "night-shift {name}",
        "description": "The {name} on the night shift in this tower in {city}.",
        "lore": "Twenty years ago this tower burned.",
        "game_design": "Three threads: fear, truth, familiarity.",
        "main_story": "A night-shift worker uncovers the truth about the fire.",
    },
}


def _consequences(pr: int = 0, gr: int = 0, wf: int = 0, minutes: int = 5, **more: Any) -> dict[str, Any]:
    return {
        "PR": pr,
        "GR": gr,
        "WF": wf,
        "minutes": minutes,
        "scene": more.get("scene"),
        "flags": more.get("flags", {}),
        "items": more.get("items", []),
    }


def _tree(t: dict[str, str], name: str, city: str) -> dict[str, Any]:
    """One character's graph in the export format (a ``tree`` object)."""
    light, tape = t["flashlight"], t["tape"]

    def state(
        scene: str, pr: int, gr: int, wf: int, time: str, inv: tuple[str, ...] = (light,), **flags: Any
    ) -> dict[str, Any]:
        return {
            "scene": t[scene],
            "PR": pr,
            "GR": gr,
            "WF": wf,
            "time": time,
            "flags": dict(sorted(flags.items())),
            "inventory": list(inv),
        }

    def node(number: int, depth: int, st: dict[str, Any], **content: Any) -> tuple[str, dict[str, Any]]:
        text = t[f"n{number}"].format(name=name, city=city)
        body = {"depth": depth, "narrative": text, "state": st, "choices": [], "ending": None, **content}
        return f"node_{number:04d}", body

    def choice(key: str, to: int, bridge: str = "", **cons: Any) -> dict[str, Any]:
        return {
            "text": t[key],
            "consequences": _consequences(**cons),
            "next": f"node_{to:04d}",
            "bridge": t[bridge].format(name=name, city=city) if bridge else "",
        }

    def ending(kind: str, key: str, reason: str) -> dict[str, Any]:
        return {"type": kind, "title": t[key], "reason": reason}

    nodes = [
        node(
            0,
            0,
            state("lobby", 5, 0, 0, "00:00"),
            choices=[
                choice("c_monitor", 1, pr=5, gr=10, minutes=10, scene=t["monitor"]),
                choice("c_door", 2, wf=5, scene=t["outside"]),
                choice("c_up", 10, pr=15, wf=5, minutes=15, scene=t["stairs"]),
            ],
        ),
        node(
            1,
            1,
            state("monitor", 10, 10, 0, "00:10"),
            choices=[
                choice("c_replay", 4, pr=10, gr=30, minutes=20, items=[tape]),
                choice("c_go_up", 3, "b_go_up", pr=10, minutes=10, scene=t["corridor"]),
            ],
        ),
        node(2, 1, state("outside", 5, 0, 5, "00:05"), ending=ending("trapped", "e_trapped", "writer")),
        node(
            10,
            1,
            state("stairs", 20, 0, 5, "00:15"),
            choices=[
                choice("c_keep_up", 3, "b_keep_up", pr=5, minutes=10, scene=t["corridor"]),
                choice("c_flee", 11, wf=10, minutes=10, scene=t["stairs"]),
            ],
        ),
        node(
            3,
            2,
            state("corridor", 25, 0, 5, "00:25"),
            choices=[
                choice("c_open", 5, "b_open", pr=80),
                choice("c_flee", 6, wf=10, minutes=10, scene=t["stairs"]),
            ],
        ),
        node(
            4,
            2,
            state("monitor", 20, 40, 0, "00:30", (light, tape)),
            choices=[
                choice("c_diary", 7, gr=60, minutes=30, flags={"found_diary": True}),
                choice("c_chase", 5, "b_chase", pr=80, scene=t["corridor"]),
            ],
        ),
        node(11, 2, state("stairs", 20, 0, 15, "00:25"), ending=ending("escape", "e_escape", "writer")),
        node(5, 3, state("corridor", 100, 0, 5, "00:30"), ending=ending("fear_collapse", "e_fear", "fear")),
        node(6, 3, state("stairs", 25, 0, 15, "00:35"), ending=ending("escape", "e_escape", "writer")),
        node(
            7,
            3,
            state("monitor", 20, 100, 0, "01:00", (light, tape), found_diary=True),
            ending=ending("truth_revealed", "e_truth", "writer"),
        ),
        node(
            8,
            MAX_DEPTH,
            state("lobby", 100, 0, 0, "00:00"),
            ending=ending("fear_collapse", "e_collapse", "runtime"),
        ),
        node(9, MAX_DEPTH, state("lobby", 5, 0, 0, "04:00"), ending=ending("dawn", "e_dawn", "runtime")),
    ]
    return {
        "root": "node_0000",
        "runtime_endings": {"fear_collapse": "node_0008", "dawn": "node_0009"},
        "nodes": dict(nodes),
    }


MAX_DEPTH = 4  # the samples' max_depth: the runtime endings sit there


def _report(tree: dict[str, Any]) -> dict[str, Any]:
    nodes = tree["nodes"]
    endings = Counter(n["ending"]["type"] for n in nodes.values() if n["ending"])
    indegree = Counter(c["next"] for n in nodes.values() for c in n["choices"])
    return {
        "nodes": len(nodes),
        "max_depth": max(n["depth"] for n in nodes.values()),
        "main_path_length": 3,
        "endings": sum(endings.values()),
        "endings_by_type": dict(sorted(endings.items())),
        "choices": sum(len(n["choices"]) for n in nodes.values()),
        "merged_edges": 0,
        "converged_edges": sum(d - 1 for d in indegree.values() if d > 1),
        "ignored_values": 0,
        "play_minutes_main_path": 0.8,
    }


def _plan(t: dict[str, str], tree: dict[str, Any]) -> dict[str, Any]:
    """A plan of the documented shape: one beat per depth 0..max_depth, the endings, clues, flags, items."""
    titles = [t["lobby"], t["monitor"], t["corridor"], t["stairs"], t["outside"]]
    kinds = sorted({n["ending"]["type"] for n in tree["nodes"].values() if n["ending"]})
    return {
        "beats": [
            {"depth": d, "title": titles[d], "summary": t["main_story"], "tension": 10 + 20 * d}
            for d in range(MAX_DEPTH + 1)
        ],
        "endings": [
            {
                "type": kind,
                "title": kind,
                "leads_there": t["main_story"],
                "from_depth": 1,
                "to_depth": MAX_DEPTH,
            }
            for kind in kinds
        ],
        "clues": [t["tape"]],
        "flags": [{"name": "found_diary", "meaning": t["c_diary"]}],
        "items": [{"name": t["tape"], "meaning": t["c_replay"]}],
    }


def export_tree(tree: Any) -> dict[str, Any]:
    """A tree in the export format: root, runtime_endings and nodes with depth, narrative, state, choices
    (text, consequences, next, bridge) and ending. Takes a tree dict (as :func:`sample_trees` gives) or
    any object with ``to_dict()`` or pydantic's ``model_dump()``."""
    if hasattr(tree, "model_dump"):
        tree = tree.model_dump(mode="json")
    elif hasattr(tree, "to_dict"):
        tree = tree.to_dict()
    result = {
        "root": tree["root"],
        "nodes": {
            nid: {
                "depth": node["depth"],
                "narrative": node["narrative"],
                "state": copy.deepcopy(node["state"]),
                "choices": [
                    {
                        "text": c["text"],
                        "consequences": copy.deepcopy(c["consequences"]),
                        "next": c["next"],
                        "bridge": c.get("bridge", ""),
                    }
                    for c in node["choices"]
                ],
                "ending": copy.deepcopy(node["ending"]),
            }
            for nid, node in tree["nodes"].items()
        },
    }
    if tree.get("runtime_endings"):
        result["runtime_endings"] = dict(tree["runtime_endings"])
    return result


def sample_trees(lang: str = "zh", city: str = "上海", characters: int = 2) -> list[dict[str, Any]]:
    """The trees behind :func:`sample_story` (same arguments, same names), as export-format dicts."""
    t = _TEXT[lang]
    return [_tree(t, name, city) for name in _NAMES[lang][:characters]]


def sample_story(
    city: str = "上海",
    lang: str = "zh",
    characters: int = 2,
    *,
    run_id: str | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """A complete, valid story dict. ``run_id`` defaults to a fresh uuid; ``names`` overrides the
    character names (the first is the protagonist). ``lang`` is "zh" or "en"."""
    if lang not in _TEXT:
        raise ValueError(f"sample stories exist in zh and en, not {lang!r}")
    t = _TEXT[lang]
    chosen = list(names) if names is not None else _NAMES[lang][:characters]
    if not 1 <= len(chosen) <= len(_EMOJI_NAMES):
        raise ValueError(f"between 1 and {len(_EMOJI_NAMES)} characters, not {len(chosen)}")
    people = []
    for position, name in enumerate(chosen):
        tree = _tree(t, name, city)
        people.append(
            {
                "name": name,
                "role": t["role"].format(name=name),
                "description": t["description"].format(name=name, city=city),
                "is_protagonist": position == 0,
                "plan": _plan(t, tree),
                "report": _report(tree),
                "tree": export_tree(tree),
            }
        )
    title = t["title"].format(city=city)
    return {
        "meta": {
            "format_version": 2,
            "generator": "ghost-story-factory 0.2.0",
            "backend": "offline",
            "model": "offline-writer-2",
            "offline": True,
            "run_id": run_id or str(uuid.uuid4()),
            "generated_at": "2026-11-24T06:00:00+00:00",
            "elapsed_seconds": 1.5,
            "resumed": False,
            "resumes": 0,
            "settings": {
                "lang": lang,
                "max_depth": MAX_DEPTH,
                "branching": 3,
                "max_nodes": 300,
                "concurrency": 8,
                "checkpoint_every": 50,
            },
            "tokens": {"prompt": 0, "completion": 0, "cached": 0, "total": 0},
            "cost_usd": 0.0,
            "calls": 9 * len(people),
        },
        "story": {
            "title": title,
            "city": city,
            "lang": lang,
            "synopsis": t["synopsis"].format(city=city),
            "game_design": t["game_design"],
            "lore": t["lore"],
            "main_story": t["main_story"],
            "scenes": [t["lobby"], t["monitor"], t["corridor"], t["stairs"]],
        },
        "characters": people,
    }


def sample_story_emoji(characters: int = 3, *, run_id: str | None = None) -> dict[str, Any]:
    """A zh story whose names, city and title carry emoji, variation selectors and rich-markup-like text."""
    story = sample_story("香港🌃", "zh", run_id=run_id, names=_EMOJI_NAMES[:characters])
    story["story"]["title"] = "[bold]👻 红衣[/bold]·午夜大楼"
    return story
