"""Every audio shape people have, given to the commands that read audio.

Real files written with soundfile go through the real ``mixer`` CLI (``main`` in-process,
or the console script where argv parsing itself is under test) and through
``read_audio`` as ingest calls it. Each shape gives a result (checked against the
program run on the decoded input) or an error naming the file; none a traceback.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from assets.raw_audio import build_inventory, readable_songs
from mixer_core.audio.io import READ_BLOCK_FRAMES, AudioFileError, read_audio
from mixer_core.language.grammar import parse
from mixer_core.language.registry import REGISTRY
from mixer_core.model import save_mixer
from mixer_core.model.mixer_model import MixerModel
from mixer_core.tools.mixing_tools import MixingTools
from pipelines.cli import main, streaming
from tests.test_cli import mixer
from tests.test_model import RATE as MODEL_RATE
from tests.test_model import tiny_config
from tests.test_model_persistence import train_a_little

PROGRAM = (
    "change_volume(db=-3.0) apply_eq(low_gain=2.0, high_gain=-2.0, high_freq=12000.0) "
    "high_pass(freq=40.0) compress(threshold_db=-18.0, ratio=3.0) apply_reverb(wet=0.2)"
)
SIDE = math.sqrt(0.5)
# The fold rule as documented in mixer_core/audio/channels.py, written out again here.
SPEAKER_GAINS = {
    "L": (1.0, 0.0),
    "R": (0.0, 1.0),
    "C": (SIDE, SIDE),
    "LFE": (0.0, 0.0),
    "Ls": (SIDE, 0.0),
    "Rs": (0.0, SIDE),
    "Cs": (0.5, 0.5),
    "Lss": (SIDE, 0.0),
    "Rss": (0.0, SIDE),
}
LAYOUT_NAMES = {
    3: "L R C",
    4: "L R Ls Rs",
    5: "L R C Ls Rs",
    6: "L R C LFE Ls Rs",
    7: "L R C LFE Cs Ls Rs",
    8: "L R C LFE Ls Rs Lss Rss",
}


def music(seconds: float, rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """``(channels, frames)`` float32: a different tone per channel over soft noise, peak < 0.6."""
    frames = max(1, round(seconds * rate))
    t = np.arange(frames) / rate
    rng = np.random.default_rng(seed)
    rows = [
        0.3 * np.sin(2 * np.pi * (110.0 + 37.0 * c) * t + c) + 0.05 * rng.standard_normal(frames)
        for c in range(channels)
    ]
    return np.stack(rows).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int, subtype: str = "PCM_24") -> Path:
    sf.write(path, audio.T, rate, subtype=subtype)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``mixer *argv`` in-process: (exit code, stdout, stderr). An exception fails the test."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def expected_fold(audio: np.ndarray) -> np.ndarray:
    gains = np.array([SPEAKER_GAINS[n] for n in LAYOUT_NAMES[audio.shape[0]].split()])
    return (gains.T @ audio.astype(np.float64)).astype(np.float32)


def program_on(audio: np.ndarray, rate: int, program: str = PROGRAM) -> np.ndarray:
    return MixingTools().apply(audio, rate, program)


@pytest.mark.reliability(
    case="3- to 8-channel file (3.0 to 7.1) given to `mixer apply` and to ingest's reader",
    outcome="folded to stereo by ITU-R BS.775 (centre, surrounds -3 dB, LFE dropped); "
    "note on stderr",
)
@pytest.mark.parametrize("channels", [3, 4, 5, 6, 7, 8])
def test_surround_is_folded_to_stereo_by_the_itu_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], channels: int
) -> None:
    audio = music(1.0, 16000, channels)
    source = write(tmp_path / f"surround {channels}.wav", audio, 16000)
    out = tmp_path / "out.wav"

    code, stdout, stderr = run(
        capsys, "apply", str(source), "change_volume(db=-6.0)", "-o", str(out)
    )

    assert code == 0, stderr
    assert f"{channels} channels ({LAYOUT_NAMES[channels]}) folded to stereo" in stderr
    assert str(source) in stderr and "wrote" in stdout
    decoded = sf.read(source, dtype="float32", always_2d=True)[0].T
    written, rate = read_audio(out)
    assert rate == 16000 and written.shape == (2, audio.shape[1])
    np.testing.assert_allclose(written, expected_fold(decoded) * 10 ** (-6 / 20), atol=2e-6)
    # ingest reads at the pipeline's rate: the same fold, resampled
    ingested, rate = read_audio(source, sample_rate=8000, channels=2)
    resampled = soxr.resample(expected_fold(decoded).T, 16000, 8000, quality="HQ").T
    assert rate == 8000
    np.testing.assert_allclose(ingested, resampled, atol=2e-6)


def test_surround_with_only_front_content_folds_to_exactly_that_stereo(tmp_path: Path) -> None:
    front = music(0.5, 16000, 2)
    surround = np.zeros((6, front.shape[1]), dtype=np.float32)
    surround[:2] = front
    source = write(tmp_path / "front.wav", surround, 16000, "FLOAT")
    folded, _ = read_audio(source, channels=2)
    np.testing.assert_array_equal(folded, front)


@pytest.mark.reliability(
    case="9- to 24-channel file (stems, ambisonics) given to `mixer apply` or ingest's reader",
    outcome="exit 2: the file and its channel count named (no layout to fold to stereo); "
    "a mono read takes the mean",
)
@pytest.mark.parametrize("channels", [9, 16, 24])
def test_more_channels_than_a_layout_are_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], channels: int
) -> None:
    audio = music(0.25, 16000, channels)
    source = write(tmp_path / f"stems {channels}.wav", audio, 16000)
    out = tmp_path / "out.wav"

    code, _, stderr = run(capsys, "apply", str(source), "change_volume(db=-3.0)", "-o", str(out))

    assert code == 2
    assert f"{source}: {channels} channels: no standard layout" in stderr
    assert not out.exists()
    with pytest.raises(AudioFileError, match=f"{channels} channels") as caught:
        read_audio(source, sample_rate=8000, channels=2)
    assert caught.value.path == str(source)
    mono, _ = read_audio(source, channels=1)
    decoded = sf.read(source, dtype="float32", always_2d=True)[0].T
    np.testing.assert_allclose(mono[0], decoded.mean(axis=0), atol=1e-6)


@pytest.mark.reliability(
    case="12-channel file among an artist's songs in `data/raw`",
    outcome="listed in the raw inventory as skipped with the channel count and the reason; "
    "the artist's other songs are ingested",
)
def test_ingest_lists_a_file_with_too_many_channels_as_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "artist"
    folder.mkdir()
    write(folder / "stereo.wav", music(0.25, 16000, 2), 16000)
    write(folder / "stems.wav", music(0.25, 16000, 12), 16000)
    inventory = build_inventory(folder, "artist").set_index("file")
    assert inventory.loc["stems.wav", "error"].startswith("12 channels: no standard layout")
    assert list(readable_songs(inventory.reset_index())["song"]) == ["stereo"]


@pytest.mark.reliability(
    case="8-channel WAV and 12-channel WAV given to the `mixer apply` console script",
    outcome="8: stereo result with a note; 12: exit 2 naming the file and count; no traceback",
)
def test_the_issue_reproduction_gives_a_result_and_a_message(tmp_path: Path) -> None:
    eight = write(tmp_path / "eight.wav", music(0.5, 22050, 8), 22050)
    twelve = write(tmp_path / "twelve.wav", music(0.5, 22050, 12), 22050)

    folded = mixer("apply", str(eight), "change_volume(db=-3.0)", "-o", str(tmp_path / "8.wav"))
    refused = mixer("apply", str(twelve), "change_volume(db=-3.0)", "-o", str(tmp_path / "12.wav"))

    assert folded.returncode == 0, folded.stderr
    assert "8 channels" in folded.stderr and read_audio(tmp_path / "8.wav")[0].shape[0] == 2
    assert refused.returncode == 2 and f"{twelve}: 12 channels" in refused.stderr
    assert "Traceback" not in folded.stderr + refused.stderr
    assert not (tmp_path / "12.wav").exists()


@pytest.mark.reliability(
    case="files at 8, 11.025, 16, 22.05, 44.1, 48, 88.2, 96 and 192 kHz given to `mixer apply`",
    outcome="the program's result at the file's own rate",
)
@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 88200, 96000, 192000])
def test_every_rate_from_8_to_192_khz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: int
) -> None:
    source = write(tmp_path / f"at {rate}.wav", music(0.5, rate), rate)
    out = tmp_path / "out.wav"

    code, _, stderr = run(capsys, "apply", str(source), PROGRAM, "-o", str(out))

    assert code == 0, stderr
    written, written_rate = read_audio(out)
    decoded, _ = read_audio(source)
    assert written_rate == rate and written.shape == decoded.shape
    np.testing.assert_allclose(written, program_on(decoded, rate), atol=1e-6)


@pytest.mark.reliability(
    case="file below 8 kHz (4 kHz, 6 kHz) given to `mixer apply`",
    outcome="exit 2: the file and its rate named, nothing written",
)
@pytest.mark.parametrize("rate", [4000, 6000])
def test_a_rate_below_what_the_tools_run_at_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: int
) -> None:
    source = write(tmp_path / "phone.wav", music(0.5, rate), rate)
    out = tmp_path / "out.wav"
    code, _, stderr = run(capsys, "apply", str(source), PROGRAM, "-o", str(out))
    assert code == 2
    assert f"{source}: sample rate {rate} Hz is below the 8000 Hz" in stderr
    assert not out.exists()


@pytest.mark.reliability(
    case="8-bit, 16-, 24-, 32-bit PCM and 32-/64-bit float WAV, 8/16/24-bit FLAC to `mixer apply`",
    outcome="decoded to float and the program's result written",
)
@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [
        (".wav", "PCM_U8"),
        (".wav", "PCM_16"),
        (".wav", "PCM_24"),
        (".wav", "PCM_32"),
        (".wav", "FLOAT"),
        (".wav", "DOUBLE"),
        (".flac", "PCM_S8"),
        (".flac", "PCM_16"),
        (".flac", "PCM_24"),
    ],
)
def test_every_sample_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, subtype: str
) -> None:
    source = write(tmp_path / f"song{suffix}", music(0.5, 44100), 44100, subtype)
    assert sf.info(source).subtype == subtype
    out = tmp_path / "out.wav"

    code, _, stderr = run(capsys, "apply", str(source), PROGRAM, "-o", str(out))

    assert code == 0, stderr
    decoded, rate = read_audio(source)
    written, _ = read_audio(out)
    np.testing.assert_allclose(written, program_on(decoded, rate), atol=1e-6)
    # the decoded input is the written one to the format's precision
    bits = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16}.get(subtype, 24)
    np.testing.assert_allclose(decoded, music(0.5, 44100), atol=2.0 ** (1 - bits))


@pytest.mark.reliability(
    case="files shorter than a segment (1, 2 and 64 samples, 0.1 s, 1 s) to `mixer apply`",
    outcome="the program (EQ, filters, dynamics, reverb, delay) runs; same length out",
)
@pytest.mark.parametrize("frames", [1, 2, 64, 1600, 16000])
def test_files_shorter_than_a_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], frames: int
) -> None:
    audio = music(1.0, 16000)[:, :frames]
    source = write(tmp_path / "blip.wav", audio, 16000, "FLOAT")
    out = tmp_path / "out.wav"
    program = f"{PROGRAM} expand() limit() delay(time_ms=30.0, feedback=0.5)"

    code, _, stderr = run(capsys, "apply", str(source), program, "-o", str(out))

    assert code == 0, stderr
    written, _ = read_audio(out)
    assert written.shape == (2, frames) and np.isfinite(written).all()
    np.testing.assert_allclose(written, program_on(audio, 16000, program), atol=1e-6)


def _dc_offset(audio: np.ndarray) -> np.ndarray:
    return (0.4 + 0.5 * audio).astype(np.float32)


def _silence(audio: np.ndarray) -> np.ndarray:
    return np.zeros_like(audio)


def _clipped(audio: np.ndarray) -> np.ndarray:
    return np.clip(audio * 8.0, -1.0, 1.0).astype(np.float32)


@pytest.mark.reliability(
    case="DC offset, digital silence and a clipped (square-topped, full-scale) master to "
    "`mixer apply`",
    outcome="the program's result: DC removed by high_pass, silence stays silent, "
    "the clipped master is turned down without a warning",
)
@pytest.mark.parametrize("make", [_dc_offset, _silence, _clipped], ids=["dc", "silence", "clipped"])
def test_dc_offset_silence_and_clipped_masters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make
) -> None:
    audio = make(music(2.0, 16000))
    source = write(tmp_path / "master.wav", audio, 16000, "PCM_16")
    out = tmp_path / "out.wav"
    program = "change_volume(db=-6.0) high_pass(freq=40.0) compress()"

    code, _, stderr = run(capsys, "apply", str(source), program, "-o", str(out))

    assert code == 0, stderr
    assert "warning" not in stderr
    decoded, _ = read_audio(source)
    written, _ = read_audio(out)
    np.testing.assert_allclose(written, program_on(decoded, 16000, program), atol=1e-6)
    assert np.abs(written).max() < 1.0
    if make is _dc_offset:
        assert abs(written[:, 8000:].mean()) < 0.01 < abs(decoded.mean())
    if make is _silence:
        assert not written.any()


@pytest.mark.reliability(
    case="odd file names: unicode, spaces, a leading dash (`-x.wav` after `--`, `--output=-y.wav`)",
    outcome="read and written under exactly those names",
)
def test_odd_filenames(tmp_path: Path) -> None:
    audio = music(0.5, 16000)
    names = ["Sigur Rós – Hoppípolla (ﬁnal).wav", "my song  v2 .flac", "-x.wav"]
    for name in names:
        write(tmp_path / name, audio, 16000)
    unicode_out = mixer(
        "apply", str(tmp_path / names[0]), "change_volume(db=-3.0)",
        "-o", str(tmp_path / "Ωmega – out.wav"),
    )  # fmt: skip
    spaced_out = mixer(
        "apply", str(tmp_path / names[1]), "change_volume(db=-3.0)",
        "-o", str(tmp_path / "out with spaces.flac"),
    )  # fmt: skip
    dashed = subprocess.run(
        [str(Path(sys.executable).parent / "mixer"), "apply", "--output=-y.wav", "--",
         "-x.wav", "change_volume(db=-3.0)"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip

    for result in (unicode_out, spaced_out, dashed):
        assert result.returncode == 0, result.stderr
    gain = 10 ** (-3 / 20)
    for made, given in (("Ωmega – out.wav", names[0]), ("out with spaces.flac", names[1])):
        written, _ = read_audio(tmp_path / made)
        np.testing.assert_allclose(written, read_audio(tmp_path / given)[0] * gain, atol=1e-6)
    written, _ = read_audio(tmp_path / "-y.wav")
    np.testing.assert_allclose(written, read_audio(tmp_path / "-x.wav")[0] * gain, atol=1e-6)


# Long files: the streamed path, exercised at a small size by lowering its thresholds.

# (program, rate, seconds): each tool's memory alone at its extremes, then a chain; the
# 44.1 kHz case has control blocks of 44 and 22 frames, which block starts must respect.
STREAM_CASES = [
    (
        "apply_eq(low_gain=24.0, mid_gain=24.0, mid_q=10.0, mid_freq=100.0, low_freq=20.0) "
        "high_pass(freq=20.0) low_pass(freq=1000.0)",
        8000,
        75.0,
    ),
    ("apply_reverb(room_size=1.0, damping=0.0, wet=0.5)", 8000, 75.0),
    (
        "compress(threshold_db=-30.0, ratio=20.0, attack_ms=200.0, release_ms=2000.0, "
        "makeup_db=12.0) limit(threshold_db=-6.0, release_ms=1000.0)",
        8000,
        75.0,
    ),
    ("delay(time_ms=700.0, feedback=0.9, mix=1.0) change_volume(db=-12.0)", 8000, 75.0),
    ("expand(threshold_db=-30.0, ratio=4.0, attack_ms=50.0, release_ms=300.0)", 8000, 75.0),
    (PROGRAM + " delay() limit() pan(position=0.3) stereo_width(width=1.5)", 8000, 75.0),
    (
        "compress(threshold_db=-30.0, ratio=8.0, attack_ms=1.0, release_ms=20.0) "
        "limit(threshold_db=-12.0, release_ms=5.0)",
        44100,
        6.0,
    ),
]


@pytest.fixture
def small_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream anything over 2 s of 8 kHz stereo, in blocks of about 1 s."""
    monkeypatch.setattr(streaming, "STREAM_ABOVE_SAMPLES", 8000 * 2 * 2)
    monkeypatch.setattr(streaming, "BLOCK_SAMPLES", 8000 * 2)


