"""A writer whose every reply is hostile (tests/data/hostile_replies.json: the markup of Ink, Yarn, Twee,
HTML, DOT and Mermaid, terminal escapes, bidi overrides, a lone surrogate as a JSON escape) drives a real
``generate`` process; every export of the story it makes then compiles and plays to an ending in the
engines' own runtimes with each payload shown as text, no script runs in Chromium and no escape sequence
reaches a terminal.

The local server is tests/fake_openai_server.py: its schema-valid reply gets the corpus written into
every free-text string (each narrative holds every payload on a line of its own, where line-start markup
bites), and its JSON is sent ASCII-escaped so that the lone surrogate arrives as ``\\ud800``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fake_openai_server
import orjson
import pytest
from export_samples import flat, need_chromium, need_graphviz, need_node_packages, run_node
from fake_openai_server import DEFAULT_KEY, FakeOpenAI

from ghost_story_factory.export._common import file_part, labels
from ghost_story_factory.text import clean_text

CORPUS = json.loads((Path(__file__).parent / "data" / "hostile_replies.json").read_text("utf-8"))
ALL: list[str] = [entry["text"] for entry in CORPUS["payloads"]]
SURROGATE = next(entry["text"] for entry in CORPUS["payloads"] if entry["id"] == "lone-surrogate")
# The lone surrogate has its own runs below (it is a parsing hazard, not markup): in schema mode it waits
# for a fix in openai_writer.py.
PAYLOADS: list[str] = [text for text in ALL if text != SURROGATE]
CITY = "上海 [[城]] <<run 1>> {x}"
PWNED = "document.documentElement.dataset.pwned"
TERMINAL = ("\x1b", "\x9b", "\u202e", "\x07")
_ORIGINAL_REPLY = fake_openai_server.make_reply


def _pick(value: str, path: str, payloads: list[str]) -> str:
    digest = hashlib.sha256(f"{path}|{value}".encode("utf-8", "surrogatepass")).digest()
    return payloads[int.from_bytes(digest[:4], "big") % len(payloads)]


def _hostile(value: Any, schema: dict[str, Any], path: str, payloads: list[str]) -> Any:
    """``value`` (valid for ``schema``) with the corpus written into every free-text string; enums,
    constants, patterned names and numbers stay as they are, so the reply stays valid."""
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            if (value is None) == _allows_null(option):
                return _hostile(value, option, path, payloads)
        return value
    kind = schema.get("type")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        out = {k: _hostile(v, props.get(k, {}), f"{path}.{k}", payloads) for k, v in value.items()}
        if path.endswith("consequences") and path.endswith("0.consequences"):
            # The first choice of a node names a hostile scene and picks up a hostile item.
            out["scene"] = f"{_pick('scene', path, payloads)}\n场景 {path[-24:]}"[:60]
            out["items"] = [_pick("item", path, payloads)[:30] + "\n物"]
        return out
    if isinstance(value, list):
        items = schema.get("items") or {}
        return [_hostile(v, items, f"{path}.{i}", payloads) for i, v in enumerate(value)]
    if isinstance(value, str) and (kind == "string" or kind is None):
        if "enum" in schema or "const" in schema or "pattern" in schema:
            return value
        cap = min(int(schema.get("maxLength", 10_000)), _cap(path))
        if cap >= 2000:  # a narrative or a long document: every payload, each at a line start
            text = "\n".join([value, *payloads, value])
            return text[:cap]
        room = cap - len(value) - 1
        payload = _pick(value, path, payloads)[: max(0, room)]
        return f"{payload}\n{value}" if payload else value
    return value


# The local caps (writers/schemas.py): the schema on the wire may leave maxLength out.
_CAPS = {
    "narrative": 4000, "main_story": 4000, "game_design": 3000, "lore": 3000, "synopsis": 1500,
    "bridges": 600, "description": 400, "summary": 300, "leads_there": 300, "clues": 300, "text": 200,
    "meaning": 200, "role": 120, "title": 60, "scenes": 60, "name": 40,
}  # fmt: skip


def _cap(path: str) -> int:
    for part in reversed(path.split(".")):
        if part in _CAPS:
            return _CAPS[part]
    return 40


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def hostile(payloads: list[str]) -> Any:
    """A make_reply for the fake server that writes ``payloads`` into every reply."""

    def reply(
        schema: dict[str, Any] | None, messages: list[Any], decoder: str = "helpful", seed: Any = None
    ) -> dict[str, Any]:
        made = _ORIGINAL_REPLY(schema, messages, decoder, seed)
        return _hostile(made, schema, "", payloads) if schema else made

    return reply


def _ascii_dumps(obj: Any, **options: Any) -> str:
    return json.dumps(obj, **{**options, "ensure_ascii": True})


class _AsciiJson:
    """The json module for the fake server, but every dumps ASCII-escaped."""

    dumps = staticmethod(_ascii_dumps)

    def __getattr__(self, name: str) -> Any:
        return getattr(json, name)


ASCII_JSON = _AsciiJson()


@contextlib.contextmanager
def serving(payloads: list[str]) -> Iterator[FakeOpenAI]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fake_openai_server, "make_reply", hostile(payloads))
        patch.setattr(fake_openai_server, "json", ASCII_JSON)  # a lone surrogate goes out as \ud800
        with FakeOpenAI(retry_after_s=0.05) as server:
            yield server


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[FakeOpenAI]:
    with serving(PAYLOADS) as server:
        yield server


def environment(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, OPENAI_API_KEY=DEFAULT_KEY, GSF_BACKOFF_MAX="0.05", GSF_MAX_ATTEMPTS="4")
    env.update(extra)
    return env


def ghost(folder: Path, url: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", *args],
        cwd=folder,
        capture_output=True,
        timeout=timeout,
        env=environment(url),
        check=False,
    )


FORMATS = ("json", "ink", "yarn", "twee", "html", "dot", "mermaid", "svg")


@pytest.fixture(scope="module")
def made(hostile_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One hostile generation through the real command line, and every export of its story."""
    folder = tmp_path_factory.mktemp("hostile")
    args = ("--city", CITY, "--max-nodes", "14", "--max-depth", "4", "--concurrency", "4", "--json")
    result = ghost(folder, hostile_server.url, "generate", *args)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-3000:]
    report = orjson.loads(result.stdout)
    story_id = str(report["story_id"])
    exports: dict[str, list[Path]] = {}
    for fmt in FORMATS:
        if fmt == "svg" and not shutil.which("dot"):
            continue
        target = folder / "exports" / fmt
        target.mkdir(parents=True)
        done = ghost(
            folder, hostile_server.url, "export", story_id, "--format", fmt, "-o", f"{target}{os.sep}"
        )
        assert done.returncode == 0, (fmt, done.stderr.decode("utf-8", "replace")[-2000:])
        assert b"Traceback" not in done.stderr, fmt
        exports[fmt] = sorted(target.iterdir())
    [story_file] = exports["json"]
    story = orjson.loads(story_file.read_bytes())
    return {"folder": folder, "story": story, "story_id": story_id, "exports": exports, "generate": result}


