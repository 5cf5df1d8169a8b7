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


def test_the_readme_settings_table_is_the_one_help_renders() -> None:
    """If this fails after a change to config.OPTIONS, paste the rows printed by
    ``python -c "from ghost_story_factory.cli_text import settings_table; from ghost_story_factory.config
    import OPTIONS; print(*settings_table(OPTIONS), sep=chr(10))"`` into README.md."""
    from ghost_story_factory.cli_text import settings_table
    from ghost_story_factory.config import OPTIONS

    text = README.read_text(encoding="utf-8")
    rows = settings_table(OPTIONS)
    assert "\n".join(rows) in text
    assert "e+" not in "".join(rows)  # limits as a writer reads them, not 1e+06


def test_the_readme_names_every_command_and_every_exit_code() -> None:
    from ghost_story_factory import errors
    from ghost_story_factory.cli import build_parser

    text = README.read_text(encoding="utf-8")
    usage = text.split("## Command line", 1)[1].split("```", 2)[1]
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001
    for command in commands:
        assert f"ghost-story {command} " in usage, command
    table = text.split("Exit codes, the same in every command:", 1)[1].split("\n\n", 2)[1]
    documented = {
        int(line.split("|")[1]) for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()
    }
    codes = {
        cls.exit_code for cls in vars(errors).values() if isinstance(cls, type) and hasattr(cls, "exit_code")
    }
    assert codes <= documented == {0, 1, 2, 3, 75, 130}
    two = text.split("## The two commands", 1)[1].split("```", 2)[1]
    assert [line.split()[0] for line in two.splitlines() if line.strip() and not line.startswith("bash")] == [
        "./start_pregenerated_game.sh",
        "./run_tests.sh",
    ]
