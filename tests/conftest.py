"""Shared fixtures: default-sized offline stories, generated once per test session on real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import TestWriter, generate

# What a new user types: one character with a role, two with a name only (the plan proposes their role).
DEFAULT_CHARACTERS = {
    "zh": (("书生", "落第的读书人"), "船娘", "更夫"),
    "en": (("Mara", "ferrywoman"), "Tom", "Professor Shen"),
}
DEFAULT_CITY = {"zh": "杭州", "en": "Edinburgh"}


def default_story(folder: Path, lang: str) -> dict[str, Any]:
    """A story at the default settings (3 characters, 300 nodes, depth 20, branching 3), offline writer."""
    result = generate(
        folder,
        TestWriter(),
        city=DEFAULT_CITY[lang],
        characters=DEFAULT_CHARACTERS[lang],
        lang=lang,
        max_depth=20,
        max_nodes=300,
        branching=3,
        concurrency=8,
        checkpoint_every=50,
    )
    return result.story


@pytest.fixture(scope="session")
def offline_story_zh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return default_story(tmp_path_factory.mktemp("default-zh"), "zh")


@pytest.fixture(scope="session")
def offline_story_en(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return default_story(tmp_path_factory.mktemp("default-en"), "en")
