"""Small, valid stories in the export format (docs/export-format.md) for tests to save, load and play.

Every character gets the same eight-node graph (a DAG with two converged edges):

    node_0000 ─1→ node_0001 ─1→ node_0004 ─1→ node_0007  truth_revealed (depth 3)
        │             └──2→ node_0003        └──2→ node_0005
        ├─2→ node_0002  trapped (depth 1)
        └─3→ node_0003 ─1→ node_0005  fear_collapse (depth 2)
                      └──2→ node_0006  escape (depth 2)

Always choosing 1 ends in ``truth_revealed``; always choosing the last ends in ``escape``.
``node_0003`` is reached from the root and, by convergence, from ``node_0001``: its stored
state (PR 20, GR 0, WF 5) differs from node_0001's state + consequences (PR 20, GR 10, WF 0),
which is what a player must show.
"""

from __future__ import annotations

import uuid
from typing import Any

from ghost_story_factory.pregenerator.state import GameState
from ghost_story_factory.pregenerator.tree import Choice, Node, Tree, report

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
        "time": f"+{minutes}min",
        "scene": more.get("scene"),
        "flags": more.get("flags", {}),
        "items": more.get("items", []),
    }


def _tree(t: dict[str, str], name: str, city: str) -> Tree:
    """The graph as the pregenerator's own model, so its validate() and report() apply."""
    light, tape = t["flashlight"], t["tape"]

    def state(
        scene: str, pr: int, gr: int, wf: int, time: str, inv: tuple[str, ...] = (light,), **flags: Any
    ) -> GameState:
        return GameState(scene=t[scene], pr=pr, gr=gr, wf=wf, time=time, flags=flags, inventory=inv)

    def node(number: int, depth: int, st: GameState, **content: Any) -> Node:
        text = t[f"n{number}"].format(name=name, city=city)
        return Node(id=f"node_{number:04d}", depth=depth, state=st, narrative=text, **content)

    def choice(key: str, to: int, **cons: Any) -> Choice:
        return Choice(text=t[key], consequences=_consequences(**cons), next=f"node_{to:04d}")

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
                choice("c_up", 3, pr=15, wf=5, minutes=15, scene=t["corridor"]),
            ],
        ),
        node(
            1,
            1,
            state("monitor", 10, 10, 0, "00:10"),
            choices=[
                choice("c_replay", 4, pr=10, gr=30, minutes=20, items=[tape]),
                choice("c_go_up", 3, pr=10, scene=t["corridor"]),
            ],
        ),
        node(2, 1, state("outside", 5, 0, 5, "00:05"), ending=ending("trapped", "e_trapped", "writer")),
        node(
            3,
            1,
            state("corridor", 20, 0, 5, "00:15"),
            choices=[
                choice("c_open", 5, pr=80),
                choice("c_flee", 6, wf=10, minutes=10, scene=t["stairs"]),
            ],
        ),
        node(
            4,
            2,
            state("monitor", 20, 40, 0, "00:30", (light, tape)),
            choices=[
                choice("c_diary", 7, gr=60, minutes=30, flags={"found_diary": True}),
                choice("c_chase", 5, pr=80, scene=t["corridor"]),
            ],
        ),
        node(5, 2, state("corridor", 100, 0, 5, "00:20"), ending=ending("fear_collapse", "e_fear", "fear")),
        node(6, 2, state("stairs", 20, 0, 15, "00:25"), ending=ending("escape", "e_escape", "writer")),
        node(
            7,
            3,
            state("monitor", 20, 100, 0, "01:00", (light, tape), found_diary=True),
            ending=ending("truth_revealed", "e_truth", "writer"),
        ),
    ]
    return Tree(
        root="node_0000",
        nodes={n.id: n for n in nodes},
        queue=[],
        registry={n.state.state_hash(): n.id for n in nodes},
        node_counter=len(nodes),
        converged=2,
    )


def export_tree(tree: Tree) -> dict[str, Any]:
    """A tree in the export format: root and nodes with depth, narrative, state, choices, ending."""
    return {
        "root": tree.root,
        "nodes": {
            nid: {
                "depth": node.depth,
                "narrative": node.narrative,
                "state": node.state.to_dict(),
                "choices": [c.to_dict() for c in node.choices],
                "ending": node.ending,
            }
            for nid, node in tree.nodes.items()
        },
    }


def sample_trees(lang: str = "zh", city: str = "上海", characters: int = 2) -> list[Tree]:
    """The pregenerator-model trees behind :func:`sample_story` (same arguments, same names)."""
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
                "report": report(tree),
                "tree": export_tree(tree),
            }
        )
    title = t["title"].format(city=city)
    return {
        "meta": {
            "format_version": 1,
            "generator": "ghost-story-factory 0.1.0",
            "backend": "offline",
            "model": "offline-writer-1",
            "offline": True,
            "run_id": run_id or str(uuid.uuid4()),
            "generated_at": "2026-11-24T06:00:00+00:00",
            "elapsed_seconds": 1.5,
            "resumed": False,
            "settings": {
                "lang": lang,
                "max_depth": 20,
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
