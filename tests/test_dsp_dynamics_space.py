"""Behaviour of the compressor, expander, limiter, reverb and delay on known signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mixer_core.dsp import dynamics, space

SR = 22050


def tone(freq: float, peak_db: float, seconds: float, channels: int = 1) -> torch.Tensor:
    t = torch.arange(round(seconds * SR), dtype=torch.float64) / SR
    wave = 10 ** (peak_db / 20) * torch.sin(2 * math.pi * freq * t)
    return wave.to(torch.float32).expand(1, channels, -1).clone()


def peak_db(audio: torch.Tensor) -> float:
    return 20 * math.log10(float(audio.abs().max()))


def one(value: float) -> torch.Tensor:
    return torch.tensor([value])


def timing(threshold: float, ratio: float, attack: float = 5.0, release: float = 100.0) -> dict:
    return dict(
        threshold_db=one(threshold),
        ratio=one(ratio),
        attack_ms=one(attack),
        release_ms=one(release),
    )


def drum_loop(seconds: float = 2.0, seed: int = 0) -> torch.Tensor:
    """Decaying noise hits over a quiet tone: a signal with a high crest factor."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    t = np.arange(n) / SR
    out = 0.05 * np.sin(2 * np.pi * 220 * t)[None].repeat(2, 0)
    for start in np.arange(0.05, seconds - 0.2, 0.25):
        hit = rng.standard_normal((2, round(0.2 * SR))) * np.exp(
            -np.arange(round(0.2 * SR)) / (0.03 * SR)
        )
        begin = round(start * SR)
        out[:, begin : begin + hit.shape[1]] += 0.8 * hit
    return torch.from_numpy(out.astype(np.float32))[None]


