"""Progress of long work, for a person or for a log.

At a terminal a person wants a bar on stderr that redraws in place; a run log (Dagster's,
which the UI shows line by line) wants a line now and then, never one per step. Long
functions take ``progress``: ``True`` for the bar, ``False`` for nothing, or a callable
that receives a line of text at most every ``LOG_EVERY_S`` seconds (e.g. a Dagster
``context.log.info``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

LOG_EVERY_S = 30.0

Progress = bool | Callable[[str], None]


class _Lines:
    """A file for tqdm that hands each redraw to ``emit`` as one line of text."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit

    def write(self, text: str) -> int:
        line = text.strip("\r\n ")
        if line:
            self.emit(line)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


def progress_bar(progress: Progress, every_s: float = LOG_EVERY_S, **options: Any) -> tqdm:
    """A tqdm bar (``options`` as tqdm's) drawn as ``progress`` asks."""
    if callable(progress):
        file: TextIO | _Lines = _Lines(progress)
        return tqdm(file=file, mininterval=every_s, ascii=True, ncols=100, **options)
    return tqdm(file=sys.stderr, disable=not progress, **options)


def throttled(emit: Callable[[str], None], every_s: float = LOG_EVERY_S) -> Callable[[str], None]:
    """``emit``, passing on the first line and then at most one line per ``every_s``."""
    last = -float("inf")

    def maybe_emit(line: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            emit(line)

    return maybe_emit
