"""Loudness: pyloudnorm-backed LUFS, the batched torch LUFS, peak, RMS, normalisation."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.audio.loudness import (
    DBFS_FLOOR,
    LUFS_FLOOR,
    integrated_lufs,
    lufs_torch,
    normalize_lufs,
    peak_dbfs,
    rms_dbfs,
)
from mixer_core.data.generator import generate_song


def _sine(freq: float, seconds: float, rate: int, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t))[None, :].astype(np.float32)


def test_full_scale_1k_sine_reads_minus_3_lufs_mono() -> None:
    assert integrated_lufs(_sine(1000.0, 3.0, 48000), 48000) == pytest.approx(-3.01, abs=0.05)


def test_stereo_sums_channel_powers() -> None:
    mono = _sine(1000.0, 2.0, 48000, 0.5)
    stereo = np.concatenate([mono, mono])
    assert integrated_lufs(stereo, 48000) == pytest.approx(
        integrated_lufs(mono, 48000) + 10 * np.log10(2), abs=1e-6
    )


def test_matches_pyloudnorm_on_music() -> None:
    song = generate_song(3, 6.0, 22050)
    reference = pyloudnorm.Meter(22050).integrated_loudness(song.T.astype(np.float64))
    assert integrated_lufs(song, 22050) == pytest.approx(reference, abs=1e-9)


def test_silence_and_empty_read_the_floors() -> None:
    silence = np.zeros((2, 22050), dtype=np.float32)
    assert integrated_lufs(silence, 22050) == LUFS_FLOOR
    assert integrated_lufs(np.zeros((2, 0), dtype=np.float32), 22050) == LUFS_FLOOR
    assert peak_dbfs(silence) == DBFS_FLOOR
    assert rms_dbfs(silence) == DBFS_FLOOR
    assert integrated_lufs(_sine(1000.0, 1.0, 22050, 1e-5), 22050) == LUFS_FLOOR


def test_short_clip_equals_a_stationary_signal_measured_long() -> None:
    short = integrated_lufs(_sine(997.0, 0.2, 48000, 0.3), 48000)
    long = integrated_lufs(_sine(997.0, 3.0, 48000, 0.3), 48000)
    assert short == pytest.approx(long, abs=0.05)


def test_peak_and_rms_of_a_sine() -> None:
    sine = _sine(440.0, 1.0, 44100, 0.5)
    assert peak_dbfs(sine) == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert rms_dbfs(sine) == pytest.approx(20 * np.log10(0.5) - 3.0103, abs=0.01)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), target=st.floats(-40.0, -8.0))
def test_normalize_hits_the_target(seed: int, target: float) -> None:
    song = generate_song(seed, 2.0, 16000)
    before = integrated_lufs(song, 16000)
    normalised, gain_db = normalize_lufs(song, 16000, target)
    assert integrated_lufs(normalised, 16000) == pytest.approx(target, abs=0.1)
    assert gain_db == pytest.approx(target - before, abs=1e-9)
    assert normalised.dtype == np.float32


def test_normalize_leaves_silence_alone() -> None:
    silence = np.zeros((1, 16000), dtype=np.float32)
    out, gain = normalize_lufs(silence, 16000, -20.0)
    assert gain == 0.0
    np.testing.assert_array_equal(out, silence)


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
def test_lufs_torch_agrees_with_pyloudnorm_on_music(rate: int) -> None:
    songs = np.stack([generate_song(seed, 4.0, rate) for seed in range(3)])
    songs[1] *= 0.05
    songs[2, :, : songs.shape[2] // 2] *= 0.01
    expected = [integrated_lufs(song, rate) for song in songs]

    got = lufs_torch(torch.from_numpy(songs), rate)

    assert got.shape == (3,)
    assert got.dtype == torch.float32
    # The contract is 0.5 LU; sharing pyloudnorm's filter design and blocks gives far less.
    np.testing.assert_allclose(got.numpy(), expected, atol=0.02)


def test_lufs_torch_mono_short_and_silent() -> None:
    rate = 22050
    batch = torch.from_numpy(
        np.stack([_sine(1000.0, 0.25, rate, 0.5), np.zeros((1, round(0.25 * rate)), np.float32)])
    )
    got = lufs_torch(batch, rate)
    assert got[0].item() == pytest.approx(integrated_lufs(batch[0].numpy(), rate), abs=0.05)
    assert got[1].item() == LUFS_FLOOR


def test_lufs_torch_rejects_unbatched_audio() -> None:
    with pytest.raises(ValueError, match="batch, channels"):
        lufs_torch(torch.zeros(2, 1000), 22050)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_lufs_torch_runs_on_cuda_and_matches_cpu() -> None:
    songs = torch.from_numpy(np.stack([generate_song(seed, 3.0, 22050) for seed in range(4)]))
    on_gpu = lufs_torch(songs.cuda(), 22050)
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), lufs_torch(songs, 22050), atol=1e-3, rtol=0)
