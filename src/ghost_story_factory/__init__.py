"""Ghost Story Factory: pregenerates branching ghost-story dialogue graphs with an LLM, resumably.

The public API: :func:`generate_story` (and :func:`generate_story_async`) runs or resumes a generation;
:class:`Library` holds finished stories; :func:`load_story` gives the typed :class:`Story`; :func:`render`
exports one to Ink, Yarn, Twee, HTML, maps or JSON; every error this package raises on purpose is a
:class:`GhostStoryError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

__all__ = [
    "Budget",
    "GhostStoryError",
    "InputError",
    "Interrupted",
    "BudgetReached",
    "WriterError",
    "WriterUnavailable",
    "WriterRejected",
    "LibraryError",
    "StoryFormatError",
    "Library",
    "Story",
    "TreeSettings",
    "generate_story",
    "generate_story_async",
    "load_story",
    "render",
    "__version__",
]

from .errors import (
    BudgetReached,
    GhostStoryError,
    InputError,
    Interrupted,
    LibraryError,
    StoryFormatError,
    WriterError,
    WriterRejected,
    WriterUnavailable,
)

if TYPE_CHECKING:
    from .api import generate_story, generate_story_async
    from .export import render
    from .library import Library
    from .model import Story, load_story
    from .pregenerator.builder import Budget, TreeSettings

_LAZY = {
    "generate_story": ("api", "generate_story"),
    "generate_story_async": ("api", "generate_story_async"),
    "render": ("export", "render"),
    "Library": ("library", "Library"),
    "Story": ("model", "Story"),
    "load_story": ("model", "load_story"),
    "Budget": ("pregenerator.builder", "Budget"),
    "TreeSettings": ("pregenerator.builder", "TreeSettings"),
}


def __getattr__(name: str) -> Any:
    """Import the heavier parts on first use, so ``import ghost_story_factory`` stays cheap for the CLI."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
