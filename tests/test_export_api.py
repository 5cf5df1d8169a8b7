"""The public export API: formats, file names, character selection, JSON bytes, errors, determinism."""

from __future__ import annotations

import copy
import unicodedata

import orjson
import pytest
from export_samples import OFFLINE_ERRORS, all_samples

from ghost_story_factory.errors import GhostStoryError
from ghost_story_factory.export import FORMATS, ExportError, export_json, render
from ghost_story_factory.export._common import file_part
from ghost_story_factory.names import safe_name
from ghost_story_factory.pregenerator import checkpoints

SAMPLES = all_samples()
TEXT_FORMATS = ("json", "ink", "yarn", "twee", "html", "dot", "mermaid")


def test_real_offline_stories_are_among_the_samples() -> None:
    """Every export test also runs on stories the offline writer wrote (through the real generator)."""
    assert OFFLINE_ERRORS == {}, OFFLINE_ERRORS
    assert {"offline_zh", "offline_en"} <= set(SAMPLES)


def test_formats_are_the_documented_ones() -> None:
    assert FORMATS == ("json", "ink", "yarn", "twee", "html", "dot", "mermaid", "png", "svg")
    assert issubclass(ExportError, GhostStoryError) and ExportError.exit_code == 1


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_render_is_deterministic_with_safe_unique_names(sample: str, fmt: str) -> None:
    story = SAMPLES[sample]
    files = render(story, fmt)
    assert files == render(copy.deepcopy(story), fmt)
    names = [name for name, _ in files]
    assert len(set(names)) == len(names)
    per_character = fmt not in ("json", "html")
    assert len(files) == (len(story["characters"]) if per_character else 1)
    for name, content in files:
        assert isinstance(content, bytes) and content
        content.decode("utf-8")
        assert "/" not in name and "\\" not in name and ".." not in name
        assert not any(unicodedata.category(ch) == "Cc" for ch in name)
        assert len(name.encode("utf-8")) <= 255
    if per_character:
        for (name, _), char in zip(files, story["characters"], strict=True):
            assert safe_name(char["name"]) in name


def test_file_names_keep_unicode_and_emoji() -> None:
    names = [name for name, _ in render(SAMPLES["zh"], "ink")]
    title = safe_name("外滩钟楼/停摆之夜")
    assert names == [f"{title}_保安.ink", f"{title}_👻阿秀.ink"]
    assert title.startswith("外滩钟楼-停摆之夜-")  # the slash changed, so the exact title's hash follows
    assert [name for name, _ in render(SAMPLES["en"], "yarn")] == [
        f"{safe_name('Portland')}_{safe_name('Keeper')}.yarn"  # no title: the city
    ]
    assert [name for name, _ in render(SAMPLES["zh"], "html")] == [f"{title}.html"]
    assert [name for name, _ in render(SAMPLES["zh"], "json")] == [f"{title}.json"]


NAMES = [
    "../../etc/passwd",
    'a/b\\c:d*e?f"g<h>i|j',
    "bell\x07\ttab\nline",
    "  ..hidden.. ",
    "CON",
    "con.txt",
    "COM0",
    "lpt9.ink",
    "",
    "鬼故事 👻 🕯️",
    "Zoë🕯️",
    "a_b",
    "x-0123abcd",
    "\ud800lone",
    "\u202egnp.exe",
    "鬼" * 200,
    "👻" * 60,
    "e\u0301",
]


@pytest.mark.parametrize("raw", NAMES)
def test_one_safe_name_for_checkpoints_and_exports(raw: str) -> None:
    """names.safe_name is the function checkpoints named their files with: same output for every input."""
    ours = safe_name(raw)
    assert ours == checkpoints.safe_name(raw)
    assert not any(ch in ours for ch in '/\\:*?"<>|') and ".." not in ours.lstrip(".")[:2]
    assert not ours.startswith(".") and not any(unicodedata.category(ch)[0] == "C" for ch in ours)
    assert len(ours.encode("utf-8")) <= 96 + 9
    exported = file_part(raw, "story")
    assert exported.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM0", "LPT9"}
    folded = safe_name(" ".join(raw.split())) if raw.strip() else "story"  # exports fold white space first
    assert exported in (folded, "_" + folded)


def test_export_file_parts_use_the_one_function_and_a_fallback() -> None:
    assert file_part("", "story") == safe_name("story") == "story"
    assert file_part("  \n ", "character") == "character"
    assert file_part("Keeper/1", "character") == safe_name("Keeper/1")
    assert file_part("Keeper/1", "character") != file_part("Keeper:1", "character")


def test_long_names_are_cut_on_a_character_boundary() -> None:
    part = file_part("鬼" * 200, "story")
    assert len(part.encode("utf-8")) <= 96 + 9 and set(part[:-9]) == {"鬼"}


def test_character_limits_every_format_to_one() -> None:
    story = SAMPLES["zh"]
    for fmt in TEXT_FORMATS:
        files = render(story, fmt, "👻阿秀")
        assert len(files) == 1 and "👻阿秀" in files[0][0], fmt
    one = orjson.loads(render(story, "json", "保安")[0][1])
    assert [c["name"] for c in one["characters"]] == ["保安"]
    assert one["story"] == story["story"]


