"""Progress for a terminal or for a run log: a bar, nothing, or a line now and then."""

from __future__ import annotations

import time

from mixer_core.progress import progress_bar, throttled


def test_a_log_gets_lines_not_a_redraw_per_step() -> None:
    lines: list[str] = []
    with progress_bar(lines.append, every_s=3600, total=500, desc="evaluate", unit="recipe") as bar:
        for _ in range(500):
            bar.update(1)
    # the opening line and the closing one; nothing per step in between
    assert 1 <= len(lines) <= 3
    assert all("\r" not in line and "\n" not in line for line in lines)
    assert lines[-1].startswith("evaluate") and "500/500" in lines[-1]


def test_a_log_with_no_interval_gets_every_redraw() -> None:
    lines: list[str] = []
    with progress_bar(lines.append, every_s=0, total=5, desc="x") as bar:
        for _ in range(5):
            bar.update(1)
            time.sleep(0.01)
    assert len(lines) >= 5 and "5/5" in lines[-1]


def test_no_progress_is_a_disabled_bar(capsys) -> None:
    with progress_bar(False, total=3, desc="quiet") as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""
    with progress_bar(True, total=3, desc="loud") as bar:
        bar.update(3)
    assert "loud" in capsys.readouterr().err


def test_throttled_passes_the_first_line_then_one_per_interval() -> None:
    seen: list[str] = []
    emit = throttled(seen.append, every_s=3600)
    for i in range(10):
        emit(f"line {i}")
    assert seen == ["line 0"]
    every = throttled(seen.append, every_s=0)
    every("a")
    every("b")
    assert seen == ["line 0", "a", "b"]