@pytest.mark.parametrize(
    ("threshold", "ratio", "level"), [(-20.0, 4.0, -6.0), (-30.0, 2.0, -12.0), (-40.0, 10.0, -3.0)]
)
def test_compressor_follows_its_static_curve_on_a_steady_tone(
    threshold: float, ratio: float, level: float
) -> None:
    out = dynamics.compress(
        tone(1000.0, level, 1.0), SR, makeup_db=one(0.0), **timing(threshold, ratio)
    )
    expected = threshold + (level - threshold) / ratio
    assert abs(peak_db(out[..., SR // 2 :]) - expected) < 1.0


def test_compressor_leaves_audio_below_threshold_and_adds_makeup() -> None:
    quiet = tone(500.0, -30.0, 0.5)
    out = dynamics.compress(quiet, SR, makeup_db=one(6.0), **timing(-20.0, 4.0))
    torch.testing.assert_close(out, quiet * 10 ** (6 / 20), atol=1e-6, rtol=1e-5)


def test_compressor_reduces_crest_factor() -> None:
    """On a tone swelling from quiet to loud, the compressor narrows the level range.

    The swells take ~100 ms, slower than the attack, so the compressor tracks them; a
    sharp transient would pass its 1-2 ms of detection latency, as in any compressor.
    """
    t = torch.arange(2 * SR) / SR
    envelope = 0.02 + 0.9 * (0.5 - 0.5 * torch.cos(2 * math.pi * 2 * t)) ** 4
    audio = (envelope * torch.sin(2 * math.pi * 440 * t)).expand(1, 2, -1).clone()
    out = dynamics.compress(audio, SR, makeup_db=one(0.0), **timing(-30.0, 6.0, 1.0, 20.0))

    def crest_db(x: torch.Tensor) -> float:
        return 20 * math.log10(float(x.abs().max() / x.pow(2).mean().sqrt()))

    assert crest_db(out) < crest_db(audio) - 2.0


@pytest.mark.parametrize(("threshold", "ratio"), [(-20.0, 2.0), (-30.0, 1.5)])
def test_expander_follows_its_static_curve_on_a_steady_tone(threshold: float, ratio: float) -> None:
    level = -12.0
    out = dynamics.expand(tone(1000.0, level, 1.0), SR, **timing(threshold, ratio))
    expected = threshold + (level - threshold) * ratio
    assert abs(peak_db(out[..., SR // 2 :]) - expected) < 1.0


@pytest.mark.parametrize(
    ("threshold", "ratio", "attack", "release"),
    [(-24.0, 4.0, 10.0, 100.0), (-40.0, 20.0, 0.1, 5.0), (-12.0, 2.0, 200.0, 2000.0)],
)
def test_expand_undoes_compress(
    threshold: float, ratio: float, attack: float, release: float
) -> None:
    """The registry's inverse of compress is expand with the same settings."""
    audio = drum_loop(seed=1)
    settings = timing(threshold, ratio, attack, release)
    squashed = dynamics.compress(audio, SR, makeup_db=one(0.0), **settings)
    restored = dynamics.expand(squashed, SR, **settings)
    error = float((restored - audio).pow(2).sum() / audio.pow(2).sum())
    assert 10 * math.log10(error) < -60


def test_expander_boost_is_capped() -> None:
    loud = tone(1000.0, 0.0, 0.5)
    out = dynamics.expand(loud, SR, **timing(-60.0, 20.0))
    assert torch.isfinite(out).all()
    assert peak_db(out) <= dynamics.MAX_EXPANSION_DB + 0.01


def test_stereo_link_applies_one_gain_to_both_channels() -> None:
    audio = drum_loop(seed=2)
    audio[:, 1] *= 0.1
    out = dynamics.compress(audio, SR, makeup_db=one(0.0), **timing(-24.0, 6.0))
    audible = (audio.abs() > 1e-3).all(dim=1)
    gain = out / audio
    torch.testing.assert_close(gain[:, 0][audible], gain[:, 1][audible], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("threshold", "release"), [(-1.0, 50.0), (-12.0, 5.0), (-6.0, 1000.0)])
def test_limiter_keeps_peaks_below_threshold(threshold: float, release: float) -> None:
    audio = drum_loop(seed=3) * 4.0
    out = dynamics.limit(audio, SR, threshold_db=one(threshold), release_ms=one(release))
    assert peak_db(out) <= threshold + 0.5
    assert peak_db(audio) > threshold + 6.0


def test_limiter_leaves_quiet_audio_alone() -> None:
    quiet = tone(300.0, -20.0, 0.5, channels=2)
    out = dynamics.limit(quiet, SR, threshold_db=one(-1.0), release_ms=one(50.0))
    torch.testing.assert_close(out, quiet)


def rt60(response: np.ndarray, sr: int) -> float:
    """RT60 from the Schroeder decay curve between -5 and -35 dB (T30 x 2)."""
    energy = np.cumsum(response[::-1] ** 2)[::-1]
    curve = 10 * np.log10(energy / energy[0])
    start, stop = np.argmax(curve < -5), np.argmax(curve < -35)
    return 2.0 * (stop - start) / sr


def reverb_impulse(room_size: float, damping: float = 0.0, channels: int = 1) -> np.ndarray:
    impulse = torch.zeros(1, channels, 5 * SR)
    impulse[..., 0] = 1.0
    out = space.apply_reverb(
        impulse, SR, room_size=one(room_size), damping=one(damping), wet=one(1.0), dry=one(0.0)
    )
    return out[0].numpy()


def test_reverb_rt60_grows_with_room_size() -> None:
    sizes = [0.0, 0.3, 0.7, 1.0]
    measured = [rt60(reverb_impulse(size)[0], SR) for size in sizes]
    assert measured == sorted(measured)
    expected = space.decay_seconds(torch.tensor(sizes, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(measured, expected, rtol=0.15)


def test_reverb_damping_shortens_high_frequencies() -> None:
    def high_band_decay(damping: float) -> float:
        response = reverb_impulse(0.6, damping)[0]
        spectrum_late = np.abs(np.fft.rfft(response[SR // 2 : SR]))
        spectrum_early = np.abs(np.fft.rfft(response[: SR // 2]))
        band = slice(round(6000 * 0.5), round(10000 * 0.5))
        return float(np.sum(spectrum_late[band] ** 2) / np.sum(spectrum_early[band] ** 2))

    assert high_band_decay(1.0) < 0.1 * high_band_decay(0.0)


def test_reverb_is_deterministic_decorrelated_and_keeps_level() -> None:
    left_right = reverb_impulse(0.5, channels=2)
    again = reverb_impulse(0.5, channels=2)
    np.testing.assert_array_equal(left_right, again)
    correlation = np.corrcoef(left_right[0], left_right[1])[0, 1]
    assert abs(correlation) < 0.1
    audio = drum_loop(seed=4)
    out = space.apply_reverb(
        audio, SR, room_size=one(0.5), damping=one(0.5), wet=one(0.33), dry=one(0.7)
    )
    change_db = 10 * math.log10(float(out.pow(2).mean() / audio.pow(2).mean()))
    assert -6.0 < change_db < 1.0


@pytest.mark.parametrize(
    ("time_ms", "feedback", "mix"), [(250.0, 0.5, 0.4), (37.0, 0.0, 1.0), (100.0, 0.9, 0.3)]
)
def test_delay_puts_echoes_at_time_ms_with_the_right_level(
    time_ms: float, feedback: float, mix: float
) -> None:
    impulse = torch.zeros(1, 1, 2 * SR)
    impulse[..., 0] = 1.0
    out = space.delay(impulse, SR, time_ms=one(time_ms), feedback=one(feedback), mix=one(mix))[0, 0]
    period = round(time_ms * SR / 1000)
    expected = torch.zeros_like(out)
    expected[0] = 1.0
    k = 1
    while k * period < out.numel() and mix * feedback ** (k - 1) >= space.ECHO_FLOOR:
        expected[k * period] = mix * feedback ** (k - 1)
        k += 1
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
