"""Provider presets: what each OpenAI-compatible service needs to work on the first try.

A preset gives the base URL, a sensible default model, the JSON mode to start negotiating from,
the field the output cap goes in, whether a per-attempt ``seed`` is accepted, how cached tokens
are reported, and whether the service is a local server (no key, no charges). The facts each
preset relies on, and where they are documented, are in the README's provider table; the fake
server in ``tests/fake_openai_server.py`` has a profile that behaves as each one is documented to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Preset:
    name: str
    base_url: str
    model: str | None  # None: the server serves whatever is loaded; --model names it
    json_mode: str  # where --json-mode auto starts: "schema" (json_schema) or "object" (json_object)
    cap_field: str  # "max_completion_tokens" (OpenAI) or "max_tokens" (most compatible servers)
    seed: bool  # a per-attempt seed is documented as accepted
    local: bool = False  # a server on the user's machine: no key needed, no API charges
    key_env: tuple[str, ...] = ()  # environment variables read for the key, after OPENAI_API_KEY
    cached: str = "not reported"  # where the provider reports cached prompt tokens
    reports_cost: bool = False  # the reply's usage carries the cost of the call in USD
    extra_body: dict[str, Any] = field(default_factory=dict)  # merged into every request
    hosts: tuple[str, ...] = ()  # host names that identify this provider in a base URL
    # The server's decoder honours maxLength (confirmed against llama-server: a capped string stops
    # there), so a looping small model is cut short; elsewhere maxLength stays a local check only,
    # since OpenAI's strict mode does not list it.
    max_length: bool = False


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "openai",
            "https://api.openai.com/v1",
            "gpt-4o-mini",
            "schema",
            "max_completion_tokens",
            seed=True,
            cached="usage.prompt_tokens_details.cached_tokens",
            hosts=("api.openai.com",),
        ),
        Preset(
            "deepseek",
            "https://api.deepseek.com",
            "deepseek-chat",
            "object",  # json_schema is refused with 400 "This response_format type is unavailable now"
            "max_tokens",
            seed=False,
            key_env=("DEEPSEEK_API_KEY",),
            cached="usage.prompt_cache_hit_tokens",
            hosts=("api.deepseek.com",),
        ),
        Preset(
            "moonshot",
            "https://api.moonshot.ai/v1",
            "kimi-k2.6",
            "object",
            "max_tokens",
            seed=False,
            key_env=("MOONSHOT_API_KEY",),
            cached="usage.prompt_tokens_details.cached_tokens (moonshot-v1: usage.cached_tokens)",
            hosts=("api.moonshot.ai", "api.moonshot.cn"),
        ),
        Preset(
            "qwen",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            "qwen-plus",
            "schema",  # json_schema on qwen-plus / qwen-flash / qwen3-max; others fall back to object
            "max_tokens",
            seed=False,
            key_env=("DASHSCOPE_API_KEY",),
            cached="usage.prompt_tokens_details.cached_tokens",
            hosts=("dashscope-intl.aliyuncs.com", "dashscope.aliyuncs.com", "dashscope-us.aliyuncs.com"),
        ),
        Preset(
            "glm",
            "https://open.bigmodel.cn/api/paas/v4",
            "glm-4.5-air",
            "object",  # json_object is documented; json_schema is not
            "max_tokens",
            seed=False,
            key_env=("ZHIPUAI_API_KEY", "ZAI_API_KEY"),
            cached="usage.prompt_tokens_details.cached_tokens",
            hosts=("open.bigmodel.cn", "api.z.ai"),
        ),
        Preset(
            "openrouter",
            "https://openrouter.ai/api/v1",
            "openai/gpt-4o-mini",
            "schema",
            "max_tokens",
            seed=True,
            key_env=("OPENROUTER_API_KEY",),
            cached="usage.prompt_tokens_details.cached_tokens",
            reports_cost=True,
            # Without it a request may be routed to a provider that ignores response_format.
            extra_body={"provider": {"require_parameters": True}},
            hosts=("openrouter.ai",),
        ),
        Preset(
            "ollama",
            "http://localhost:11434/v1",
            "llama3.2",
            "schema",
            "max_tokens",
            seed=True,
            local=True,
            hosts=("localhost:11434", "127.0.0.1:11434"),
        ),
        Preset(
            "lmstudio",
            "http://localhost:1234/v1",
            None,
            "schema",  # json_object is refused: "'response_format.type' must be 'json_schema' or 'text'"
            "max_tokens",
            seed=False,
            local=True,
            hosts=("localhost:1234", "127.0.0.1:1234"),
        ),
        Preset(
            "vllm",
            "http://localhost:8000/v1",
            None,
            "schema",
            "max_tokens",
            seed=True,
            local=True,
            cached="usage.prompt_tokens_details.cached_tokens with --enable-prompt-tokens-details",
            hosts=("localhost:8000", "127.0.0.1:8000"),
        ),
        Preset(
            "llamacpp",
            "http://127.0.0.1:8080/v1",
            "local",  # llama-server answers with the model it loaded (-m, alias -a)
            "schema",
            "max_tokens",
            seed=True,
            local=True,
            cached="usage.prompt_tokens_details.cached_tokens (and timings.cache_n)",
            hosts=("localhost:8080", "127.0.0.1:8080"),
            max_length=True,
        ),
    )
}

NAMES = tuple(PRESETS)

# No preset given and a base URL nobody recognises: a generic OpenAI-compatible server.
GENERIC = Preset("generic", "", None, "schema", "max_tokens", seed=False)


def preset(name: str | None) -> Preset | None:
    return PRESETS.get((name or "").strip().lower())


def guess(base_url: str | None) -> Preset | None:
    """The preset a base URL belongs to, from its host (and port, for local servers)."""
    if not base_url:
        return None
    parts = urlsplit(base_url if "//" in base_url else f"//{base_url}")
    host = (parts.hostname or "").lower()
    hostport = f"{host}:{parts.port}" if parts.port else host
    for candidate in PRESETS.values():
        if host in candidate.hosts or hostport in candidate.hosts:
            return candidate
    return None
