"""The one way to run a generation from Python: settings in, a finished story in the library out.

The command line, the tests and the benchmarks all call :func:`generate_story` (or its async twin);
it wires the checkpoint store, the library and the StoryGenerator so nobody repeats that wiring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from .library import Library
from .pregenerator.builder import Budget, TreeSettings
from .pregenerator.checkpoints import CheckpointStore
from .pregenerator.progress import Progress, SilentProgress
from .pregenerator.story import GenerationResult, GenerationSettings, StoryGenerator
from .writers.base import Writer

CharacterSpec = str | tuple[str, str]  # a name, or (name, role)


async def generate_story_async(
    city: str,
    characters: Sequence[CharacterSpec] = (),
    *,
    writer: Writer | None = None,
    lang: str = "zh",
    tree: TreeSettings | None = None,
    budget: Budget | None = None,
    checkpoint_dir: str | PathLike[str] = "checkpoints",
    db: str | PathLike[str] = "ghost_stories.db",
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> GenerationResult:
    """Generate (or resume) the story of ``city`` and save it to the library at ``db``.

    ``writer`` defaults to the offline writer. Setting ``stop`` stops gracefully: calls in flight
    finish within ``tree.grace_seconds``, both checkpoint levels are saved, and
    :class:`~ghost_story_factory.errors.Interrupted` is raised; a later call resumes.
    """
    if writer is None:
        from .writers.offline import OfflineWriter

        writer = OfflineWriter()
    progress = progress or SilentProgress()
    store = CheckpointStore(Path(checkpoint_dir), city, progress.warn)
    settings = GenerationSettings(
        city=city,
        characters=tuple(characters),
        lang=lang,
        tree=tree or TreeSettings(),
        budget=budget or Budget(),
    )
    with Library(db) as library:
        generator = StoryGenerator(
            writer=writer, store=store, library=library, progress=progress, settings=settings, stop=stop
        )
        return await generator.run()


def generate_story(
    city: str, characters: Sequence[CharacterSpec] = (), **options: object
) -> GenerationResult:
    """:func:`generate_story_async` run to completion (see it for the options)."""
    return asyncio.run(generate_story_async(city, characters, **options))  # type: ignore[arg-type]