def test_every_tool_declares_how_far_back_it_hears() -> None:
    assert set(REGISTRY) == streaming.TOOLS_WITH_MEMORY


@pytest.mark.reliability(
    case="file too long to hold (over 10 min of 48 kHz stereo) given to `mixer apply`, "
    "tried with the limit lowered",
    outcome="run in blocks with the program's memory around each: equal to the whole-file "
    "result; note on stderr",
)
@pytest.mark.parametrize(("program", "rate", "seconds"), STREAM_CASES)
def test_a_streamed_file_gets_the_whole_file_result(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    small_streaming: None,
    program: str,
    rate: int,
    seconds: float,
) -> None:
    audio = music(seconds, rate)
    loud = slice(round(seconds / 9 * rate), round(seconds / 4 * rate))
    audio[:, loud] *= 3.0  # a loud passage for the dynamics to act on
    source = write(tmp_path / "long.wav", audio, rate, "FLOAT")
    out = tmp_path / "out.wav"

    code, _, stderr = run(capsys, "apply", str(source), program, "-o", str(out))

    assert code == 0, stderr
    assert "too long to hold; run in blocks" in stderr
    written, _ = read_audio(out)
    whole = program_on(audio, rate, program)
    assert written.shape == whole.shape
    np.testing.assert_allclose(written, whole, atol=2e-5 * max(1.0, np.abs(whole).max()))