def _texts(story: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                found.append(str(k))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(story)
    return found


def _shown(payload: str) -> str:
    """A payload as the story keeps it: controls, escapes and lone surrogates gone, white space folded."""
    return flat(clean_text(payload))


def test_the_generation_keeps_every_payload_as_text_and_nothing_else(made: dict[str, Any]) -> None:
    story = made["story"]
    texts = _texts(story)
    joined = "\n".join(texts)
    for payload in PAYLOADS:
        kept = _shown(payload)
        if kept:
            assert kept in flat(joined), payload
    for text in texts:
        assert not any(ch in text for ch in TERMINAL), text[:80]
        assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text), text[:80]
    names = [c["name"] for c in story["characters"]]
    assert len(names) >= 2 and any(set(name) & set("<>[]{}/*#=-~:") for name in names), names  # hostile
    scenes = {n["state"]["scene"] for c in story["characters"] for n in c["tree"]["nodes"].values()}
    items = {
        i for c in story["characters"] for n in c["tree"]["nodes"].values() for i in n["state"]["inventory"]
    }
    assert any(_shown(p) in s for s in scenes for p in PAYLOADS if _shown(p)), scenes
    assert items, "the hostile items reached the story"
    assert b"Traceback" not in made["generate"].stderr


def test_names_titles_and_the_opening_scene_are_one_line(made: dict[str, Any]) -> None:
    story = made["story"]
    one_line = [story["story"]["title"], *(c["name"] for c in story["characters"])]
    one_line += [n["state"]["scene"] for c in story["characters"] for n in c["tree"]["nodes"].values()]
    assert all("\n" not in text for text in one_line), [t for t in one_line if "\n" in t][:3]


