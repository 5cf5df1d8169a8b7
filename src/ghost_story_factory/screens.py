"""The screens of a generation on a console: a rich progress bar on a terminal, plain lines otherwise.

It lives on the command-line side so the library itself never imports rich.
"""

from __future__ import annotations

import atexit
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from .pregenerator.progress import say, translate_warning
from .text import clean_text
from .vocabulary import duration


class ConsoleProgress:
    """The screens: a rich progress bar on a terminal, plain lines (and a line per 10%) otherwise.

    Besides the generation's events it shows the writer's (:meth:`writer_event`: a line per retry,
    the JSON mode chosen, refusals, replies cut at the cap) and a heartbeat while calls are in
    flight (:meth:`heartbeat`), so a slow or silent server never looks like a hung program.
    """

    def __init__(self, console: Console, lang: str, every: float = 5.0) -> None:
        self.console = console
        self.lang = lang
        self.every = every  # seconds between plain progress lines
        self._bar: RichProgress | None = None
        self._tasks: dict[str, Any] = {}  # character -> its bar; one live display for all trees
        self._max: dict[str, int] = {}
        self._next_plain: dict[str, float] = {}
        self._first: dict[str, tuple[float, int, float | None]] = {}  # name -> (time, nodes, cost)
        self._last_output = time.monotonic()
        self._last_reply = time.monotonic()

    def _print(self, text: str, **style: Any) -> None:
        """Every screen line: names and titles come from users and writers, so no escape sequence passes."""
        self._last_output = time.monotonic()
        self.console.print(clean_text(text), markup=False, highlight=False, soft_wrap=True, **style)

    def line(self, key: str, **values: Any) -> None:
        self._print(say(self.lang, key, **values))

    def warn(self, text: str) -> None:
        self._print(say(self.lang, "warning", text=translate_warning(self.lang, text)), style="yellow")

    # -- the writer's events --------------------------------------------------------------------

    def writer_event(self, event: str, /, **values: Any) -> None:
        """One line per writer event: "retry", "format", "refused", "cut" (see OpenAIWriter)."""
        if event == "retry":
            self.line("retry", **values)
        elif event == "format":
            tried = values.get("tried") or []
            if values.get("from_checkpoint"):
                how = say(self.lang, "format_how_checkpoint")
            elif len(tried) > 1:
                how = say(self.lang, "format_how_tried", tried=" → ".join(tried))
            else:
                how = say(self.lang, "format_how_first")
            self.line("format", mode=values.get("mode"), how=how)
        elif event == "refused":
            self.line("refused", what=values.get("what"), reason=values.get("reason"))
        elif event == "cut":
            self.line("cut", kind=values.get("call"), cap=values.get("cap"))

    def reply_arrived(self) -> None:
        self._last_reply = time.monotonic()

    def heartbeat(self, in_flight: int, elapsed: float) -> None:
        """Called about once a second by the CLI: shows that calls are in flight and for how long."""
        now = time.monotonic()
        if self._bar is not None:
            flight = say(self.lang, "in_flight", count=in_flight) if in_flight else ""
            for task in self._tasks.values():
                self._bar.update(task, flight=flight)
            return
        if in_flight and now - self._last_output >= self.every:
            self.line("waiting", in_flight=in_flight, waited=now - self._last_reply, elapsed=elapsed)

    # -- trees ----------------------------------------------------------------------------------

    def tree_started(self, name: str, max_nodes: int, nodes: int) -> None:
        self._max[name] = max_nodes
        self._first.pop(name, None)
        if not self.console.is_terminal:
            return
        if self._bar is None:
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]} {task.fields[flight]}"),  # fields are built by say()
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            # The bar hides the cursor; a run that ends without tree_finished (an error, Ctrl+C,
            # sys.exit) must still give it back.
            atexit.register(self.close)
        self._tasks[name] = self._bar.add_task(
            escape(clean_text(name)),  # the description column is markup: a name is shown as typed
            total=max_nodes,
            completed=nodes,
            stats=escape(say(self.lang, "bar_stats", depth=0, queue=0, spend="")),
            flight="",
        )

    def tree_advanced(
        self, name: str, nodes: int, depth: int, queue: int, tokens: int, cost: float | None
    ) -> None:
        now = time.monotonic()
        self._last_reply = now
        first = self._first.setdefault(name, (now, nodes, cost))
        price = say(self.lang, "spend_unknown") if cost is None else f"${cost:.4f}"
        spend = say(self.lang, "spend", tokens=tokens, cost=price)
        total = self._max.get(name, 0)
        done, took = nodes - first[1], now - first[0]
        if done > 0 and took > 0 and total > nodes:
            spend += " · " + say(self.lang, "eta", eta=duration((total - nodes) * took / done, self.lang))
            if cost is not None and first[2] is not None:
                projected = cost + (cost - first[2]) / done * (total - nodes)
                spend += " · " + say(self.lang, "projected", cost=projected)
        if self._bar is not None and name in self._tasks:
            stats = say(self.lang, "bar_stats", depth=depth, queue=queue, spend=spend)
            self._bar.update(self._tasks[name], completed=nodes, stats=escape(stats))
        elif total and now >= self._next_plain.get(name, 0.0):
            self._next_plain[name] = now + self.every
            self._print(
                say(
                    self.lang,
                    "plain_tree",
                    name=name,
                    nodes=nodes,
                    total=total,
                    depth=depth,
                    queue=queue,
                    spend=spend,
                )
            )

    def checkpoint_saved(self, path: Path, nodes: int) -> None:
        self.line("saved_tree", nodes=nodes, path=path)

    def tree_finished(self, name: str) -> None:
        self._max.pop(name, None)
        if self._bar is not None and name in self._tasks:
            self._tasks.pop(name)
            if not self._tasks:
                self.close()

    def close(self) -> None:
        """Stop the live bar (if any) and show the cursor again; safe to call more than once."""
        if self._bar is not None:
            bar, self._bar = self._bar, None
            self._tasks.clear()
            bar.stop()
            atexit.unregister(self.close)
