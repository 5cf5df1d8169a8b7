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
) -> dict[str, Any]:
    return {
        "text": text,
        "consequences": {
            "PR": pr,
            "GR": gr,
            "WF": wf,
            "time": f"+{minutes}min",
            "scene": scene,
            "flags": flags or {},
            "items": items or [],
        },
        "next": nxt,
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


def _meta(lang: str) -> dict[str, Any]:
    return {
        "format_version": 1,
        "generator": "ghost-story-factory 0.1.0",
        "backend": "offline",
        "model": "offline-writer-1",
        "offline": True,
        "run_id": "00000000-0000-4000-8000-000000000000",
        "generated_at": "2026-11-24T06:00:00+00:00",
        "elapsed_seconds": 1.0,
        "resumed": False,
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


def _guard_tree() -> dict[str, Any]:
    """保安's night: 11 nodes, two merges (node_0004, node_0007), five ending types, flags of three types."""
    hall, basement, tower = "大堂", "地下室", "钟楼"
    nodes = {
        "node_0000": _node(
            0,
            "午夜零点，外滩老钟楼的大堂只剩你一个人。\n\n" + NASTY_ZH,
            _state(hall, 5, 0, 0, "00:00"),
            [
                _choice("打开手电筒，走向地下室", "node_0001", pr=10, items=["手电筒"], scene=basement),
                _choice("[查看] 值班日志 {第 3 页}", "node_0002", gr=10, flags={"read_log": True}),
                _choice("给前任保安老王打电话 | 无人接听", "node_0003", wf=15, flags={"called_wang": 1}),
            ],
        ),
        "node_0001": _node(
            1,
            "地下室的水管在滴水。墙上有人用粉笔写着：别回头。",
            _state(basement, 15, 0, 0, "00:10", inventory=["手电筒"]),
            [
                _choice("回头", "node_0004", pr=20, flags={"looked_back": True}),
                _choice("捡起地上的旧钥匙", "node_0005", gr=5, items=["铜钥匙 🗝️"]),
            ],
        ),
        "node_0002": _node(
            1,
            "日志最后一页写着：1937 年 8 月 13 日，钟停了。",
            _state(hall, 5, 10, 0, "00:10", flags={"read_log": True}),
            [
                _choice("去钟楼看看那口钟", "node_0006", gr=10, scene=tower),
                _choice("合上日志，去地下室", "node_0004", pr=15, scene=basement),
            ],
        ),
        "node_0003": _node(
            1,
            "电话那头传来老王的声音，可他去年就死了。",
            _state(hall, 5, 0, 15, "00:10", flags={"called_wang": 1}),
            [
                _choice("问他钟楼的事", "node_0006", gr=15, wf=5, scene=tower),
                _choice("挂断电话", "node_0010", pr=60),
            ],
        ),
        # Merged: reached from node_0001 and node_0002; the arrival state is the node's own.
        "node_0004": _node(
            2,
            "你看见一个穿旗袍的女人站在锅炉旁，背对着你。",
            _state(
                basement,
                30,
                10,
                0,
                "00:20",
                flags={"looked_back": True, "read_log": True},
                inventory=["手电筒"],
            ),
            [
                _choice("叫她", "node_0007", wf=10, flags={"ghost_name": "阿秀"}),
                _choice("关掉手电筒", "node_0008", pr=30, flags={"looked_back": False}),
            ],
        ),
        "node_0005": _node(
            2,
            "钥匙上刻着“钟楼”二字，冰凉刺骨。",
            _state(basement, 15, 5, 0, "00:20", inventory=["手电筒", "铜钥匙 🗝️"]),
            [
                _choice("用钥匙打开钟楼的门", "node_0007", gr=10, scene=tower),
                _choice("把钥匙扔进下水道", "node_0009", pr=5),
            ],
        ),
        "node_0006": _node(
            2,
            "钟楼里，巨大的钟摆静止不动，指针停在三点三十三分。",
            _state(tower, 5, 20, 5, "00:25", flags={"read_log": True}),
            [
                _choice("推动钟摆", "node_0009", gr=40),
                _choice("在钟下等待天亮", "node_0007", wf=5),
            ],
        ),
        # Merged from node_0004, node_0005 and node_0006.
        "node_0007": _node(
            3,
            "女人转过身来。她没有脸，只有一只停摆的怀表。",
            _state(
                tower,
                30,
                20,
                10,
                "00:40",
                flags={"ghost_name": "阿秀", "read_log": True},
                inventory=["手电筒"],
            ),
            [
                _choice("把怀表上好发条", "node_0009", gr=50, flags={"wound_watch": True}),
                _choice("转身逃跑", "node_0008", pr=40),
            ],
        ),
        "node_0008": _node(
            4,
            "黑暗吞没了你。你听见钟声一下一下地敲响，直到你数不清。",
            _state(basement, 90, 10, 10, "01:00", flags={"looked_back": False}),
            ending={"type": "trapped", "title": "永远的值班", "reason": "writer"},
        ),
        "node_0009": _node(
            4,
            "钟声重新响起。你终于明白，1937 年的那个夜晚，她一直在等人把时间还给她。",
            _state(tower, 25, 90, 30, "03:10", flags={"wound_watch": True}, inventory=["铜钥匙 🗝️"]),
            ending={"type": "truth_revealed", "title": "钟声", "reason": "writer"},
        ),
        "node_0010": _node(
            2,
            "挂断的瞬间，大堂的灯全灭了。你的心跳声盖过了一切。",
            _state(hall, 100, 0, 15, "00:15", flags={"called_wang": 1}),
            ending={"type": "fear_collapse", "title": "断线", "reason": "fear"},
        ),
    }
    return {"root": "node_0000", "nodes": nodes}


def _ghost_tree() -> dict[str, Any]:
    """The ghost's own short night: an emoji name, a dawn ending and a possessed ending."""
    nodes = {
        "node_0000": _node(
            0,
            "你是阿秀。你已经在钟楼里等了八十多年。",
            _state("钟楼", 5, 30, 50, "00:00", inventory=["怀表"]),
            [
                _choice("附身在新来的保安身上", "node_0001", pr=5, flags={"possessing": True}),
                _choice("继续等待", "node_0002", minutes=240),
            ],
        ),
        "node_0001": _node(
            1,
            "保安的身体很温暖。你几乎忘了温暖是什么感觉。",
            _state("大堂", 10, 30, 60, "00:10", flags={"possessing": True}, inventory=["怀表"]),
            ending={"type": "possessed", "title": "借来的身体", "reason": "writer"},
        ),
        "node_0002": _node(
            1,
            "天亮了。外滩的第一班轮渡鸣笛，你又一次消失在晨光里。",
            _state("钟楼", 5, 30, 50, "04:00", inventory=["怀表"]),
            ending={"type": "dawn", "title": "又一个清晨", "reason": "dawn"},
        ),
    }
    return {"root": "node_0000", "nodes": nodes}


def _keeper_tree() -> dict[str, Any]:
    """An English night with escape, sacrifice and dawn endings and one merge (node_0003)."""
    nodes = {
        "node_0000": _node(
            0,
            "The lamp room is cold. Somebody has left a wet footprint on the stairs.\n\n" + NASTY_EN,
            _state("Lamp room", 5, 0, 0, "00:00"),
            [
                _choice("Follow the footprints down", "node_0001", pr=10, scene="Stairwell"),
                _choice('Read the keeper\'s log: "Day 1 -> Day 40"', "node_0002", gr=10, flags={"log": 40}),
            ],
        ),
        "node_0001": _node(
            1,
            "The footprints stop at the door to the sea.",
            _state("Stairwell", 15, 0, 0, "00:10"),
            [
                _choice("Open the door", "node_0003", pr=10, items=["rusty key"]),
                _choice("Run for the boat", "node_0004", pr=5, flags={"boat": True}),
            ],
        ),
        "node_0002": _node(
            1,
            "The last entry reads: she walks at three. Do not light the lamp.",
            _state("Lamp room", 5, 10, 0, "00:10", flags={"log": 40}),
            [
                _choice("Light the lamp anyway", "node_0003", gr=20, items=["matches"]),
                _choice("Wait for morning", "node_0005", minutes=230),
            ],
        ),
        "node_0003": _node(
            2,
            "A drowned woman stands in the light, holding out her hand.",
            _state("Lamp room", 25, 20, 5, "00:30", flags={"log": 40}, inventory=["rusty key", "matches"]),
            [
                _choice("Take her hand", "node_0006", wf=30),
                _choice("Throw the matches into the sea", "node_0004", pr=5, flags={"boat": True}),
            ],
        ),
        "node_0004": _node(
            3,
            "You row until the lighthouse is a pin of light behind you.",
            _state("Sea", 40, 20, 5, "01:00", flags={"boat": True}),
            ending={"type": "escape", "title": "Open Water", "reason": "writer"},
        ),
        "node_0005": _node(
            2,
            "Grey light. The gulls are back. Nothing walked tonight.",
            _state("Lamp room", 5, 10, 0, "04:00", flags={"log": 40}),
            ending={"type": "dawn", "title": "Morning Watch", "reason": "dawn"},
        ),
        "node_0006": _node(
            3,
            "Her hand is cold, and then so is yours. The lamp will never go out again.",
            _state("Lamp room", 50, 60, 80, "03:00", flags={"log": 40}, inventory=["matches"]),
            ending={"type": "sacrifice", "title": "The Keeper's Light", "reason": "writer"},
        ),
    }
    return {"root": "node_0000", "nodes": nodes}


def _character(name: str, role: str, protagonist: bool, tree: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "description": f"{role}.",
        "is_protagonist": protagonist,
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
            _character("保安", "夜班保安", True, _guard_tree()),
            _character("👻阿秀", "钟楼里的女人", False, _ghost_tree()),
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
        "characters": [_character("Keeper", "the new lighthouse keeper", True, _keeper_tree())],
    }


def all_samples() -> dict[str, dict[str, Any]]:
    """Every sample by a short name; each call returns fresh copies that a test may mutate."""
    samples = {"zh": zh_story(), "en": en_story()}
    try:  # another engineer's builder, when it exists, is exercised too
        from story_samples import sample_story  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        samples["shared"] = copy.deepcopy(sample_story(city="上海", lang="zh", characters=2))
    for lang in ("zh", "en"):  # real stories from the offline writer, merges and all
        samples[f"offline_{lang}"] = copy.deepcopy(_offline_story(lang))
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


def expected_variables(tree: dict[str, Any], node_id: str, lang: str) -> dict[str, Any]:
    """The engine variables a node's state must show, worked out here independently of the exporter."""
    flag_values: dict[str, list[Any]] = {}
    for node in tree["nodes"].values():
        for name, value in node["state"]["flags"].items():
            flag_values.setdefault(name, []).append(value)
    state = tree["nodes"][node_id]["state"]
    hours, mins = state["time"].split(":")
    expected: dict[str, Any] = {
        "fear": state["PR"],
        "truth": state["GR"],
        "familiarity": state["WF"],
        "time": int(hours) * 60 + int(mins),
        "clock": state["time"],
        "scene": state["scene"],
        "inventory": ("、" if lang == "zh" else ", ").join(state["inventory"]),
    }
    for name, values in flag_values.items():
        if all(isinstance(v, bool) for v in values):
            default: Any = False
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            default = 0
        else:
            default = ""
        expected[ident("f", name)] = state["flags"].get(name, default)
    return expected


def sample_cases(samples: dict[str, dict[str, Any]]) -> list[Any]:
    """One pytest case per (sample, character)."""
    import pytest

    return [
        pytest.param(key, char["name"], id=f"{key}-{char['name']}")
        for key, story in samples.items()
        for char in story["characters"]
    ]


def checker_reports(
    samples: dict[str, dict[str, Any]], fmt: str, script: str, directory: Path
) -> dict[tuple[str, str], dict[str, Any]]:
    """Export every sample character in ``fmt`` and run one node checker over all the files:
    (sample, character) -> that file's report."""
    from ghost_story_factory.export import render

    paths: dict[tuple[str, str], Path] = {}
    for key, story in samples.items():
        for char in story["characters"]:
            [path] = write_files(render(story, fmt, char["name"]), directory)
            paths[(key, char["name"])] = path
    reports = run_node(script, *(str(p) for p in paths.values()))
    return {key: reports[str(path)] for key, path in paths.items()}
