"""Lets ``python -m ghost_story_factory`` run the command line."""

from .cli import run

run()
