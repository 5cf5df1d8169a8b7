"""Generates a whole story: documents, characters, one graph per character, then the library.

A run resumes from whatever checkpoints the city has; it saves the story in one transaction and
only then deletes the checkpoints. A run id kept in both places makes a crash between those two
steps harmless: the rerun finds its story already saved and only cleans up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from .. import __version__
from ..errors import BatchPending, GhostStoryError, Interrupted
from ..model import FORMAT_VERSION, load_story
from ..playtest import playtest
from ..text import clean_line
from ..writers import prompts
from ..writers.base import Usage, Writer
from ..writers.pricing import BATCH_SHARE
from .builder import Budget, StoryContext, TreeBuilder, TreeSettings, Window, answer, tree_settings_dict
from .checkpoints import CheckpointStore, StoryCheckpoint
from .progress import Progress
from .state import NAME_CAP, GameState
from .tree import Tree, report, validate

EXPORT_FORMAT_VERSION = FORMAT_VERSION


class LibraryLike(Protocol):
    """What the generator needs from the story library (see :class:`ghost_story_factory.library.Library`)."""

    def find_run(self, run_id: str) -> int | None: ...

    def save(self, story: dict[str, Any]) -> int: ...


def character_spec(entry: str | tuple[str, str]) -> dict[str, Any]:
    """A character the user named: a name, or a (name, role) pair."""
    name, role = (entry, "") if isinstance(entry, str) else entry
    return {"name": name, "role": role, "description": ""}


@dataclass(frozen=True)
class GenerationSettings:
    city: str
    characters: tuple[str | tuple[str, str], ...] = ()  # names, or (name, role) pairs
    lang: str = "zh"
    tree: TreeSettings = field(default_factory=TreeSettings)
    budget: Budget = field(default_factory=Budget)

    def stored(self) -> dict[str, Any]:
        """The settings that shape the story, kept in checkpoints; on resume they win over flags."""
        return {"lang": self.lang, **tree_settings_dict(self.tree)}


@dataclass
class GenerationResult:
    story_id: int
    story: dict[str, Any]
    resumed: bool
    already_saved: bool
    deleted: list[Path]


class StoryGenerator:
    def __init__(
        self,
        *,
        writer: Writer,
        store: CheckpointStore,
        library: LibraryLike,
        progress: Progress,
        settings: GenerationSettings,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.writer = writer
        self.store = store
        self.library = library
        self.progress = progress
        self.settings = settings
        self.stop = stop or asyncio.Event()
        self.usage = Usage()
        self.calls = 0
        self._started = time.monotonic()
        self._elapsed_before = 0.0
        self._builders: list[TreeBuilder] = []  # trees growing now

    async def run(self) -> GenerationResult:
        notice = self.store.acquire_lock()
        if notice:
            self.progress.warn(notice)
        attach = getattr(self.writer, "attach", None)
        if callable(attach):  # batch mode keeps its batch records with the city's checkpoints
            attach(
                self.store,
                notify=lambda text: self.progress.line("notice", text=text),
                lang=self.settings.lang,
            )
        try:
            return await self._run()
        finally:
            self.store.release_lock()

    async def _run(self) -> GenerationResult:
        checkpoint = self.store.load_story()
        resumed = checkpoint is not None
        if checkpoint is None:
            checkpoint = await self._start()
        else:
            self._resume_from(checkpoint)
            saved = self.library.find_run(checkpoint.run_id)
            if saved is not None:  # saved before a crash stopped the cleanup
                names = [c["name"] for c in checkpoint.characters]
                return GenerationResult(saved, {}, True, True, self.store.cleanup(names))
        settings = self._effective_settings(checkpoint.settings)
        try:
            await self._build_trees(checkpoint, settings)
        except Interrupted:
            detached = getattr(self.writer, "detached", None)
            if detached:  # --detach: the wave waits with the provider; checkpoints and records are saved
                batches, lines = detached
                raise BatchPending(
                    f"{lines} requests wait in {batches} provider batches; run the same command again to "
                    "collect them (ghost-story status lists them)",
                    batches=batches,
                    lines=lines,
                ) from None
            raise
        story = self._export(checkpoint, settings, resumed)
        story_id = self.library.save(story)
        deleted = self.store.cleanup([c["name"] for c in checkpoint.characters])
        return GenerationResult(story_id, story, resumed, False, deleted)

    # ---------------------------------------------------------------------------------------
    async def _start(self) -> StoryCheckpoint:
        settings = self.settings
        journal = self.store.journal(None)
        try:
            named = [character_spec(entry) for entry in settings.characters]
            request = prompts.documents_request(
                settings.city, [{"name": c["name"], "role": c["role"]} for c in named], settings.lang
            )
            docs = await self._ask(journal, request)
            # Names are one line wherever they are shown (screens, state bars, file names, exports).
            docs = {**docs, "title": clean_line(docs["title"], 80)}
            docs["scenes"] = [clean_line(scene, NAME_CAP) or scene.strip() for scene in docs["scenes"]]
            self.progress.line("documents", title=docs["title"])
            if named:
                characters = named
            else:
                reply = await self._ask(
                    journal, prompts.characters_request(settings.city, docs, settings.lang)
                )
                characters = [
                    {"name": clean_line(c["name"], 60), "role": clean_line(c["role"], 120),
                     "description": c["description"].strip()}
                    for c in reply["characters"]
                ]  # fmt: skip
        finally:
            journal.close()
        for position, character in enumerate(characters):
            character["is_protagonist"] = position == 0
        self.progress.line("characters", names=", ".join(c["name"] for c in characters))
        checkpoint = StoryCheckpoint(
            run_id=uuid.uuid4().hex,
            settings=settings.stored(),
            meta={"backend": self.writer.name, "model": self.writer.model, "resumes": 0},
            documents=docs,
            characters=characters,
            completed={},
            usage=Usage(),
            calls=0,
            elapsed_seconds=0.0,
        )
        self._save(checkpoint)
        if self.stop.is_set():
            raise Interrupted("interrupted")
        return checkpoint

    async def _ask(self, journal: Any, request: Any) -> dict[str, Any]:
        call = asyncio.ensure_future(answer(self.writer, journal, request, self.settings.tree.attempts))
        stopper = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait([call, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not call.done():  # stopped: the call in flight gets the grace period, like tree calls
            done, _ = await asyncio.wait([call], timeout=self.settings.tree.grace_seconds)
            if not done:
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await call
                raise Interrupted("interrupted")
        result = call.result()
        self.usage.add(result.usage)
        self.calls += result.attempts
        return result.data

    def _resume_from(self, checkpoint: StoryCheckpoint) -> None:
        resume_writer = getattr(self.writer, "resume_from", None)
        if callable(resume_writer):
            resume_writer(checkpoint.meta)
        self.usage.add(checkpoint.usage)
        self.calls = checkpoint.calls
        self._elapsed_before = checkpoint.elapsed_seconds
        checkpoint.meta["resumes"] = int(checkpoint.meta.get("resumes", 0)) + 1
        self._save(checkpoint)  # counted at once: a run killed again before its next save still counts
        self.progress.line(
            "resume_story",
            city=self.settings.city,
            done=len(checkpoint.completed),
            total=len(checkpoint.characters),
        )
        given = [character_spec(entry)["name"] for entry in self.settings.characters]
        stored = [c["name"] for c in checkpoint.characters]
        if given and given != stored:
            self.progress.warn(
                f"resuming with the stored characters {', '.join(stored)} (not {', '.join(given)})"
            )

    def _effective_settings(self, stored: dict[str, Any]) -> TreeSettings:
        """The stored story-shaping settings win over flags, with a warning for each conflict."""
        wanted = self.settings.stored()
        for key, value in stored.items():
            if key in wanted and wanted[key] != value:
                self.progress.warn(f"{key}: continuing with the stored value {value} (not {wanted[key]})")
        shape = {k: stored[k] for k in ("max_depth", "branching", "max_nodes") if k in stored}
        return dataclasses.replace(self.settings.tree, **shape)

    async def _plan(
        self, checkpoint: StoryCheckpoint, character: dict[str, Any], settings: TreeSettings, journal: Any
    ) -> dict[str, Any]:
        """The character's plan: written once, kept in the character checkpoint, never asked again."""
        known = checkpoint.plans.get(character["name"])
        if known is not None:
            return known
        request = prompts.plan_request(
            city=self.settings.city,
            lang=checkpoint.settings.get("lang", self.settings.lang),
            story=checkpoint.documents,
            character=character,
            max_depth=settings.max_depth,
            branching=settings.branching,
        )
        reply = await self._ask(journal, request)
        for key in ("role", "description"):  # the user's words win; the plan fills what they left out
            if not character.get(key):
                character[key] = reply[key].strip()
        plan = {k: reply[k] for k in ("beats", "endings", "clues", "flags", "items")}
        checkpoint.plans[character["name"]] = plan
        self._save(checkpoint)
        self.progress.line(
            "plan", name=character["name"], beats=len(plan["beats"]), endings=len(plan["endings"])
        )
        return plan

    async def _build_trees(self, checkpoint: StoryCheckpoint, settings: TreeSettings) -> None:
        """Every unfinished character's tree, side by side in one window of ``concurrency`` calls.

        Each tree depends only on its own replies, so growing them together changes no byte of the
        story. When one tree stops (a writer failure, the budget), the others are stopped too, save
        their checkpoints, and the first real cause is raised."""
        # Batch mode: a wave is a whole level of every tree, so no call may wait for a slot.
        window = Window(int(getattr(self.writer, "batch_window", 0) or settings.concurrency))
        pending = []
        for character in checkpoint.characters:
            if character["name"] in checkpoint.completed:
                self.progress.line("skip", name=character["name"])
            else:
                pending.append(character)

        async def one(character: dict[str, Any]) -> None:
            try:
                tree = await self._build_tree(checkpoint, character, settings, window)
            except BaseException:
                self.stop.set()  # the siblings drain their calls in flight and save
                raise
            checkpoint.completed[character["name"]] = {"tree": tree.to_dict(), "report": report(tree)}
            if self._save(checkpoint):  # a failed save has already said so in its warning
                self.progress.line(
                    "saved_story", done=len(checkpoint.completed), total=len(checkpoint.characters)
                )

        results = await asyncio.gather(*(one(c) for c in pending), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:  # the cause, not the stop it made the others take
            raise next((f for f in failures if not isinstance(f, Interrupted)), failures[0])

    def _live_spend(self) -> Usage:
        """What unfinished trees have spent so far (finished ones are in ``self.usage``)."""
        total = Usage()
        for builder in self._builders:
            total.add(builder.usage)
        return total

    async def _build_tree(
        self, checkpoint: StoryCheckpoint, character: dict[str, Any], settings: TreeSettings, window: Window
    ) -> Tree:
        name = character["name"]
        resume = self.store.load_tree(name, checkpoint.run_id)
        journal = self.store.journal(name)
        lang = checkpoint.settings.get("lang", self.settings.lang)
        try:
            plan = await self._plan(checkpoint, character, settings, journal)
        except BaseException:
            journal.close()
            raise
        builder = TreeBuilder(
            writer=self.writer,
            context=StoryContext(self.settings.city, lang, checkpoint.documents, character, plan),
            settings=settings,
            store=self.store,
            journal=journal,
            progress=self.progress,
            run_id=checkpoint.run_id,
            stored_settings=checkpoint.settings,
            budget=self.settings.budget,
            spent_before=self.usage,
            spent_elsewhere=self._live_spend,
            stop=self.stop,
            window=window,
        )
        self._builders.append(builder)
        written = 0
        if resume is None:
            self.progress.line("start_tree", name=name)
        else:
            tree = resume.tree
            written = len(tree.nodes) - len(tree.queue)
            depth = tree.nodes[tree.queue[0]].depth if tree.queue else tree.max_depth_reached
            self.progress.line("resume_tree", name=name, written=written, queue=len(tree.queue), depth=depth)
        # Replies received but not in the tree checkpoint yet (the plan's is in the journal too).
        reusable = len(journal) - written - (1 if name in checkpoint.plans else 0)
        if reusable > 0:
            self.progress.line("journal" if self.writer.name == "offline" else "journal_paid", count=reusable)
        self.progress.tree_started(name, settings.max_nodes, len(resume.tree.nodes) if resume else 0)
        try:
            tree = await builder.build(GameState(scene=checkpoint.documents["scenes"][0]), resume)
        finally:
            self.progress.tree_finished(name)
            journal.close()
            self._builders.remove(builder)
        problems = validate(tree, settings.max_nodes)
        if problems:
            raise GhostStoryError(f"the tree of {name} breaks its invariants: {'; '.join(problems[:3])}")
        # The tree's spend moves into the story totals only now: while a tree is unfinished it
        # lives in the tree checkpoint, so a resume never counts it twice.
        self.usage.add(builder.usage)
        self.calls += builder.calls
        rep = report(tree)
        endings = ", ".join(f"{k} {v}" for k, v in rep["endings_by_type"].items())
        self.progress.line(
            "tree_done",
            name=name,
            nodes=rep["nodes"],
            path=rep["main_path_length"],
            endings=endings,
            minutes=rep["play_minutes_main_path"],
        )
        return tree

    def _batch_meta(self) -> dict[str, Any]:
        """Batch mode: the tokens answered through batches and what they cost at the batch price."""
        batched = getattr(self.writer, "batch_usage", None)
        if not isinstance(batched, Usage):
            return {}
        price = getattr(self.settings.budget.cost, "batch_cost", None)
        cost = price(batched) if callable(price) else None
        stats: Any = getattr(self.writer, "stats", dict)()
        return {
            "batch": {
                "tokens": batched.to_dict(),
                "cost_usd": None if cost is None else round(cost, 6),
                "price_share": BATCH_SHARE,
                "batches": stats.get("batches", 0),
                "lines": stats.get("batch_lines", 0),
            }
        }

    @property
    def elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._started

    def _save(self, checkpoint: StoryCheckpoint) -> bool:
        # What the writer learned about the provider (the JSON mode it settled on, keywords it
        # refuses) rides in meta, so a resume does not negotiate again.
        learned = getattr(self.writer, "checkpoint_meta", None)
        if callable(learned):
            checkpoint.meta.update(learned())
        checkpoint.usage = Usage(self.usage.prompt, self.usage.completion, self.usage.cached)
        checkpoint.calls = self.calls
        checkpoint.elapsed_seconds = self.elapsed
        return self.store.save_story(checkpoint)

    # ---------------------------------------------------------------------------------------
    def _export(self, checkpoint: StoryCheckpoint, settings: TreeSettings, resumed: bool) -> dict[str, Any]:
        documents = checkpoint.documents
        lang = checkpoint.settings.get("lang", self.settings.lang)
        characters = []
        for character in checkpoint.characters:
            done = checkpoint.completed[character["name"]]
            tree = export_tree(done["tree"])
            plan = checkpoint.plans.get(character["name"])
            characters.append({**character, "plan": plan, "report": done["report"], "tree": tree})
        cost = self.settings.budget.cost(self.usage)
        story = {
            "meta": {
                "format_version": EXPORT_FORMAT_VERSION,
                "generator": f"ghost-story-factory {__version__}",
                "backend": self.writer.name,
                "model": self.writer.model,
                "offline": self.writer.name == "offline",
                "run_id": checkpoint.run_id,
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "elapsed_seconds": round(self.elapsed, 3),
                "resumed": resumed or checkpoint.meta.get("resumes", 0) > 0,
                "resumes": checkpoint.meta.get("resumes", 0),
                "settings": {
                    **checkpoint.settings,
                    "concurrency": settings.concurrency,
                    "checkpoint_every": settings.checkpoint_every,
                },
                "tokens": self.usage.to_dict(),
                "cost_usd": None if cost is None else round(cost, 6),
                "calls": self.calls,
                **self._batch_meta(),
            },
            "story": {
                "title": documents["title"],
                "city": self.settings.city,
                "lang": lang,
                **{k: documents[k] for k in ("synopsis", "game_design", "lore", "main_story", "scenes")},
            },
            "characters": characters,
        }
        # The report says how the story plays: random plays under the runtime rules, on the typed model.
        typed = load_story(story)
        for raw, typed_character in zip(characters, typed.characters, strict=True):
            played = playtest(typed_character, lang).model_dump(mode="json")
            raw["report"] = {**raw["report"], "playtest": played}
        return story


def export_tree(tree: dict[str, Any]) -> dict[str, Any]:
    """The public form of a finished tree: what a player or an engine needs, nothing internal.

    Bridges are written with the node they lead into; here each moves onto its choice."""
    keep = ("depth", "narrative", "state", "ending")
    nodes = {
        nid: {**{k: n[k] for k in keep}, "choices": [{**c, "bridge": ""} for c in n["choices"]]}
        for nid, n in tree["nodes"].items()
    }
    for node in tree["nodes"].values():
        for (parent, index), bridge in zip(
            node.get("arrivals") or [], node.get("bridges") or [], strict=False
        ):
            nodes[parent]["choices"][index]["bridge"] = bridge
    runtime = tree.get("runtime_endings") or {}
    return {"root": tree["root"], "nodes": nodes, "runtime_endings": dict(runtime)}
