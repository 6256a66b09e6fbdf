"""A result above 0 dBFS is never clipped silently.

The choice (``pipelines/cli/common.py``, and the ``-o`` help): reported on stderr with the
file and its peak; a .wav (32-bit float) keeps it; any other format, which would clip,
is refused and nothing is written, an existing file at that name left as it was.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mixer_core.audio.io import AudioWriter, read_audio
from pipelines.cli.common import OUTPUT_HELP
from tests.test_audio_shapes import model_folder, music, run, small_streaming, write
from tests.test_cli import mixer

__all__ = ["model_folder", "small_streaming"]  # fixtures shared with test_audio_shapes

RATE = 16000
HOT = "change_volume(db=12.0)"  # music() peaks near -5 dBFS: this puts it near +7 dBFS


def _peak_db(audio: np.ndarray) -> float:
    return 20 * math.log10(float(np.abs(audio).max()))


def _writable(suffix: str) -> bool:
    fmt = {".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}[suffix]
    return fmt in sf.available_formats()


@pytest.mark.reliability(
    case="`mixer apply` result above 0 dBFS written to .wav (32-bit float)",
    outcome="written as computed (float keeps it); a warning names the file and its peak",
)
def test_float_output_over_full_scale_is_kept_and_reported(tmp_path: Path) -> None:
    audio = music(1.0, RATE)
    source = write(tmp_path / "song.wav", audio, RATE, "FLOAT")
    out = tmp_path / "hot.wav"

    result = mixer("apply", str(source), HOT, "-o", str(out))

    assert result.returncode == 0, result.stderr
    written, _ = read_audio(out)
    assert sf.info(out).subtype == "FLOAT"
    np.testing.assert_allclose(written, audio * 10 ** (12 / 20), atol=1e-6)
    peak = _peak_db(written)
    assert peak > 0.0
    assert f"mixer apply: warning: {out}: the result peaks at {peak:+.1f} dBFS" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.reliability(
    case="`mixer apply` result above 0 dBFS written to a fixed-point format (.flac 24-bit, "
    ".ogg, .mp3), over an existing file",
    outcome="exit 2 naming the file, its peak and the format; nothing written, the existing "
    "file untouched, no temp file left",
)
@pytest.mark.parametrize("suffix", [".flac", ".ogg", ".mp3"])
def test_fixed_point_output_over_full_scale_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    if not _writable(suffix):
        pytest.skip(f"this libsndfile cannot write {suffix}")
    source = write(tmp_path / "song.wav", music(1.0, RATE), RATE, "FLOAT")
    out = tmp_path / f"master{suffix}"
    out.write_bytes(b"the previous master")

    code, stdout, stderr = run(capsys, "apply", str(source), HOT, "-o", str(out))

    assert code == 2
    peak = _peak_db(read_audio(source)[0] * 10 ** (12 / 20))
    assert f"{out}: the result peaks at {peak:+.1f} dBFS, above full scale" in stderr
    assert "would clip, so nothing was written" in stderr and "limit(" in stderr
    assert "wrote" not in stdout
    assert out.read_bytes() == b"the previous master"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, out.name])


@pytest.mark.reliability(
    case="`mixer apply` result at or below 0 dBFS written to .flac (24-bit PCM)",
    outcome="written, no warning",
)
def test_a_result_within_full_scale_is_written_without_a_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = music(1.0, RATE)
    audio /= np.abs(audio).max()  # exactly 0 dBFS
    source = write(tmp_path / "song.wav", audio, RATE, "FLOAT")
    out = tmp_path / "out.flac"

    code, _, stderr = run(capsys, "apply", str(source), "change_volume(db=0.0)", "-o", str(out))

    assert code == 0, stderr
    assert "warning" not in stderr and "peaks" not in stderr
    np.testing.assert_allclose(read_audio(out)[0], audio, atol=2.0**-22)


@pytest.mark.reliability(
    case="a result above 0 dBFS from a file too long to hold (streamed), to .flac and .wav",
    outcome=".flac refused after the run, nothing written; .wav kept with the warning",
)
def test_a_streamed_result_is_checked_before_it_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_streaming: None
) -> None:
    audio = music(10.0, 8000)
    source = write(tmp_path / "long.wav", audio, 8000, "FLOAT")
    flac, wav = tmp_path / "out.flac", tmp_path / "out.wav"

    refused = run(capsys, "apply", str(source), HOT, "-o", str(flac))
    kept = run(capsys, "apply", str(source), HOT, "-o", str(wav))

    assert refused[0] == 2 and "run in blocks" in refused[2]
    assert f"{flac}: the result peaks at" in refused[2] and not flac.exists()
    assert kept[0] == 0 and f"warning: {wav}: the result peaks at" in kept[2]
    np.testing.assert_allclose(read_audio(wav)[0], audio * 10 ** (12 / 20), atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.wav", "out.wav"]


@pytest.mark.reliability(
    case="`mixer mix` on a master peaking at +6 dBFS, written to .flac",
    outcome="the true-peak check appends limit(-1 dBFS), said on stderr; written within "
    "full scale, no refusal",
)
def test_mix_limits_rather_than_clips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_folder: Path
) -> None:
    audio = music(1.0, RATE)
    source = write(tmp_path / "hot master.wav", audio * (2.0 / np.abs(audio).max()), RATE, "FLOAT")
    out = tmp_path / "mixed.flac"

    code, stdout, stderr = run(
        capsys, "mix", str(source), "--prompt", "warmer", "--model", str(model_folder),
        "-o", str(out),
    )  # fmt: skip

    assert code == 0, stderr
    assert stdout.strip().splitlines()[-1].endswith("limit(threshold_db=-1.0)")
    assert "true peak is" in stderr and "limited to -1 dBFS" in stderr
    assert np.abs(read_audio(out)[0]).max() <= 10 ** (-1 / 20) + 2.0**-20


@pytest.mark.reliability(
    case="output path that cannot be written (its folder is a file) or a suffix that cannot "
    "be written (.mp4)",
    outcome="exit 1 / exit 2 naming the output; the input untouched",
)
def test_an_output_that_cannot_be_written_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "song.wav", music(0.5, RATE), RATE, "PCM_16")
    before = source.read_bytes()
    blocked = tmp_path / "song.wav" / "out.wav"
    unknown = tmp_path / "out.mp4"

    not_a_folder = run(capsys, "apply", str(source), "change_volume(db=-1.0)", "-o", str(blocked))
    bad_suffix = run(capsys, "apply", str(source), "change_volume(db=-1.0)", "-o", str(unknown))

    assert not_a_folder[0] == 1 and f"{blocked}: cannot write" in not_a_folder[2]
    assert bad_suffix[0] == 2 and f"{unknown}: cannot write '.mp4'" in bad_suffix[2]
    assert source.read_bytes() == before and not unknown.exists()


def test_the_choice_is_documented_where_the_flag_is() -> None:
    result = mixer("apply", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert " ".join(OUTPUT_HELP.split()) in text
    assert "never clipped silently" in text and "refused" in text


def test_the_writer_reports_the_peak_it_wrote(tmp_path: Path) -> None:
    with AudioWriter(tmp_path / "x.flac", RATE, 1) as writer:
        writer.write(np.array([[0.5, -1.5, 0.25]], np.float32))
        writer.write(np.array([[0.75]], np.float32))
        assert writer.peak == 1.5 and writer.subtype == "PCM_24"
    assert not list(tmp_path.iterdir())  # left without commit: nothing
