"""Voices: several ways to turn a line of notes into sound, so no one timbre is "the" sound.

Every voice renders a monophonic line (``Notes``) to a float32 signal; polyphony is a
sum of lines. The methods differ in the spectra and envelopes they produce, which is
what the generator is for: additive waves with a chosen harmonic roll-off (saw-, square-
or organ-like), two-operator FM (bells, electric pianos, metallic basses), plucked
strings as decaying modes (higher harmonics die faster, as on a guitar or harp),
spectra that morph over time (wavetable-like), detuned stacks (supersaw), and breathy
sines (flute-like). Everything is vectorised numpy: harmonics come from the Chebyshev
recurrence, never one ``sin`` call each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VOICES: dict[str, tuple[str, ...]] = {
    "bass": ("additive", "fm", "pluck", "sub", "square"),
    "chords": ("pad", "organ", "epiano", "pluck", "strings", "wavetable"),
    "lead": ("additive", "fm", "supersaw", "pluck", "flute", "square"),
}


@dataclass(frozen=True)
class Notes:
    """A monophonic line: ascending onsets and hold times (s), MIDI pitches, velocities."""

    onsets: np.ndarray
    durations: np.ndarray
    midi: np.ndarray
    velocity: np.ndarray


@dataclass(frozen=True)
class Adsr:
    attack: float
    decay: float
    sustain: float
    release: float


def midi_to_hz(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def envelope(
    notes: Notes, adsr: Adsr, n: int, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The line's envelope, the index of the sounding note and the time since its onset.

    Each note's release is shortened to end at the next onset, so the envelope is zero
    whenever the pitch changes and the voice never clicks.
    """
    starts = np.round(notes.onsets * sample_rate).astype(np.int64)
    samples = np.arange(n)
    index = np.searchsorted(starts, samples, side="right") - 1
    active = index >= 0
    index = np.maximum(index, 0)
    gaps = np.diff(np.append(notes.onsets, math.inf))
    release = np.minimum(adsr.release, 0.5 * gaps)
    hold = np.minimum(notes.durations, gaps - release)
    # before the first onset the time is held at 0 (the envelope is silent there anyway)
    t = (np.maximum(samples - starts[index], 0) / sample_rate).astype(np.float32)
    env = np.minimum(t * np.float32(1.0 / adsr.attack), np.float32(1.0))
    decay = np.exp(t * np.float32(-1.0 / adsr.decay))
    env *= np.float32(adsr.sustain) + np.float32(1.0 - adsr.sustain) * decay
    fade = np.clip(
        1.0 - (t - hold[index].astype(np.float32)) / release[index].astype(np.float32), 0, 1
    )
    env *= fade * fade * (notes.velocity[index] * active).astype(np.float32)
    return env, index, t


def _phase(frequency: np.ndarray, sample_rate: int) -> np.ndarray:
    phase = np.mod(np.cumsum(frequency) * (2.0 * math.pi / sample_rate), 2.0 * math.pi)
    return phase.astype(np.float32)


def additive(
    frequency: np.ndarray,
    amplitudes: np.ndarray,
    sample_rate: int,
    harmonic_decay: np.ndarray | None = None,
    note_time: np.ndarray | None = None,
) -> np.ndarray:
    """Band-limited sum of harmonics ``k = 1..K`` of ``frequency`` (per sample).

    ``amplitudes`` is ``(K,)`` or ``(K, samples)`` (a spectrum that changes over time);
    with ``harmonic_decay`` (``(K,)``, 1/s) and ``note_time`` each harmonic also decays
    from its note's onset, as a plucked or struck string does.
    """
    phase = _phase(frequency, sample_rate)
    harmonics = min(len(amplitudes), int(0.45 * sample_rate / float(np.max(frequency))))
    first = np.sin(phase)
    twice_cos = np.float32(2.0) * np.cos(phase)
    previous, current = np.zeros_like(first), first
    wave = np.zeros_like(first)
    for k in range(harmonics):
        if k:
            previous, current = current, twice_cos * current - previous
        amplitude = amplitudes[k]
        if harmonic_decay is not None and note_time is not None:
            amplitude = amplitude * np.exp(-harmonic_decay[k] * note_time)
        if np.any(amplitude):
            wave += amplitude * current
    return wave


def rolloff(harmonics: int, exponent: float, odd_only: bool = False) -> np.ndarray:
    """Harmonic amplitudes ``k**-exponent`` (1: saw-like, 2: soft), odd ones only if asked."""
    k = np.arange(1, harmonics + 1, dtype=np.float64)
    amplitudes = k**-exponent
    if odd_only:
        amplitudes[1::2] = 0.0
    return amplitudes.astype(np.float32)


def fm(
    frequency: np.ndarray,
    ratio: float,
    index: np.ndarray,
    sample_rate: int,
) -> np.ndarray:
    """Two-operator FM: a sine carrier whose phase a sine at ``ratio`` × the pitch moves.

    ``index`` (per sample) is the modulation depth; a decaying index gives the bright
    attack and mellow tail of an electric piano or a bell.
    """
    carrier = _phase(frequency, sample_rate)
    modulator = _phase(frequency * ratio, sample_rate)
    return np.sin(carrier + index.astype(np.float32) * np.sin(modulator))


