"""The offline writer: valid, deterministic, varied replies in both languages, and a rising fear curve."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from typing import Any

import orjson
import pytest

from ghost_story_factory.pregenerator.state import (
    NIGHT_END,
    START_FEAR,
    GameState,
    apply,
    minutes,
    parse_consequences,
)
from ghost_story_factory.writers import prompts
from ghost_story_factory.writers.base import Request, Retry, problems_with
from ghost_story_factory.writers.offline import OfflineWriter
from ghost_story_factory.writers.schemas import ENDING_TYPES

CJK = re.compile(r"[\u3400-\u9fff]")
CITIES = {"zh": ["上海", "成都", "哈尔滨"], "en": ["Boston", "Edinburgh", "New Orleans"]}
REASONS = ("fear", "dawn", "max_depth", "budget")
FLAG_NAMES = ("saw_shadow", "heard_whisper", "read_diary", "found_photo", "opened_sealed_door", "custom_flag")
PATH_CHOICES = {"zh": ["继续往前走", "躲起来", "大声喊：“谁在那里？”"], "en": ["Keep going", "Hide", "Run!"]}
ITEM_NAMES = {
    "zh": ["手电筒", "旧日记", "护身符", "怀表"],
    "en": ["flashlight", "old diary", "amulet", "pocket watch"],
}


def run(writer: OfflineWriter, requests: list[Request]) -> list[dict[str, Any]]:
    """Ask every request in turn; each reply must validate. Returns the parsed replies."""

    async def go() -> list[dict[str, Any]]:
        out = []
        for request in requests:
            reply = await writer.complete(request, [])
            data, problems = problems_with(request, reply.text)
            assert data is not None, (request.kind, request.context.get("must_end"), problems)
            out.append(data)
        return out

    return asyncio.run(go())


def one(request: Request) -> dict[str, Any]:
    return run(OfflineWriter(), [request])[0]


def story(lang: str, city: str | None = None, names: list[str] | None = None) -> dict[str, Any]:
    city = city or CITIES[lang][0]
    return one(prompts.documents_request(city, names or [], lang))


def cast(lang: str, docs: dict[str, Any], city: str | None = None) -> list[dict[str, Any]]:
    city = city or CITIES[lang][0]
    characters = one(prompts.characters_request(city, docs, lang))["characters"]
    return [dict(c, is_protagonist=i == 0) for i, c in enumerate(characters)]


def node_request(
    lang: str,
    docs: dict[str, Any],
    character: dict[str, Any],
    state: GameState,
    *,
    depth: int = 0,
    path: list[dict[str, str]] | None = None,
    must_end: str | None = None,
    may_end: bool = False,
    branching: int = 3,
    city: str | None = None,
) -> Request:
    return prompts.node_request(
        city=city or CITIES[lang][0],
        lang=lang,
        story=docs,
        character=character,
        state=state.to_dict(),
        depth=depth,
        max_depth=20,
        path=path or [],
        must_end=must_end,
        may_end=may_end,
        branching=branching,
    )


def random_state(rng: random.Random, lang: str, scenes: list[str]) -> GameState:
    flags = {name: True for name in FLAG_NAMES if rng.random() < 0.25}
    items = tuple(item for item in ITEM_NAMES[lang] if rng.random() < 0.25)
    return GameState(
        scene=rng.choice(scenes),
        pr=rng.randint(0, 100),
        gr=rng.randint(0, 100),
        wf=rng.randint(0, 100),
        time=f"{rng.randint(0, 3):02d}:{rng.randrange(0, 60, 5):02d}",
        flags=flags,
        inventory=items,
    )


def random_node_requests(lang: str, count: int, seed: int = 7) -> list[Request]:
    """Varied node requests over states, depths, paths, branching and ending reasons."""
    rng = random.Random(seed)
    docs = story(lang)
    characters = cast(lang, docs)
    requests = []
    for _ in range(count):
        depth = rng.randint(0, 20)
        path = [
            {"narrative": f"step {i}", "choice": rng.choice(PATH_CHOICES[lang])} for i in range(min(depth, 6))
        ]
        requests.append(
            node_request(
                lang,
                docs,
                rng.choice(characters),
                random_state(rng, lang, docs["scenes"]),
                depth=depth,
                path=path,
                must_end=rng.choice((None, None, None, *REASONS)),
                may_end=rng.random() < 0.5,
                branching=rng.choice((2, 3)),
            )
        )
    return requests


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def walk(lang: str, pick: int, steps: int = 20) -> list[GameState]:
    """Follow choice number ``pick`` (0 = first, -1 = last) from the opening scene; states after each step."""
    docs = story(lang)
    character = cast(lang, docs)[0]
    writer = OfflineWriter()
    state = GameState(scene=docs["scenes"][0])
    states, path = [state], []
    for depth in range(steps):
        node = run(writer, [node_request(lang, docs, character, state, depth=depth, path=path)])[0]
        choice = node["choices"][pick]
        consequences, ignored = parse_consequences(choice["consequences"])
        assert ignored == 0
        state = apply(state, consequences)
        states.append(state)
        path.append({"narrative": node["narrative"], "choice": choice["text"]})
    return states


# ---- validity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_reply_passes_validation(lang: str) -> None:
    writer = OfflineWriter()
    requests: list[Request] = []
    for city in CITIES[lang]:
        for names in ([], ["A", "B"]):
            requests.append(prompts.documents_request(city, names, lang))
    docs_list = run(writer, requests)
    requests = [
        prompts.characters_request(city, docs, lang)
        for city, docs in zip([c for c in CITIES[lang] for _ in range(2)], docs_list, strict=True)
    ]
    run(writer, requests)
    run(writer, random_node_requests(lang, 300))  # run() asserts every reply validates


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_ending_reason_and_branching_is_answered(lang: str) -> None:
    docs = story(lang)
    character = cast(lang, docs)[0]
    requests = []
    for pr in (0, 50, 95, 100):
        for branching in (2, 3):
            state = GameState(scene=docs["scenes"][-1], pr=pr, gr=pr // 2, wf=100 - pr, time="03:55")
            for must_end in (None, *REASONS):
                requests.append(
                    node_request(
                        lang, docs, character, state, depth=19, must_end=must_end, branching=branching
                    )
                )
    for request, data in zip(requests, run(OfflineWriter(), requests), strict=True):
        if request.context["must_end"]:
            assert data["choices"] == [] and data["ending"]["type"] in ENDING_TYPES
        else:
            assert data["ending"] is None
            assert 2 <= len(data["choices"]) <= request.context["branching"]


def test_reply_is_compact_json_and_costs_no_tokens() -> None:
    docs = story("zh")
    request = node_request("zh", docs, cast("zh", docs)[0], GameState(scene=docs["scenes"][0]))
    reply = asyncio.run(OfflineWriter().complete(request, []))
    assert orjson.loads(reply.text) == orjson.loads(orjson.dumps(orjson.loads(reply.text)))
    assert reply.usage.total == 0 and reply.usage.cached == 0


# ---- determinism ---------------------------------------------------------------------------------


def test_same_request_same_reply_across_instances_and_retries() -> None:
    requests = random_node_requests("zh", 40) + random_node_requests("en", 40)
    requests.append(prompts.documents_request("上海", [], "zh"))

    async def texts(writer: OfflineWriter, retries: list[Retry]) -> list[str]:
        return [(await writer.complete(request, retries)).text for request in requests]

    first = asyncio.run(texts(OfflineWriter(), []))
    again = asyncio.run(texts(OfflineWriter(), []))
    after_retry = asyncio.run(texts(OfflineWriter(latency_ms=0, jitter=0.5), [Retry("{}", "bad")]))
    assert first == again == after_retry


def test_different_cities_give_different_stories() -> None:
    titles = {story("zh", city)["title"] for city in CITIES["zh"]}
    assert len(titles) == len(CITIES["zh"])


# ---- variety -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_nodes_are_varied(lang: str) -> None:
    requests = random_node_requests(lang, 200, seed=11)
    replies = run(OfflineWriter(), requests)
    narratives = [reply["narrative"] for reply in replies]
    assert len(set(narratives)) == len(narratives)
    choices = [c for reply in replies for c in reply["choices"]]
    texts = {c["text"] for c in choices}
    assert len(choices) > 150 and len(texts) > 0.6 * len(choices)
    endings = Counter(
        reply["ending"]["type"]
        for request, reply in zip(requests, replies, strict=True)
        if request.context["must_end"]
    )
    assert len(endings) >= 3
    consequences = [c["consequences"] for c in choices]
    moved = sum(1 for c in consequences if c["scene"])
    flagged = sum(1 for c in consequences if c["flags"])
    found = sum(1 for c in consequences if c["items"])
    assert 0.1 * len(choices) < moved < 0.35 * len(choices)
    assert flagged > 0.05 * len(choices) and found > 0.03 * len(choices)
    assert any(c["PR"] < 0 for c in consequences) and any(c["PR"] >= 10 for c in consequences)
    for reply, request in zip(replies, requests, strict=True):
        scenes = {c["consequences"]["scene"] for c in reply["choices"]} - {None}
        assert scenes <= set(request.context["scenes"]) - {request.context["state"]["scene"]}


def test_choices_differ_in_consequences_and_mostly_use_full_branching() -> None:
    requests = [r for r in random_node_requests("zh", 200, seed=3) if not r.context["must_end"]]
    counts = Counter()
    for request, reply in zip(requests, run(OfflineWriter(), requests), strict=True):
        if reply["ending"]:
            continue
        effects = [orjson.dumps(c["consequences"], option=orjson.OPT_SORT_KEYS) for c in reply["choices"]]
        assert len(set(effects)) == len(effects)
        counts[len(reply["choices"]) == request.context["branching"]] += 1
    assert counts[True] > 3 * counts[False]


def test_writer_may_end_only_when_allowed_and_rarely() -> None:
    docs = story("en")
    character = cast("en", docs)[0]
    rng = random.Random(5)
    allowed, forbidden = [], []
    for depth in range(300):
        state = GameState(scene=rng.choice(docs["scenes"]), pr=rng.randint(90, 100), gr=rng.randint(70, 100))
        allowed.append(node_request("en", docs, character, state, depth=depth % 20 + 1, may_end=True))
        forbidden.append(node_request("en", docs, character, state, depth=depth % 20 + 1, may_end=False))
    ended = [r["ending"]["type"] for r in run(OfflineWriter(), allowed) if r["ending"]]
    assert 0 < len(ended) < 40
    assert set(ended) <= {"truth_revealed", "possessed"}
    assert all(r["ending"] is None for r in run(OfflineWriter(), forbidden))


# ---- endings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_ending_type_follows_reason_and_state(lang: str) -> None:
    """Fear and dawn fix the type; otherwise the meter that stands out makes its ending the likeliest."""
    docs = story(lang)
    character = cast(lang, docs)[0]
    scene = docs["scenes"][0]
    fixed = [
        (GameState(scene=scene, pr=20, gr=80, wf=80), "fear", "fear_collapse"),
        (GameState(scene=scene, pr=100), "fear", "fear_collapse"),
        (GameState(scene=scene, pr=100, gr=90), "dawn", "dawn"),
    ]
    requests = [node_request(lang, docs, character, state, depth=5, must_end=why) for state, why, _ in fixed]
    for (_, _, expected), reply in zip(fixed, run(OfflineWriter(), requests), strict=True):
        assert reply["ending"]["type"] == expected
        assert reply["choices"] == [] and reply["ending"]["title"].strip()
        assert character["name"] in reply["narrative"]
    leaning = [
        (GameState(scene=scene, pr=20, gr=95), "truth_revealed"),
        (GameState(scene=scene, pr=95, gr=5), "possessed"),
        (GameState(scene=scene, pr=20, wf=95), "escape"),
    ]
    for state, expected in leaning:
        requests = [
            node_request(lang, docs, character, state, depth=d, must_end="max_depth") for d in range(60)
        ]
        kinds = Counter(reply["ending"]["type"] for reply in run(OfflineWriter(), requests))
        assert kinds.most_common(1)[0][0] == expected, kinds
        assert len(kinds) >= 2, kinds  # likeliest, not certain: paths that converge still differ


# ---- languages and content -----------------------------------------------------------------------


def test_chinese_output_is_chinese_and_english_output_has_no_cjk() -> None:
    for lang in ("zh", "en"):
        docs = story(lang)
        characters = cast(lang, docs)
        nodes = run(OfflineWriter(), random_node_requests(lang, 60))
        texts = strings(docs) + strings(characters) + [s for node in nodes for s in strings(node)]
        texts = [t for t in texts if t not in ITEM_NAMES["zh"] + ITEM_NAMES["en"] + list(FLAG_NAMES)]
        if lang == "zh":
            assert all(CJK.search(node["narrative"]) for node in nodes)
            assert all(CJK.search(t) for t in strings(docs))
        else:
            assert not [t for t in texts if CJK.search(t)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_documents_mention_the_city_and_have_substance(lang: str) -> None:
    city = CITIES[lang][1]
    names = ["老周", "林晓"] if lang == "zh" else ["Mara", "Jonah"]
    docs = story(lang, city, names)
    assert 5 <= len(docs["scenes"]) <= 6 and len(set(docs["scenes"])) == len(docs["scenes"])
    for key in ("synopsis", "game_design", "lore", "main_story"):
        assert city in docs[key], key
        assert "\n\n" in docs[key], key  # several paragraphs
    assert city in docs["title"]
    assert all(name in docs["main_story"] for name in names)
    if lang == "zh":
        assert 80 <= len(docs["synopsis"]) <= 220
        for key in ("game_design", "lore", "main_story"):
            assert 200 <= len(docs[key]) <= 550, key


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_characters_are_three_distinct_short_names(lang: str) -> None:
    for city in CITIES[lang]:
        characters = cast(lang, story(lang, city), city)
        names = [c["name"] for c in characters]
        assert len(names) == 3 and len(set(names)) == 3
        assert all("/" not in n and "\\" not in n and len(n) <= 20 for n in names)
        assert all(c["role"] and c["description"] for c in characters)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_narratives_fit_their_length_and_use_the_context(lang: str) -> None:
    requests = random_node_requests(lang, 150, seed=21)
    replies = run(OfflineWriter(), requests)
    low, high = (150, 400) if lang == "zh" else (80, 200)
    recalled = used_item = named = 0
    for request, reply in zip(requests, replies, strict=True):
        text = reply["narrative"]
        size = len(text) if lang == "zh" else len(text.split())
        assert low <= size <= high, (size, text)
        context = request.context
        named += context["character"]["name"] in text
        if reply["ending"] is not None:
            continue  # an ending closes the story in its own words
        if context["path"]:
            recalled += context["path"][-1]["choice"] in text
        used_item += any(item in text for item in context["state"]["inventory"])
    ongoing = [r for r, reply in zip(requests, replies, strict=True) if reply["ending"] is None]
    assert named == len(replies)
    assert recalled > 0.5 * sum(1 for r in ongoing if r.context["path"])
    assert used_item > 0.2 * sum(1 for r in ongoing if r.context["state"]["inventory"])


def test_fear_wording_rises_with_fear() -> None:
    docs = story("zh")
    character = cast("zh", docs)[0]
    calm = GameState(scene=docs["scenes"][0], pr=5)
    terrified = GameState(scene=docs["scenes"][0], pr=95)
    low = run(OfflineWriter(), [node_request("zh", docs, character, calm, depth=d) for d in range(1, 30)])
    high = run(
        OfflineWriter(), [node_request("zh", docs, character, terrified, depth=d) for d in range(1, 30)]
    )
    assert {r["narrative"].split("\n\n")[-1] for r in low}.isdisjoint(
        {r["narrative"].split("\n\n")[-1] for r in high}
    )


# ---- the fear curve ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("pick", [0, -1])
def test_walk_of_twenty_choices_raises_fear_within_the_night(lang: str, pick: int) -> None:
    states = walk(lang, pick)
    assert states[0].pr == START_FEAR
    assert states[-1].pr > states[0].pr + 40
    assert states[10].pr > states[0].pr
    assert all(minutes(s.time) <= minutes(NIGHT_END) for s in states)
    assert [minutes(s.time) for s in states] == sorted(minutes(s.time) for s in states)


def test_twenty_choices_fit_the_night_on_average_and_fear_often_peaks() -> None:
    docs = story("zh")
    characters = cast("zh", docs)
    writer = OfflineWriter()
    totals, peaked = [], 0
    for seed in range(40):
        rng = random.Random(seed)
        character = rng.choice(characters)
        state, path, total = GameState(scene=docs["scenes"][0]), [], 0
        for depth in range(20):
            node = run(writer, [node_request("zh", docs, character, state, depth=depth, path=path)])[0]
            choice = rng.choice(node["choices"])
            consequences, _ = parse_consequences(choice["consequences"])
            total += consequences.minutes
            state = apply(state, consequences)
            path.append({"narrative": node["narrative"], "choice": choice["text"]})
        totals.append(total)
        peaked += state.pr >= 90
    assert sum(totals) / len(totals) <= minutes(NIGHT_END)
    assert peaked >= 10  # many random paths approach or reach 100 by depth 20


# ---- the writer object ---------------------------------------------------------------------------


def test_latency_delays_each_call_and_calls_are_counted() -> None:
    docs = story("en")
    request = node_request("en", docs, cast("en", docs)[0], GameState(scene=docs["scenes"][0]))
    writer = OfflineWriter(latency_ms=20)
    jittery = OfflineWriter(latency_ms=20, jitter=0.25)

    async def five(w: OfflineWriter) -> float:
        start = time.perf_counter()
        for _ in range(5):
            await w.complete(request, [])
        await w.aclose()
        return time.perf_counter() - start

    assert asyncio.run(five(writer)) >= 0.08
    assert asyncio.run(five(jittery)) >= 0.06
    assert writer.calls == 5 and jittery.calls == 5
    assert OfflineWriter().calls == 0


def test_writer_identity() -> None:
    writer = OfflineWriter()
    assert writer.name == "offline" and writer.model == "offline-writer-1"
    asyncio.run(writer.aclose())
