"""The front door, as a newcomer uses it: the menu of start_pregenerated_game.sh driven through stdin."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _menu(folder: Path, answers: str) -> subprocess.CompletedProcess[str]:
    """The script in a copy of its folder layout, reusing this checkout's installed .venv."""
    shutil.copy(REPO / "start_pregenerated_game.sh", folder / "start_pregenerated_game.sh")
    (folder / ".venv").symlink_to(REPO / ".venv")
    shutil.copy(REPO / "pyproject.toml", folder / "pyproject.toml")
    stamp = REPO / ".venv" / ".ghost-story-installed"
    if not stamp.exists():  # the test checkout was installed by run_tests.sh, not by the script
        stamp.touch()
    os.utime(folder / "pyproject.toml", (0, 0))  # older than the stamp: no reinstall
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    return subprocess.run(
        ["bash", "start_pregenerated_game.sh"], cwd=folder, input=answers, capture_output=True, text=True,
        timeout=300, env=env,
    )  # fmt: skip


def test_the_menu_shows_the_estimate_and_generates_only_when_confirmed(tmp_path: Path) -> None:
    declined = _menu(tmp_path, "2\n苏州\n书生:落第的读书人\nn\nq\n")
    assert declined.returncode == 0, declined.stderr
    said = declined.stdout + declined.stderr
    assert "预估" in said and "离线写作器" in said and "未开始 / not started" in said
    assert not (tmp_path / "ghost_stories.db").exists() and not any((tmp_path / "checkpoints").glob("*"))
    accepted = _menu_again(tmp_path, "2\n苏州\n书生:落第的读书人\n\nq\n")
    said = accepted.stdout + accepted.stderr
    assert accepted.returncode == 0 and "ID: 1" in said, said[-2000:]


def _menu_again(folder: Path, answers: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSF_", "OPENAI_"))}
    return subprocess.run(
        ["bash", "start_pregenerated_game.sh"], cwd=folder, input=answers, capture_output=True, text=True,
        timeout=300, env=env,
    )  # fmt: skip