@pytest.mark.reliability(
    case="a 20 s 8-channel 96 kHz file read at 8 kHz stereo (ingest's reader)",
    outcome="decoded block by block: peak memory a fraction of the decoded file",
)
def test_reading_folds_and_resamples_block_by_block(tmp_path: Path) -> None:
    rate, channels, seconds = 96000, 8, 20.0
    source = tmp_path / "long 7.1.wav"
    with sf.SoundFile(source, "w", rate, channels, "PCM_16") as handle:
        for second in range(int(seconds)):
            handle.write(music(1.0, rate, channels, seed=second).T)
    decoded_bytes = int(seconds * rate) * channels * 4

    tracemalloc.start()
    try:
        audio, got = read_audio(source, sample_rate=8000, channels=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert got == 8000 and audio.shape == (2, int(seconds * 8000))
    # a few decoded blocks and the result, never the file: 20 MB here, whatever its length
    block_bytes = READ_BLOCK_FRAMES * channels * 4
    assert peak < 3 * block_bytes + 2 * audio.nbytes < decoded_bytes / 2, (peak, decoded_bytes)
    first, _ = read_audio(source, channels=2)
    start = soxr.resample(first[:, : 2 * rate].T, rate, 8000, quality="HQ").T
    np.testing.assert_allclose(audio[:, 100:8000], start[:, 100:8000], atol=1e-5)


def _write_long(path: Path, seconds: int, rate: int) -> None:
    with sf.SoundFile(path, "w", rate, 2, "PCM_16") as handle:
        for minute in range(math.ceil(seconds / 60)):
            length = min(60, seconds - 60 * minute)
            handle.write(music(length, rate, seed=minute).T)


@pytest.mark.slow
@pytest.mark.reliability(
    case="a 2-hour file (8 kHz stereo, 115 M samples) given to the `mixer apply` console script",
    outcome="run in blocks: same length out, a window equal to the whole-file result, "
    "peak memory under 1 GB",
)
def test_a_two_hour_file_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    rate, seconds = 8000, 2 * 3600
    source = tmp_path / "two hours.wav"
    _write_long(source, seconds, rate)
    out = tmp_path / "out.flac"
    program = "change_volume(db=-3.0) limit(threshold_db=-9.0)"
    measure = (
        "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(code)"
    )
    exe = str(Path(sys.executable).parent / "mixer")
    result = subprocess.run(
        [sys.executable, "-c", measure, exe, "apply", str(source), program, "-o", str(out)],
        capture_output=True, text=True, timeout=3000, env={**os.environ},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    max_rss_kib = int(result.stderr.strip().splitlines()[-1])
    # held whole, the 460 MB of decoded audio would take about 2.5 GB through the limiter
    assert max_rss_kib < 2**20, max_rss_kib
    info = sf.info(out)
    assert (info.frames, info.samplerate, info.channels) == (seconds * rate, rate, 2)
    start, stop = 3600 * rate, 3605 * rate
    with sf.SoundFile(out) as handle:
        handle.seek(start)
        window = handle.read(stop - start, dtype="float32", always_2d=True).T
    with sf.SoundFile(source) as handle:
        handle.seek(start - 120 * rate)
        context = handle.read(125 * rate + 400, dtype="float32", always_2d=True).T
    reference = program_on(context, rate, program)[:, 120 * rate : 125 * rate]
    np.testing.assert_allclose(window, reference, atol=2.0**-20)


# `mixer mix`: one briefly trained model for every shape.


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = MixerModel.from_config(tiny_config(), MODEL_RATE, seed=0)
    train_a_little(model)
    return save_mixer(model, tmp_path_factory.mktemp("shapes") / "model")


def _mix(capsys, source: Path, out: Path, model: Path) -> tuple[int, str, str]:
    return run(
        capsys, "mix", str(source), "--prompt", "more air", "--model", str(model), "-o", str(out)
    )


MIX_SHAPES = {
    "5.1 surround.wav": (48000, 48000, 6, None),
    "mono.wav": (8000, 8000, 1, None),
    "hi-res.flac": (192000, 96000, 2, None),
    "one sample.wav": (16000, 1, 2, None),
    "blip.wav": (16000, 1600, 2, None),
    "dc.wav": (16000, 16000, 2, _dc_offset),
    "clipped.wav": (16000, 16000, 2, _clipped),
    "Sigur Rós – Hoppípolla.wav": (22050, 22050, 2, None),
}


@pytest.mark.reliability(
    case="`mixer mix` given 5.1 at 48 kHz, mono 8 kHz, 192 kHz 24-bit, 1 sample, 0.1 s, "
    "DC offset, a clipped master, a unicode name",
    outcome="a program and its result (the printed program run on the input, folded to "
    "stereo); a clip under 1 s is heard looped to 1 s, with a note",
)
@pytest.mark.parametrize("name", list(MIX_SHAPES))
def test_mix_gives_every_shape_a_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_folder: Path, name: str
) -> None:
    rate, frames, channels, make = MIX_SHAPES[name]
    audio = music(1.0, rate, channels)[:, :frames]
    source = write(tmp_path / name, make(audio) if make else audio, rate)
    out = tmp_path / "mixed.wav"

    code, stdout, stderr = _mix(capsys, source, out, model_folder)

    assert code == 0, stderr
    assert ("hears the clip looped to 1 s" in stderr) == (frames < rate)
    program = parse(stdout.strip().splitlines()[-1])
    decoded, _ = read_audio(source, channels=2 if channels > 2 else None)
    written, written_rate = read_audio(out)
    assert written_rate == rate and written.shape == decoded.shape
    np.testing.assert_allclose(written, program_on(decoded, rate, program), atol=1e-5)
    assert np.abs(written).max() <= 1.0


@pytest.mark.reliability(
    case="digital silence given to `mixer mix`",
    outcome="exit 2: the file named as digital silence, nothing to mix, nothing written",
)
def test_mix_refuses_digital_silence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_folder: Path
) -> None:
    source = write(tmp_path / "silence.wav", np.zeros((2, 16000), np.float32), 16000, "PCM_16")
    out = tmp_path / "mixed.wav"
    code, _, stderr = _mix(capsys, source, out, model_folder)
    assert code == 2
    assert f"{source}: digital silence" in stderr and "nothing was written" in stderr
    assert not out.exists()


@pytest.mark.reliability(
    case="file too long to hold given to `mixer mix`, tried with the limit lowered",
    outcome="the model hears the middle; the program runs in blocks, equal to the whole-file "
    "result",
)
def test_mix_streams_a_long_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model_folder: Path,
    small_streaming: None,
) -> None:
    audio = music(40.0, 16000, 8)
    source = write(tmp_path / "long 7.1.wav", audio, 16000)
    out = tmp_path / "mixed.flac"

    code, stdout, stderr = _mix(capsys, source, out, model_folder)

    assert code == 0, stderr
    assert "run in blocks" in stderr and "8 channels" in stderr
    program = parse(stdout.strip().splitlines()[-1])
    decoded, _ = read_audio(source, channels=2)
    written, _ = read_audio(out)
    np.testing.assert_allclose(written, program_on(decoded, 16000, program), atol=1e-4)
