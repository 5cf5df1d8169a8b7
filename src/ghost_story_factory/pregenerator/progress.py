"""What a generation tells its user as it goes: events, a silent sink, and the console screens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

MESSAGES: dict[str, dict[str, str]] = {
    "zh": {
        "offline": "✍️  使用离线写作器（内置，无需网络，不消耗 token）。设置 OPENAI_API_KEY 可使用真实模型。",
        "backend": "✍️  写作器：{backend}（模型 {model}）",
        "documents": "📜 故事文档已就绪：《{title}》",
        "characters": "👥 角色：{names}",
        "resume_story": "✅ 发现角色级检查点！已恢复 {count} 个角色的对话树",
        "resume_done": "   ✓ {name}",
        "skip": "⏩ 跳过已完成的角色「{name}」",
        "plan": "🗺️  「{name}」的故事规划已就绪：{beats} 个节拍，{endings} 种结局",
        "start_tree": "🔄 正在为角色「{name}」生成对话树...",
        "resume_tree": "✅ 发现未完成的检查点！正在恢复...\n   已恢复 {nodes} 个节点\n"
        "   队列中还有 {queue} 个待处理节点\n   从节点 #{next} 继续生成...",
        "journal": "   📒 日志中已有 {count} 条已付费的回复，将直接复用",
        "saved_tree": "💾 [检查点] 已保存 {nodes} 个节点 → {path}",
        "saved_story": "💾 [角色检查点] 已保存 {done}/{total} 个角色",
        "tree_done": "✅ {name} 的对话树生成完成：{nodes} 个节点，主线 {path} 步，结局 {endings}，约 {minutes} 分钟",
        "warning": "⚠️  {text}",
        "notice": "ℹ️  {text}",
        "bar": "{name}",
    },
    "en": {
        "offline": "✍️  Using the offline writer (built in, no network, no tokens). "
        "Set OPENAI_API_KEY to use a real model.",
        "backend": "✍️  Writer: {backend} (model {model})",
        "documents": "📜 Story documents ready: “{title}”",
        "characters": "👥 Characters: {names}",
        "resume_story": "✅ Found a character-level checkpoint! Restored {count} completed character tree(s)",
        "resume_done": "   ✓ {name}",
        "skip": "⏩ Skipping completed character “{name}”",
        "plan": "🗺️  The plan of “{name}” is ready: {beats} beats, {endings} endings",
        "start_tree": "🔄 Generating the dialogue tree of “{name}”...",
        "resume_tree": "✅ Found an unfinished checkpoint! Resuming...\n   Restored {nodes} nodes\n"
        "   {queue} nodes waiting in the queue\n   Continuing from node #{next}...",
        "journal": "   📒 {count} paid replies found in the journal will be reused",
        "saved_tree": "💾 [checkpoint] saved {nodes} nodes → {path}",
        "saved_story": "💾 [character checkpoint] saved {done}/{total} characters",
        "tree_done": "✅ Tree of {name} done: {nodes} nodes, main path {path} choices, endings {endings}, "
        "about {minutes} min",
        "warning": "⚠️  {text}",
        "notice": "ℹ️  {text}",
        "bar": "{name}",
    },
}


def say(lang: str, key: str, **values: Any) -> str:
    return MESSAGES.get(lang, MESSAGES["zh"])[key].format(**values)


class Progress(Protocol):
    """Events of a generation, in the order they happen."""

    def line(self, key: str, **values: Any) -> None: ...

    def warn(self, text: str) -> None: ...

    # Several characters' trees grow side by side: every tree event names its character.
    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None: ...

    def tree_advanced(
        self, name: str, nodes: int, depth: int, queue: int, tokens: int, cost: float | None
    ) -> None: ...

    def checkpoint_saved(self, path: Path, nodes: int) -> None: ...

    def tree_finished(self, name: str) -> None: ...


class SilentProgress:
    """Collects warnings and lines without showing anything (library use, tests)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def line(self, key: str, **values: Any) -> None:
        self.lines.append(say("en", key, **values))

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None:
        pass

    def tree_advanced(
        self, name: str, nodes: int, depth: int, queue: int, tokens: int, cost: float | None
    ) -> None:
        pass

    def checkpoint_saved(self, path: Path, nodes: int) -> None:
        self.lines.append(say("en", "saved_tree", nodes=nodes, path=path))

    def tree_finished(self, name: str) -> None:
        pass


class ConsoleProgress:
    """The screens: a rich progress bar on a terminal, plain lines (and a line per 10%) otherwise."""

    def __init__(self, console: Console, lang: str) -> None:
        self.console = console
        self.lang = lang
        self._bar: RichProgress | None = None
        self._tasks: dict[str, Any] = {}  # character -> its bar; one live display for all trees
        self._max: dict[str, int] = {}
        self._next_plain: dict[str, float] = {}

    def line(self, key: str, **values: Any) -> None:
        self.console.print(say(self.lang, key, **values), markup=False, highlight=False, soft_wrap=True)

    def warn(self, text: str) -> None:
        self.console.print(
            say(self.lang, "warning", text=text),
            style="yellow",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None:
        self._max[name] = max_nodes
        if not self.console.is_terminal:
            return
        if self._bar is None:
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("depth {task.fields[depth]} · queue {task.fields[queue]} · {task.fields[spend]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._bar.start()
        self._tasks[name] = self._bar.add_task(
            name, total=max_nodes, completed=nodes, depth=0, queue=0, spend=""
        )

    def tree_advanced(
        self, name: str, nodes: int, depth: int, queue: int, tokens: int, cost: float | None
    ) -> None:
        spend = f"{tokens} tokens" + ("" if cost is None else f" · ${cost:.4f}")
        if self._bar is not None and name in self._tasks:
            self._bar.update(self._tasks[name], completed=nodes, depth=depth, queue=queue, spend=spend)
        elif self._max.get(name) and time.monotonic() >= self._next_plain.get(name, 0.0):
            self._next_plain[name] = time.monotonic() + 5.0
            self.console.print(
                f"   {name} {nodes}/{self._max[name]} · depth {depth} · queue {queue} · {spend}",
                markup=False,
                highlight=False,
            )

    def checkpoint_saved(self, path: Path, nodes: int) -> None:
        self.line("saved_tree", nodes=nodes, path=path)

    def tree_finished(self, name: str) -> None:
        self._max.pop(name, None)
        if self._bar is not None and name in self._tasks:
            self._tasks.pop(name)
            if not self._tasks:
                self._bar.stop()
                self._bar = None
