"""The ``mixer`` command line as a black box: the installed console script, real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mixer_core.audio.io import read_audio
from mixer_core.audio.loudness import integrated_lufs

SEED = "change_volume(db=-3.0) apply_eq(low_gain=2.0, mid_gain=-1.0, high_gain=1.5) apply_reverb()"
ISSUE_TOOLS = {
    "change_volume": {"db"},
    "apply_eq": {"low_gain", "mid_gain", "high_gain"},
    "high_pass": {"freq"},
    "low_pass": {"freq"},
    "compress": {"threshold_db", "ratio", "attack_ms", "release_ms", "makeup_db"},
    "limit": {"threshold_db"},
    "apply_reverb": {"room_size", "damping", "wet", "dry"},
    "delay": {"time_ms", "feedback", "mix"},
    "pan": {"position"},
    "stereo_width": {"width"},
}


def mixer(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("mixer", path=str(Path(sys.executable).parent)) or "mixer"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    result = mixer(
        "generate-samples", "--out", str(out), "--artists", "1", "--songs", "1", "--seconds", "6"
    )
    assert result.returncode == 0, result.stderr
    (path,) = sorted(out.glob("*/*.wav"))
    return path


def test_tools_json_lists_every_tool_with_ranges() -> None:
    result = mixer("tools", "--json")
    assert result.returncode == 0, result.stderr
    tools = {tool["name"]: tool for tool in json.loads(result.stdout)}
    for name, params in ISSUE_TOOLS.items():
        listed = {p["name"]: p for p in tools[name]["params"]}
        assert params <= set(listed)
        for param in listed.values():
            assert param["min"] < param["max"] and param["unit"] is not None
    assert tools["change_volume"]["params"][0]["min"] <= -20
    assert tools["compress"]["params"][0]["min"] <= -60
    ratio = next(p for p in tools["compress"]["params"] if p["name"] == "ratio")
    assert ratio["min"] <= 1 and ratio["max"] >= 20


def test_tools_reference_in_docs_is_generated_from_the_registry() -> None:
    result = mixer("tools", "--markdown")
    docs = Path(__file__).resolve().parent.parent / "docs" / "tools.md"
    assert result.stdout == docs.read_text(), "regenerate: mixer tools --markdown > docs/tools.md"


def test_apply_seed_example_lowers_loudness_by_about_3_db(song: Path, tmp_path: Path) -> None:
    before = song.read_bytes()
    out = tmp_path / "mixed.wav"
    result = mixer("apply", str(song), SEED, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert song.read_bytes() == before
    original, rate = read_audio(song)
    processed, out_rate = read_audio(out)
    assert out_rate == rate and processed.shape == original.shape
    change = integrated_lufs(processed, rate) - integrated_lufs(original, rate)
    assert change == pytest.approx(-3.0, abs=1.0)


def test_gain_alone_moves_loudness_by_exactly_its_value(song: Path, tmp_path: Path) -> None:
    out = tmp_path / "quiet.flac"
    assert mixer("apply", str(song), "change_volume(db=-3.0)", "-o", str(out)).returncode == 0
    original, rate = read_audio(song)
    processed, _ = read_audio(out)
    change = integrated_lufs(processed, rate) - integrated_lufs(original, rate)
    assert change == pytest.approx(-3.0, abs=0.05)


@pytest.mark.reliability(
    case="malformed program given to `mixer apply`",
    outcome="exit 2, the position and the problem on stderr; no output written",
)
def test_malformed_program_exits_2_with_position_and_writes_nothing(
    song: Path, tmp_path: Path
) -> None:
    out = tmp_path / "never.wav"
    result = mixer("apply", str(song), "change_volume(db=-3.0", "-o", str(out))
    assert result.returncode == 2
    assert "at position 21" in result.stderr and "unbalanced parenthesis" in result.stderr
    assert not out.exists()


@pytest.mark.reliability(
    case="text file named `.wav` given to `mixer apply`",
    outcome="exit 2, the file named on stderr",
)
def test_bad_input_file_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "notes.wav"
    fake.write_text("not audio")
    result = mixer("apply", str(fake), "change_volume(db=1.0)", "-o", str(tmp_path / "o.wav"))
    assert result.returncode == 2 and str(fake) in result.stderr


@pytest.mark.reliability(
    case="`mixer apply` told to write over its input",
    outcome="exit 2, refused; the input unchanged byte for byte",
)
def test_output_may_not_overwrite_input(song: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.wav"
    shutil.copy(song, copy)
    result = mixer("apply", str(copy), "change_volume(db=1.0)", "-o", str(copy))
    assert result.returncode == 2 and "overwrite the input" in result.stderr
    assert copy.read_bytes() == song.read_bytes()


def test_every_command_has_help_with_an_example() -> None:
    import argparse

    from pipelines.cli import build_parser

    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"ingest", "train", "demo", "mix", "evaluate", "tools", "apply"} <= set(
        subparsers.choices
    )
    for name, sub in subparsers.choices.items():
        text = sub.format_help()
        assert "example:\n  mixer " + name in text, f"mixer {name} --help has no example"
    result = mixer("apply", "--help")
    assert result.returncode == 0 and "example:" in result.stdout