def test_unknown_character_lists_the_names() -> None:
    with pytest.raises(ExportError) as raised:
        render(SAMPLES["zh"], "ink", "Nobody")
    message = str(raised.value)
    assert "Nobody" in message and "保安" in message and "👻阿秀" in message
    assert "\n" not in message


def test_unknown_format_is_an_export_error() -> None:
    with pytest.raises(ExportError, match="unknown export format 'pdf'"):
        render(SAMPLES["en"], "pdf")


def test_export_json_is_sorted_indented_and_ends_with_a_newline() -> None:
    story = SAMPLES["zh"]
    data = export_json(story)
    assert data == orjson.dumps(story, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"
    assert data == export_json(copy.deepcopy(story))
    assert orjson.loads(data) == story
    assert render(story, "json") == [(f"{safe_name('外滩钟楼/停摆之夜')}.json", data)]


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda s: s.pop("characters"), "no characters"),
        (lambda s: s["characters"][0]["tree"].update(root="node_9999"), "root 'node_9999' is not a node"),
        (
            lambda s: s["characters"][0]["tree"]["nodes"]["node_0000"]["choices"][0].update(next="node_4242"),
            "missing node 'node_4242'",
        ),
        (lambda s: s["characters"][0]["tree"]["nodes"]["node_0003"].update(choices=[]), "neither choices"),
        (
            lambda s: s["characters"][0]["tree"]["nodes"]["node_0001"]["state"].update(time="late"),
            "not HH:MM",
        ),
        (lambda s: s.pop("story"), "no 'story' section"),
    ],
)
def test_malformed_stories_give_one_line_causes(breakage, message: str) -> None:  # type: ignore[no-untyped-def]
    story = copy.deepcopy(SAMPLES["en"])
    breakage(story)
    for fmt in ("ink", "html", "mermaid"):
        with pytest.raises(ExportError, match=message) as raised:
            render(story, fmt)
        assert "\n" not in str(raised.value)


def test_characters_with_the_same_safe_name_get_distinct_files() -> None:
    story = copy.deepcopy(SAMPLES["en"])
    twin = copy.deepcopy(story["characters"][0])
    story["characters"][0]["name"] = "Keeper/1"
    twin["name"] = "Keeper:1"
    story["characters"].append(twin)
    names = [name for name, _ in render(story, "ink")]
    assert len(set(names)) == 2


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_the_tests_reference_agrees_with_the_runtime_on_every_path(sample: str) -> None:
    """The export tests replay plays through export_samples.ref_take; it must agree with the terminal
    player's ghost_story_factory.runtime (the reference of the rules) on every path of every sample."""
    from export_samples import ref_start, ref_take

    from ghost_story_factory import runtime
    from ghost_story_factory.model import load_story

    story = SAMPLES[sample]
    model = load_story(story)
    for char in story["characters"]:
        tree, typed = char["tree"], model.character(char["name"]).tree
        paths = 0
        stack = [(ref_start(tree), runtime.start(typed))]
        while stack:
            ours, theirs = stack.pop()
            assert (ours["node"], ours["fear"], ours["truth"], ours["familiarity"], ours["time"]) == (
                theirs.node,
                theirs.fear,
                theirs.truth,
                theirs.familiarity,
                theirs.minutes,
            )
            assert (ours["scene"], ours["flags"], tuple(ours["items"])) == (
                theirs.scene,
                theirs.flags,
                theirs.items,
            )
            choices = tree["nodes"][ours["node"]]["choices"]
            paths += not choices
            for index in range(len(choices)):
                after, arrival = ref_take(tree, ours, index)
                their_after, their_arrival = runtime.take(typed, theirs, index)
                assert arrival["bridge"] == " ".join(their_arrival.bridge.split())
                assert arrival["redirected"] == their_arrival.redirected
                stack.append((after, their_after))
        assert paths > 0


def test_a_version_1_story_still_exports_with_its_minutes_read_from_time() -> None:
    """Version 1: consequences say "+10min" instead of minutes, no bridges, no runtime endings. Every format
    still renders; the clock still moves; without shared endings nothing redirects."""
    story = copy.deepcopy(SAMPLES["en"])
    story["meta"]["format_version"] = 1
    tree = story["characters"][0]["tree"]
    runtime = tree.pop("runtime_endings")
    for nid in runtime.values():
        del tree["nodes"][nid]
    for node in tree["nodes"].values():
        for choice in node["choices"]:
            choice["consequences"]["time"] = f"+{choice['consequences'].pop('minutes')}min"
            choice.pop("bridge")
    for fmt in TEXT_FORMATS:
        assert render(story, fmt)
    ink = render(story, "ink")[0][1].decode()
    assert "~ time = MIN(time + 10, 240)" in ink and "{ fear >= 100:" not in ink


def test_export_error_joins_the_error_tree_and_stays_importable_from_export() -> None:
    from ghost_story_factory import errors
    from ghost_story_factory.export import _common

    assert ExportError is errors.ExportError is _common.ExportError
    assert issubclass(ExportError, GhostStoryError) and ExportError.exit_code == 1