def _character_file(made: dict[str, Any], fmt: str, name: str) -> Path:
    files = made["exports"][fmt]
    assert len(files) == len(made["story"]["characters"]), files
    [path] = [p for p in files if p.stem.endswith("_" + file_part(name, "character"))]
    return path


def _with_trees(made: dict[str, Any], fmt: str) -> list[Path]:
    paths = []
    for character in made["story"]["characters"]:
        path = _character_file(made, fmt, character["name"])
        path.with_name(path.name + ".tree.json").write_text(json.dumps(character["tree"], ensure_ascii=False))
        paths.append(path)
    return paths


def _narrative(node: dict[str, Any]) -> list[str]:
    return [flat(line) for line in node["narrative"].splitlines() if line.strip()]


def _plays_end(plays: dict[str, Any], who: str) -> None:
    assert plays["count"] > 0 and plays["violationCount"] == 0, (who, plays["violations"][:3])
    assert sum(plays["endingMix"].values()) == pytest.approx(1.0), (who, plays["endingMix"])


def test_ink_compiles_and_plays_every_payload_as_text(made: dict[str, Any]) -> None:
    need_node_packages("inkjs")
    paths = _with_trees(made, "ink")
    reports = run_node("ink_check.js", "--plays", "200", "--seed", "3", *map(str, paths), timeout=600)
    for character, path in zip(made["story"]["characters"], paths, strict=True):
        report = reports[str(path)]
        who = character["name"]
        assert report["errors"] == [] and report["warnings"] == [] and report["problems"] == [], (
            who,
            (report["errors"] + report["warnings"] + report["problems"])[:3],
        )
        nodes = character["tree"]["nodes"]
        assert set(report["knots"]) == set(nodes), who
        for nid, seen in report["knots"].items():
            node = nodes[nid]
            text = [flat(line) for line in seen["text"]]
            assert text[: len(_narrative(node))] == _narrative(node), (who, nid)
            assert seen["choices"] == [flat(c["text"]) for c in node["choices"]], (who, nid)
        _plays_end(report["plays"], who)


def _yarn_plain(text: str) -> str:
    return flat(text).replace("：", ":").replace("∶", ":")


def test_yarn_parses_and_plays_every_payload_as_text(made: dict[str, Any]) -> None:
    need_node_packages("yarn-bound")
    paths = _with_trees(made, "yarn")
    reports = run_node("yarn_check.js", "--plays", "200", "--seed", "3", *map(str, paths), timeout=600)
    for character, path in zip(made["story"]["characters"], paths, strict=True):
        report = reports[str(path)]
        who = character["name"]
        assert report["errors"] == [], (who, report["errors"][:3])
        nodes = character["tree"]["nodes"]
        assert set(report["nodes"]) == set(nodes) | {"Start"} or set(report["nodes"]) == set(nodes), who
        for nid, node in nodes.items():
            seen = report["nodes"][nid]
            text = [_yarn_plain(line) for line in seen["text"]]
            assert text[: len(_narrative(node))] == [_yarn_plain(t) for t in _narrative(node)], (who, nid)
            assert [_yarn_plain(c) for c in seen["options"] or []] == [
                _yarn_plain(c["text"]) for c in node["choices"]
            ], (who, nid)
        _plays_end(report["plays"], who)


