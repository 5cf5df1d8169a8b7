"""The README's Python example runs as written against the library (in a temp folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ghost_story_factory.vocabulary import ENDING_TYPES

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = README.read_text(encoding="utf-8").split("## Using it from Python", 1)[1]
    code = re.search(r"```python\n(.*?)\n```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    printed: list[str] = []
    namespace = {"print": lambda *a: printed.append(" ".join(map(str, a)))}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert os.path.exists(tmp_path / "ghost_stories.db") and not list((tmp_path / "checkpoints").iterdir())
    assert printed and any(kind in printed[0] for kind in ENDING_TYPES), printed[:1]  # the ending mix
    assert any(line.endswith("bytes") and ".ink" in line for line in printed[1:])
