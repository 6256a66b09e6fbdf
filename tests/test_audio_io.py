"""Audio I/O: every format reads to (channels, samples) float32, errors name the file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.audio.io import (
    AUDIO_SUFFIXES,
    AudioFileError,
    audio_info,
    read_audio,
    resample,
    to_channels,
    write_audio,
)

RATE = 16000


def _tone(freq: float, seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([wave * (1.0 - 0.3 * c) for c in range(channels)]).astype(np.float32)


def _dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio[0] * np.hanning(audio.shape[1])))
    return float(np.fft.rfftfreq(audio.shape[1], 1.0 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("suffix", "fmt", "tolerance"),
    [(".wav", "WAV", 1e-4), (".flac", "FLAC", 1e-4), (".ogg", "OGG", 0.05), (".mp3", "MP3", 0.1)],
)
def test_reads_each_format_as_float32_channels_first(
    tmp_path: Path, suffix: str, fmt: str, tolerance: float
) -> None:
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile cannot write {fmt}")
    rate = 44100 if fmt == "MP3" else RATE
    audio = _tone(440.0, 1.0, rate)
    path = tmp_path / f"song{suffix}"
    sf.write(path, audio.T, rate, format=fmt)

    decoded, got_rate = read_audio(path)

    assert got_rate == rate
    assert decoded.dtype == np.float32
    assert decoded.shape[0] == 2
    assert abs(decoded.shape[1] - audio.shape[1]) <= 0.06 * rate
    assert _dominant_hz(decoded, rate) == pytest.approx(440.0, abs=2.0)
    level = np.sqrt(np.mean(decoded[1] ** 2)) / np.sqrt(np.mean(audio[1] ** 2))
    assert level == pytest.approx(1.0, abs=tolerance)


def test_resampling_keeps_pitch_and_scales_length(tmp_path: Path) -> None:
    audio = _tone(1000.0, 2.0, 44100)
    path = write_audio(tmp_path / "tone.wav", audio, 44100)

    decoded, rate = read_audio(path, sample_rate=16000)

    assert rate == 16000
    assert decoded.shape == (2, 32000)
    assert _dominant_hz(decoded, rate) == pytest.approx(1000.0, abs=1.0)
    middle = slice(1000, -1000)
    expected = _tone(1000.0, 2.0, 16000)
    assert np.max(np.abs(decoded[:, middle] - expected[:, middle])) < 1e-3


def test_channel_conversion_on_read(tmp_path: Path) -> None:
    stereo = _tone(300.0, 0.5, RATE)
    path = write_audio(tmp_path / "stereo.flac", stereo, RATE)
    mono, _ = read_audio(path, channels=1)
    np.testing.assert_allclose(mono[0], stereo.mean(axis=0), atol=1e-5)

    mono_path = write_audio(tmp_path / "mono.wav", stereo[:1], RATE)
    doubled, _ = read_audio(mono_path, channels=2)
    assert doubled.shape == (2, stereo.shape[1])
    np.testing.assert_array_equal(doubled[0], doubled[1])


def test_to_channels_rejects_ambiguous_mapping() -> None:
    with pytest.raises(ValueError, match="cannot map 2 channels to 3"):
        to_channels(np.zeros((2, 10), dtype=np.float32), 3)


def _corrupt(path: Path) -> None:
    sf.write(path, _tone(200.0, 0.5, RATE).T, RATE)
    data = bytearray(path.read_bytes())
    data[:12] = b"GARBAGE!" * 1 + b"\x00" * 4
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [
        ("corrupt.wav", _corrupt, "not readable as audio"),
        ("empty.wav", lambda p: p.write_bytes(b""), "empty file"),
        ("notes.wav", lambda p: p.write_text("these are liner notes, not audio\n"), "not readable"),
        ("frameless.wav", lambda p: sf.write(p, np.zeros((0, 2)), RATE), "no audio frames"),
        ("cover.txt", lambda p: p.write_text("text"), "unsupported format"),
    ],
)
def test_bad_files_raise_naming_the_file_and_stay_untouched(
    tmp_path: Path, name: str, make, problem: str
) -> None:
    path = tmp_path / name
    make(path)
    before = path.read_bytes()

    for call in (read_audio, audio_info):
        with pytest.raises(AudioFileError, match=problem) as caught:
            call(path)
        assert str(path) in str(caught.value)
        assert caught.value.path == str(path)

    assert path.read_bytes() == before


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "song.flac"
    with pytest.raises(AudioFileError, match="no such file") as caught:
        read_audio(path)
    assert str(path) in str(caught.value)


@pytest.mark.skipif(importlib.util.find_spec("pydub") is not None, reason="pydub is installed")
def test_m4a_without_pydub_says_what_to_install(tmp_path: Path) -> None:
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    with pytest.raises(AudioFileError, match="pydub") as caught:
        read_audio(path)
    assert str(path) in str(caught.value)


def test_audio_info_reads_header_and_hashes_bytes(tmp_path: Path) -> None:
    import hashlib

    audio = _tone(440.0, 1.5, RATE)
    path = write_audio(tmp_path / "a" / "b" / "song.flac", audio, RATE)

    info = audio_info(path)

    assert info.path == str(path)
    assert info.format == "flac"
    assert (info.sample_rate, info.channels, info.frames) == (RATE, 2, audio.shape[1])
    assert info.duration_s == pytest.approx(1.5)
    assert info.size_bytes == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@settings(max_examples=25, deadline=None)
@given(
    channels=st.integers(1, 2),
    samples=st.integers(1, 3000),
    seed=st.integers(0, 2**32 - 1),
)
def test_wav_float_round_trip_is_exact(
    tmp_path_factory: pytest.TempPathFactory, channels: int, samples: int, seed: int
) -> None:
    audio = np.random.default_rng(seed).uniform(-1, 1, (channels, samples)).astype(np.float32)
    path = write_audio(tmp_path_factory.mktemp("rt") / "x.wav", audio, RATE)
    decoded, rate = read_audio(path)
    assert rate == RATE
    np.testing.assert_array_equal(decoded, audio)


def test_flac_round_trip_is_within_24_bit_quantisation(tmp_path: Path) -> None:
    audio = _tone(523.0, 0.3, RATE)
    decoded, _ = read_audio(write_audio(tmp_path / "x.flac", audio, RATE))
    assert sf.info(tmp_path / "x.flac").subtype == "PCM_24"
    assert np.max(np.abs(decoded - audio)) < 2.0**-22


def test_write_refuses_non_finite_and_leaves_no_temp_files(tmp_path: Path) -> None:
    audio = _tone(100.0, 0.1, RATE)
    path = write_audio(tmp_path / "keep.wav", audio, RATE)
    before = path.read_bytes()
    broken = audio.copy()
    broken[0, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_audio(path, broken, RATE)
    with pytest.raises(ValueError, match="transposed"):
        write_audio(path, audio.T, RATE)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.wav"]


def test_write_replaces_atomically_and_rejects_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    write_audio(path, _tone(100.0, 0.1, RATE), RATE)
    write_audio(path, _tone(200.0, 0.2, RATE, channels=1), RATE, subtype="PCM_16")
    info = sf.info(path)
    assert (info.channels, info.frames, info.subtype) == (1, round(0.2 * RATE), "PCM_16")
    with pytest.raises(ValueError, match="cannot write"):
        write_audio(tmp_path / "x.aiff", _tone(100.0, 0.1, RATE), RATE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]


@settings(max_examples=15, deadline=None)
@given(
    from_rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    to_rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
)
def test_resample_length_scales_with_the_rate_ratio(from_rate: int, to_rate: int) -> None:
    audio = _tone(150.0, 0.25, from_rate)
    out = resample(audio, from_rate, to_rate)
    assert out.dtype == np.float32
    assert out.shape[0] == 2
    assert abs(out.shape[1] - audio.shape[1] * to_rate / from_rate) <= 1


def test_suffix_match_ignores_case(tmp_path: Path) -> None:
    assert ".flac" in AUDIO_SUFFIXES
    audio = _tone(440.0, 0.2, RATE)
    path = tmp_path / "LOUD.FLAC"
    sf.write(path, audio.T, RATE, format="FLAC")
    decoded, _ = read_audio(path)
    assert decoded.shape == audio.shape