def test_twee_parses_and_plays_every_payload_as_text(made: dict[str, Any]) -> None:
    need_node_packages("extwee")
    paths = _with_trees(made, "twee")
    reports = run_node("twee_check.mjs", "--plays", "200", "--seed", "3", *map(str, paths), timeout=600)
    for character, path in zip(made["story"]["characters"], paths, strict=True):
        report = reports[str(path)]
        who = character["name"]
        assert report["errors"] == [] and report["problems"] == [], (
            who,
            (report["errors"] + report["problems"])[:3],
        )
        nodes = character["tree"]["nodes"]
        passages = {p["name"]: p for p in report["passages"]}
        assert set(nodes) <= set(passages), who
        for nid, node in nodes.items():
            assert passages[nid]["links"] == [], (who, nid)  # no [[link]]: Twine would draw and follow it
            shown = [flat(t).replace('“""', '"""') for t in report["shown"][nid]["text"]]
            assert shown[: len(_narrative(node))] == _narrative(node), (who, nid)
            links = [flat(t).replace('“""', '"""') for t in report["shown"][nid]["links"]]
            restart = [labels(made["story"]["story"].get("lang"))["restart"]] if node["ending"] else []
            assert links == [flat(c["text"]) for c in node["choices"]] + restart, (who, nid)
        assert flat(who) in report["name"], (who, report["name"])
        _plays_end(report["plays"], who)


def test_the_html_player_shows_every_payload_and_runs_none(made: dict[str, Any], tmp_path: Path) -> None:
    need_chromium()
    [path] = made["exports"]["html"]
    path.with_name(path.name + ".story.json").write_text(json.dumps(made["story"], ensure_ascii=False))
    report = run_node(
        "html_check.js", "--plays", "60", "--seed", "5", str(path), str(tmp_path / "shot"), "0", timeout=900
    )
    assert report["errors"] == [] and report["pageErrors"] == [] and report["consoleErrors"] == [], report
    assert report["pwned"] == [] and report["dialogs"] == [], (report["pwned"], report["dialogs"])
    assert set(report["requests"]) == {report["fileUrl"], report["httpUrl"]}  # no image, no script fetched
    first = report["runs"][0]["path"][0]
    character = made["story"]["characters"][report["runs"][0]["character"]]
    root = character["tree"]["nodes"][character["tree"]["root"]]
    assert flat("\n".join(first["narrative"])) == flat(root["narrative"])
    for run in report["runs"]:
        assert run["problems"] == [] and run.get("ending"), run["problems"]
    for plays, char in zip(report["plays"], made["story"]["characters"], strict=True):
        _plays_end(plays, char["name"])


def test_dot_and_svg_are_read_back_by_graphviz(made: dict[str, Any]) -> None:
    need_graphviz()
    for path in made["exports"]["dot"]:
        result = subprocess.run(["dot", "-Tjson", str(path)], capture_output=True, check=False, timeout=120)
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr[-500:]
        graph = json.loads(result.stdout)
        labels = " ".join(str(o.get("label", "")) for o in graph.get("objects", []))
        assert "evil" not in {o.get("name") for o in graph.get("objects", [])}  # no node injected by a label
        assert labels
    for path in made["exports"]["svg"]:
        svg = path.read_text("utf-8")
        assert "<script" not in svg.lower() and "onerror" not in svg.replace("onerror=&quot;", "")


def test_mermaid_draws_in_mermaid_11_with_no_markup_in_a_label(made: dict[str, Any]) -> None:
    """Each node label is one quoted string with no quote, tag or bracket of its own (Mermaid's #quot;
    #lt; #91; entities instead), and Mermaid 11 itself draws every file with every node and edge."""
    from test_map_mermaid import _declared, _render_in_mermaid

    paths = made["exports"]["mermaid"]
    for path in paths:
        for line in path.read_text("utf-8").splitlines():
            if '(["' in line or '["' in line:
                label = line[line.index('"') + 1 : line.rindex('"')]
                assert '"' not in label and "<" not in label.replace("<br/>", ""), line
                assert not any(ch in label for ch in "[]{}()`"), line
    report = _render_in_mermaid(paths)
    assert report["requests"] == [] and report["pageErrors"] == [], report
    for path, shown in zip(paths, report["files"], strict=True):
        nodes, edges = _declared(path.read_text("utf-8"))
        assert shown["error"] is None and not shown["syntaxError"], (path.name, shown)
        assert (shown["nodes"], shown["edges"]) == (len(nodes), len(edges)), path.name


