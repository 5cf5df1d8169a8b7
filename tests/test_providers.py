"""Every provider preset through the command line, against the fake server behaving as that provider documents.

What each profile does is in tests/fake_openai_server.py (PROFILES); the facts behind each, and where
they are documented, are in the README's provider table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from fake_openai_server import DEFAULT_KEY, FakeOpenAI
from test_openai_cli import environment_for, no_key_anywhere

from ghost_story_factory.writers.providers import PRESETS, guess

SMALL = ("--characters", "Lin", "--lang", "en", "--max-nodes", "10", "--max-depth", "4", "--concurrency", "4")

# preset -> (fake server profile, --model or None for the preset's, the JSON mode it ends up with)
CASES = {
    "openai": ("openai", None, "schema"),
    "deepseek": ("deepseek", None, "object"),
    "moonshot": ("moonshot", None, "object"),
    "qwen": ("qwen", None, "schema"),
    "glm": ("glm", None, "object"),
    "openrouter": ("openrouter", None, "schema"),
    "ollama": ("ollama", None, "schema"),
    "lmstudio": ("lmstudio", "qwen2.5-7b-instruct", "schema"),
    "vllm": ("vllm", "Qwen/Qwen2.5-7B-Instruct", "schema"),
    "llamacpp": ("llamacpp", None, "schema"),
}


def run_preset(
    folder: Path, server: FakeOpenAI, name: str, *extra: str, **env: str
) -> subprocess.CompletedProcess[str]:
    preset = PRESETS[name]
    key = None if preset.local else DEFAULT_KEY  # a local server needs no key
    args = [
        "generate",
        "--city",
        "Edinburgh",
        "--provider",
        name,
        "--base-url",
        server.url,
        *SMALL,
        "--json",
        *extra,
    ]
    return subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
        env=environment_for("http://127.0.0.1:9/never-used", key, **env),
    )


def test_every_preset_has_a_case() -> None:
    assert set(CASES) == set(PRESETS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_preset_completes_a_story_against_its_providers_documented_behaviour(
    tmp_path: Path, name: str
) -> None:
    profile, model, mode = CASES[name]
    preset = PRESETS[name]
    models = [model or preset.model or "x"]
    with FakeOpenAI(profile=profile, models=models, retry_after_s=0.05) as server:
        result = run_preset(tmp_path, server, name, *(("--model", model) if model else ()))
        assert result.returncode == 0, result.stderr
        report = orjson.loads(result.stdout.strip().splitlines()[-1])
        ledger = server.ledger
        bodies = [entry["body"] for entry in server.received() if entry["status"] == 200]
    # Tokens reported equal tokens billed, read from wherever this provider reports cache hits.
    assert report["tokens"] == {
        "prompt": ledger.prompt_tokens,
        "completion": ledger.completion_tokens,
        "cached": ledger.cached_tokens,
        "total": ledger.prompt_tokens + ledger.completion_tokens,
    }
    if profile not in ("ollama", "lmstudio", "vllm"):
        assert ledger.cached_tokens > 0  # this provider reports cache hits, and they were read
    assert report["writer"]["json_mode"] == mode
    assert f"🔧 JSON mode: {mode}" in result.stderr
    # The output cap goes in the field the provider expects; a seed only where it is accepted.
    other = "max_tokens" if preset.cap_field == "max_completion_tokens" else "max_completion_tokens"
    assert all(preset.cap_field in body and other not in body for body in bodies)
    assert all(("seed" in body) == preset.seed for body in bodies)
    for key, value in preset.extra_body.items():
        assert all(body[key] == value for body in bodies)
    if preset.local:
        assert report["cost_usd"] == 0.0  # no API charges on one's own machine
    elif preset.reports_cost:
        assert report["cost_usd"] == pytest.approx(ledger.cost_usd) and ledger.cost_usd > 0
    else:
        assert report["cost_usd"] is not None and report["cost_usd"] > 0  # the preset's model is priced
    no_key_anywhere(tmp_path, result)


def test_qwen_models_without_json_schema_fall_back_to_json_object(tmp_path: Path) -> None:
    with FakeOpenAI(profile="qwen", models=["qwen-turbo"]) as server:
        result = run_preset(tmp_path, server, "qwen", "--model", "qwen-turbo")
        assert result.returncode == 0, result.stderr
        assert orjson.loads(result.stdout.strip().splitlines()[-1])["writer"]["json_mode"] == "object"
        assert server.ledger.refused_form == 1


def test_presets_that_serve_what_is_loaded_need_a_model(tmp_path: Path) -> None:
    with FakeOpenAI(profile="vllm") as server:
        result = run_preset(tmp_path, server, "vllm")
    assert result.returncode == 2 and "--provider vllm needs --model" in result.stderr
    assert server.ledger.requests == 0


def test_a_hosted_preset_without_its_key_says_which_variables_it_reads(tmp_path: Path) -> None:
    with FakeOpenAI(profile="deepseek") as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ghost_story_factory",
                "generate",
                "--city",
                "x",
                "--provider",
                "deepseek",
                "--lang",
                "en",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=environment_for(server.url, None),
        )
    assert result.returncode == 2 and "OPENAI_API_KEY or DEEPSEEK_API_KEY" in result.stderr
    zh = subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", "generate", "--city", "x", "--provider", "deepseek"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment_for(server.url, None),
    )
    assert zh.returncode == 2 and "OPENAI_API_KEY 或 DEEPSEEK_API_KEY" in zh.stderr  # zh, the default


def test_the_preset_is_recognised_from_the_base_url() -> None:
    assert guess("https://api.deepseek.com").name == "deepseek"  # type: ignore[union-attr]
    assert guess("https://openrouter.ai/api/v1").name == "openrouter"  # type: ignore[union-attr]
    assert guess("http://localhost:11434/v1").name == "ollama"  # type: ignore[union-attr]
    assert guess("http://127.0.0.1:40123/v1") is None
