"""The exceptions a caller of the library can catch, each with the exit code the CLI gives it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # writers.base imports this module: the name is only needed for the annotation
    from .writers.base import Usage


class GhostStoryError(Exception):
    """Base of every error this package raises on purpose. ``str()`` is a one-line cause."""

    exit_code = 1


class InputError(GhostStoryError):
    """Bad usage or input: nothing was written."""

    exit_code = 2


class WriterError(GhostStoryError):
    """The writer (LLM backend) could not give a usable reply."""

    exit_code = 1
    usage: Usage | None = None  # tokens spent on the failed call, when known


class WriterUnavailable(WriterError):
    """Retries are exhausted (network, rate limit, server errors, invalid replies): rerun resumes."""

    exit_code = 75


class InvalidReply(WriterUnavailable):
    """Every attempt at a call came back invalid against its schema."""


class WriterRejected(WriterError):
    """The backend refused the request itself (bad key, unknown model): retrying cannot help."""

    exit_code = 1


class BudgetReached(GhostStoryError):
    """The token or cost budget is spent; checkpoints are saved and a rerun with more continues."""

    exit_code = 3


class CheckpointLocked(GhostStoryError):
    """Another live process is generating the same city."""

    exit_code = 1


class LibraryError(GhostStoryError):
    """The story library could not be read or written."""

    exit_code = 1


class Interrupted(GhostStoryError):
    """The run was stopped by a signal; checkpoints are saved."""

    exit_code = 130


class StoryFormatError(GhostStoryError):
    """A story (from the library, a file or a checkpoint) does not match the story format."""

    exit_code = 1


class CheckpointVersionError(GhostStoryError):
    """Checkpoints written by an older version of the checkpoint format: finish them there or start over."""

    exit_code = 1


class CheckpointError(GhostStoryError):
    """The checkpoint folder cannot be written at all, so a run could not keep its work."""

    exit_code = 1


class ExportError(GhostStoryError):
    """A story cannot be exported in the asked format or written where asked; ``str()`` is a one-line cause."""

    exit_code = 1


class BatchPending(GhostStoryError):
    """``--detach``: a wave of requests was submitted as a provider batch and saved; rerun to collect.

    Not a failure: the CLI prints how to collect the batch and exits 0.
    """

    exit_code = 0

    def __init__(self, message: str, batches: int = 1, lines: int = 0) -> None:
        super().__init__(message)
        self.batches = batches
        self.lines = lines
