"""The API key in every form stays out of messages, stored replies and files: writers/_secrets.py called
directly, then through a real ``generate`` against a local server that echoes the key into its replies."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fake_openai_server
import pytest
from fake_openai_server import DEFAULT_KEY, FakeOpenAI

from ghost_story_factory.errors import InputError
from ghost_story_factory.text import clean_data, clean_text, forget_secrets
from ghost_story_factory.writers._secrets import (
    check_key,
    holds_key,
    key_forms,
    register,
    scrub,
    scrub_data,
    scrub_message,
)

KEY = "sk-proj-Ab3dEf/Gh+Ij=Kl0123456789xyz"
BARE = "Ab3dEf/Gh+Ij=Kl0123456789xyz"


@pytest.fixture(autouse=True)
def _no_secrets_left() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def every_form(key: str, bare: str) -> list[str]:
    return [
        key,
        bare,
        f"Bearer {key}",
        f"bearer {bare}",
        urllib.parse.quote(key, safe=""),
        urllib.parse.quote_plus(key),
        urllib.parse.quote(bare, safe=""),
        key.replace("/", "\\/"),
        base64.b64encode(f":{key}".encode()).decode(),
    ]


@pytest.mark.parametrize("form", every_form(KEY, BARE))
def test_every_form_of_the_key_is_scrubbed_from_text_and_messages(form: str) -> None:
    text = f"Invalid request from {form}: unsupported\nsecond line"
    assert not holds_key(scrub(text, KEY), KEY)
    assert "second line" in scrub(text, KEY) and "\n" in scrub(text, KEY)  # a reply keeps its lines
    message = scrub_message(text, KEY)
    assert not holds_key(message, KEY) and "\n" not in message and "***" in message
    assert holds_key(text, KEY)


def test_a_message_loses_keys_it_was_not_given() -> None:
    other = "sk-live-ZZZZ0000yyyy1111"
    message = scrub_message(f"Authorization: Bearer {other}; key={other}", KEY)
    assert "ZZZZ0000" not in message


def test_host_and_model_names_in_a_message_stay_readable() -> None:
    """Only key-shaped tokens are masked: a user debugging --base-url or a model name must see them."""
    for text in (
        "cannot reach https://api-inference.huggingface.co/v1",
        "the model key_value_store_v2 does not exist",
        "unknown host api-v1-2024-11-20.example.com",
    ):
        assert scrub_message(text, None) == text
    masked = scrub_message("Incorrect API key provided: sk-abc12***************************xyz9.", None)
    assert "abc12" not in masked and "xyz9" not in masked


def test_scrub_data_reaches_every_string_and_key() -> None:
    data = {"narrative": f"the ghost says {KEY}", KEY: [f"{BARE}!", 3, None, {"x": f"Bearer {KEY}"}]}
    cleaned = scrub_data(data, KEY)
    assert not holds_key(repr(cleaned), KEY)
    assert cleaned["narrative"] == "the ghost says ***" and cleaned["***"][1:3] == [3, None]


def test_short_pieces_do_not_eat_prose() -> None:
    assert "bcdefgh" not in key_forms("sk-bcdefgh")  # 7 characters after the prefix: could be a word
    assert "sk-bcdefgh" in key_forms("sk-bcdefgh")
    assert scrub("a story about nothing", None) == "a story about nothing"
    assert key_forms("") == ()


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("sk-abc\ndef0123456789", "white space"),
        ("sk-abc def0123456789", "white space"),
        ("sk-abc\u2013def0123456789", "not ASCII"),
        ("sk-ключ0123456789", "not ASCII"),
        ("sk-abc\x00def0123456789", "control"),
    ],
)
def test_a_key_an_http_header_cannot_carry_is_one_line_input_error(key: str, reason: str) -> None:
    with pytest.raises(InputError) as raised:
        check_key(key)
    message = str(raised.value)
    assert reason in message and "\n" not in message and key not in message and "0123456789" not in message
    with pytest.raises(InputError) as raised_zh:
        check_key(key, "zh")
    assert "密钥" in str(raised_zh.value)
    assert check_key(f"  {DEFAULT_KEY}\n") == DEFAULT_KEY  # outer white space is the paste, not the key


def test_a_key_as_short_as_a_word_does_not_garble_the_stories() -> None:
    register("local")
    assert clean_text("a local story") == "a local story"
    assert scrub_message("key local refused", "local") == "key *** refused"
    assert key_forms("x") == ()


def test_a_registered_key_never_passes_clean_text() -> None:
    register(KEY)
    for form in every_form(KEY, BARE):
        assert not holds_key(clean_text(f"reply {form} end"), KEY), form
    assert not holds_key(repr(clean_data({"a": [f"x{KEY}"], KEY: 1})), KEY)
    assert clean_text("plain words stay") == "plain words stay"


# --- end to end --------------------------------------------------------------------------------------
_ORIGINAL_REPLY = fake_openai_server.make_reply


_PROSE = {"narrative", "bridges", "synopsis", "lore", "main_story", "game_design", "description", "summary"}


def _echo(value: Any, forms: list[str], index: list[int], prose: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _echo(v, forms, index, k in _PROSE) for k, v in value.items()}
    if isinstance(value, list):
        return [_echo(v, forms, index, prose) for v in value]
    if isinstance(value, str) and prose:
        index[0] += 1
        return f"{value} {forms[index[0] % len(forms)]}"
    return value


def echoing(schema: Any, messages: list[Any], decoder: str = "helpful", seed: Any = None) -> dict[str, Any]:
    """A server that puts the key, in one form or another, into the prose of every reply."""
    made = _ORIGINAL_REPLY(schema, messages, decoder, seed)
    bare = DEFAULT_KEY.removeprefix("sk-test-fake-")
    forms = [DEFAULT_KEY, bare, f"Bearer {DEFAULT_KEY}", urllib.parse.quote(DEFAULT_KEY, safe="")]
    return _echo(made, forms, [0])


def _run(folder: Path, url: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, OPENAI_API_KEY=key, GSF_BACKOFF_MAX="0.05", GSF_MAX_ATTEMPTS="3")
    return subprocess.run(
        [sys.executable, "-m", "ghost_story_factory", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


SMALL = ("--city", "上海", "--characters", "保安", "--max-nodes", "10", "--max-depth", "4", "--json")


def test_a_server_echoing_the_key_gets_it_into_no_file_and_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_openai_server, "make_reply", echoing)
    with FakeOpenAI(retry_after_s=0.05) as server:
        result = _run(tmp_path, server.url, DEFAULT_KEY, "generate", *SMALL)
        assert result.returncode == 0, result.stderr[-2000:]
        exported = _run(tmp_path, server.url, DEFAULT_KEY, "export", "1", "--format", "json")
        assert exported.returncode == 0, exported.stderr
    assert "***" in exported.stdout  # the echo arrived and was scrubbed
    for output in (result.stdout, result.stderr, exported.stdout, exported.stderr):
        assert not holds_key(output, DEFAULT_KEY)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert not holds_key(path.read_bytes(), DEFAULT_KEY), path


@pytest.mark.parametrize("key", ["sk-test\u2013fake-0123456789", "sk-test-fake-01234\n56789"])
def test_a_key_that_cannot_be_sent_is_one_line_before_any_request(tmp_path: Path, key: str) -> None:
    with FakeOpenAI(retry_after_s=0.05) as server:
        result = _run(tmp_path, server.url, key, "generate", *SMALL)
        requests = server.ledger.requests
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and requests == 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "API" in errors[0] and "0123456789" not in result.stderr