def _render_line(
    kind: str,
    notes: Notes,
    n: int,
    sample_rate: int,
    brightness: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One voice of ``kind`` playing ``notes``; ``brightness`` (0–1) opens its spectrum."""
    dark = 1.0 - brightness
    if kind == "pluck":
        env, index, t = envelope(notes, Adsr(0.002, 3.0, 1.0, 0.08), n, sample_rate)
        harmonics = 24
        decay = (1.5 + 5.0 * dark) * np.arange(1, harmonics + 1) ** (0.8 + 0.6 * dark)
        amplitudes = rolloff(harmonics, 0.7 + 1.0 * dark)
        frequency = midi_to_hz(notes.midi)[index]
        return additive(frequency, amplitudes, sample_rate, decay, t) * env
    adsr = {
        "pad": Adsr(0.25, 0.8, 0.75, 0.4),
        "strings": Adsr(0.18, 0.5, 0.85, 0.3),
        "organ": Adsr(0.01, 0.2, 0.95, 0.05),
        "epiano": Adsr(0.003, 1.2, 0.25, 0.2),
        "fm": Adsr(0.004, 0.35, 0.5, 0.08),
        "flute": Adsr(0.06, 0.4, 0.8, 0.1),
    }.get(kind, Adsr(0.006, 0.25, 0.6, 0.06))
    env, index, t = envelope(notes, adsr, n, sample_rate)
    frequency = midi_to_hz(notes.midi)[index]
    if kind in ("strings", "flute", "supersaw", "pad"):
        vibrato_hz = rng.uniform(4.5, 6.5)
        depth = {"strings": 0.006, "flute": 0.004}.get(kind, 0.0015)
        frequency = frequency * (
            1.0 + depth * np.sin(2 * math.pi * vibrato_hz * np.arange(n) / sample_rate)
        )
    if kind == "fm":
        ratio = float(rng.choice([0.5, 1.0, 2.0, 3.0]))
        depth = (1.0 + 4.0 * brightness) * np.exp(-t / rng.uniform(0.08, 0.4)) + 0.5
        return fm(frequency, ratio, depth, sample_rate) * env
    if kind == "epiano":
        ratio = float(rng.choice([1.0, 14.0])) if brightness > 0.6 else 1.0
        depth = (0.8 + 2.5 * brightness) * np.exp(-t / 0.5)
        return fm(frequency, ratio, depth, sample_rate) * env
    if kind == "sub":
        return (
            additive(frequency, np.array([1.0, 0.25 * brightness, 0.1 * brightness]), sample_rate)
            * env
        )
    if kind == "flute":
        tone = additive(frequency, np.array([1.0, 0.2 + 0.3 * brightness, 0.08, 0.03]), sample_rate)
        breath = rng.standard_normal(n).astype(np.float32) * (0.03 + 0.05 * brightness)
        return (tone + breath) * env
    if kind == "organ":
        drawbars = np.array([1.0, 0.8, 0.6, 0.5, 0.0, 0.4, 0.0, 0.3 * brightness], np.float32)
        return additive(frequency, drawbars, sample_rate) * env
    if kind == "wavetable":
        soft, sharp = rolloff(16, 2.2), rolloff(16, 0.9 + 0.4 * dark, odd_only=rng.random() < 0.5)
        morph = 0.5 + 0.5 * np.sin(
            2 * math.pi * rng.uniform(0.05, 0.4) * np.arange(n) / sample_rate
        )
        spectrum = soft[:, None] * (1.0 - morph[None]) + sharp[:, None] * morph[None]
        return additive(frequency, spectrum.astype(np.float32), sample_rate) * env
    if kind == "supersaw":
        saw = rolloff(16, 1.0 + 0.8 * dark)
        spread = rng.uniform(8.0, 20.0)
        stack = sum(
            additive(frequency * 2.0 ** (cents / 1200.0), saw, sample_rate)
            for cents in (-spread, 0.0, spread)
        )
        return stack / 3.0 * env
    if kind == "square":
        return additive(frequency, rolloff(15, 1.0 + 0.8 * dark, odd_only=True), sample_rate) * env
    if kind in ("pad", "strings"):
        exponent = (1.6 if kind == "pad" else 1.0) + 1.4 * dark
        return additive(frequency, rolloff(12, exponent), sample_rate) * env
    return additive(frequency, rolloff(14, 0.9 + 1.4 * dark), sample_rate) * env


def render(
    kind: str,
    notes: Notes,
    n: int,
    sample_rate: int,
    brightness: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``notes`` played by a voice of ``kind`` (one of :data:`VOICES`), float32 ``(n,)``."""
    if notes.onsets.size == 0:
        return np.zeros(n, dtype=np.float32)
    return _render_line(kind, notes, n, sample_rate, brightness, rng).astype(np.float32)
