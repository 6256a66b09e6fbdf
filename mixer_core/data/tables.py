"""Writing and reading the parquet tables one stage leaves for the next.

Writes are atomic (a temporary file renamed over the target), so a reader or a killed
run sees the old table or the new one, never half of one.

A truncated or overwritten table (a full disk, a copy cut short, an editor's save)
otherwise surfaces as pyarrow's "magic bytes not found in footer", naming neither the
file nor the way out. The way out is always the same: the stage that wrote the table
writes it again, so the error names the file and that stage.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa


class StageTableError(ValueError):
    """A stage's table that cannot be read; names the file and the run that rewrites it."""

    def __init__(self, path: Path, producer: str, artist: str, problem: str) -> None:
        self.path = Path(path)
        self.producer = producer
        self.artist = artist
        self.problem = problem
        super().__init__(
            f"{path}: cannot be read as a parquet table ({problem}); the file is truncated or "
            f"corrupt: re-materialize {producer} for artist '{artist}' to write it again"
        )


def read_stage_table(
    path: Path, producer: str, artist: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The table at ``path``, written by the asset ``producer`` for partition ``artist``.

    A missing file stays a ``FileNotFoundError`` (callers say which stage has not run);
    an unreadable one, or one without ``columns``, is a :class:`StageTableError`.
    """
    try:
        return pd.read_parquet(path, columns=None if columns is None else list(columns))
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise StageTableError(path, producer, artist, lines[0]) from exc


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write a stage table so that readers see the old file or the new one, never half.

    The table goes to a temporary file in the same folder (same filesystem) and is then
    renamed over the target, which is atomic on POSIX and Windows.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