def test_the_terminal_player_in_a_pty_shows_the_payloads_and_no_sequence(made: dict[str, Any]) -> None:
    from test_terminal_safety import _pty_run

    story = made["story"]
    character = story["characters"][0]
    output = _pty_run(
        [
            sys.executable,
            "-m",
            "ghost_story_factory",
            "play",
            made["story_id"],
            "--character",
            character["name"],
        ],
        made["folder"],
        "1\n" * 12 + "q\n",
    )
    text = output.decode("utf-8", "replace")
    for forbidden in ("\x1b]0;", "\x1b[2J", "\x1b]8;", "\u202e", "pwned-title\x07", "\x9b"):
        assert forbidden not in text, (forbidden, text[:400])
    root = character["tree"]["nodes"][character["tree"]["root"]]
    for line in _narrative(root)[1:6]:
        assert line[:20] in flat(text), (line, text[:2000])


def test_the_corpus_is_every_kind_the_issue_names() -> None:
    ids = {entry["id"] for entry in CORPUS["payloads"]}
    for kind in (
        "ink-block-comment",
        "ink-divert",
        "yarn-bom-end",
        "twee-link",
        "html-script",
        "lone-surrogate",
    ):
        assert kind in ids
    assert any(0xD800 <= ord(ch) <= 0xDFFF for ch in SURROGATE)


def test_the_html_checker_sees_a_script_that_runs(tmp_path: Path) -> None:
    """The absence of data-pwned means something only if the checker reports a page that does set it."""
    need_chromium()
    page = tmp_path / "probe.html"
    page.write_text(
        '<!doctype html><div id="app"><p>x</p></div>'
        "<script>document.documentElement.dataset.pwned = 'probe'; alert('probe')</script>"
    )
    report = run_node("html_check.js", str(page), str(tmp_path / "shot"), "0", timeout=300)
    assert report["pwned"] and report["pwned"][0].endswith("probe") and report["dialogs"] == ["probe"]


@pytest.mark.parametrize(
    "mode",
    [
        "object",
        "schema",
    ],
)
def test_a_lone_surrogate_never_fails_a_reask_or_a_save(mode: str, tmp_path: Path) -> None:
    """Every string of every reply carries ``\\ud800`` (a JSON escape no parser decodes); two replies are
    cut at the output cap first, so their surrogate-laden starts are quoted back in a re-ask."""
    with serving([SURROGATE, f"{SURROGATE}\udc00 end"]) as server:
        server.configure(faults=["ok", "truncate", "ok", "truncate"])
        env = environment(server.url, GSF_JSON_MODE=mode)
        args = ("--city", "上海", "--characters", "保安", "--max-nodes", "10", "--max-depth", "4", "--json")
        result = subprocess.run(
            [sys.executable, "-m", "ghost_story_factory", "generate", *args],
            cwd=tmp_path,
            capture_output=True,
            timeout=300,
            env=env,
            check=False,
        )
        bodies = [entry["body"] for entry in server.received() if entry.get("body")]
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-2000:]
    assert b"Traceback" not in result.stderr
    reasks = [b for b in bodies if any(m.get("role") == "assistant" for m in b["messages"])]
    assert reasks, "a cut reply was asked again"
    for body in reasks:
        assert not any(0xD800 <= ord(ch) <= 0xDFFF for m in body["messages"] for ch in str(m.get("content")))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if not data.startswith(b"SQLite format 3\0"):
                data.decode("utf-8")  # every text file is valid UTF-8: no surrogate was written
            assert b"\xed\xa0\x80" not in data and b"\xed\xb0\x80" not in data, path  # nor with surrogatepass
            assert b"\\ud800" not in data.lower() and b"\\udc00" not in data.lower(), path
    story_id = orjson.loads(result.stdout)["story_id"]
    shown = subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", "export", str(story_id), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert shown.returncode == 0 and "alone" in shown.stdout.decode("utf-8")
