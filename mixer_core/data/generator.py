"""Synthetic songs for tests and the demo: drums, bass, chord pad and lead on a grid.

The pipeline needs audio that behaves like music, not test tones: transients for the
compressor and limiter, low and high bands for the EQ, a stereo image for pan and
width, and artists that differ from one another (splits and per-artist statistics
mean nothing otherwise). Each artist draws an ``ArtistStyle`` (tempo range,
brightness, lead timbre, groove, instrument balance, overall level); each song draws
its key, mode, chord progression, groove details and a repeated, varied melody.
Everything is vectorised numpy, seeded by integers, so the same seed renders the same
samples, and a 20 s stereo song takes a small fraction of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal

from mixer_core.audio.io import write_audio
from mixer_core.config import GeneratorConfig

STEMS: tuple[str, ...] = ("drums", "bass", "pad", "lead")
PEAK_CEILING = 0.985

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_DORIAN = (0, 2, 3, 5, 7, 9, 10)
_MODES = (_MAJOR, _MINOR, _DORIAN)
_PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (5, 3, 0, 4),
    (0, 3, 4, 3),
    (1, 4, 0, 0),
    (0, 6, 5, 6),
    (0, 2, 3, 4),
)
# (kick, snare) over one bar of sixteenths.
_GROOVES = (
    ("x...x...x...x...", "....x.......x..."),
    ("x.......x.x.....", "....x.......x..."),
    ("x.....x...x.....", "....x.......x..x"),
    ("x.........x.....", "........x......."),
    ("x..x..x...x..x..", "....x.......x..."),
)
_BASS_RHYTHMS = ("x.x.x.x.", "x..x..x.", "x...x.x.", "xxxxxxxx", "x.xx.xx.", "x...x...")
_BASS_LOWEST = 33  # MIDI A1, 55 Hz: bass roots sit in the octave above it
_SECTION_BARS = 4
_PHRASE_SLOTS = 8 * _SECTION_BARS

_ARTIST_WORDS = (
    "amber", "basalt", "cobalt", "delta", "ember", "fjord", "granite", "harbor", "indigo",
    "juniper", "kestrel", "lumen", "meridian", "nimbus", "onyx", "prism", "quartz", "river",
    "sierra", "tundra", "umber", "vesper", "willow", "xenon", "yarrow", "zephyr",
)  # fmt: skip
_SONG_WORDS = (
    "anthem", "breeze", "cascade", "drift", "echo", "fable", "glow", "horizon", "island",
    "jubilee", "kite", "lantern", "meadow", "nocturne", "orbit", "parade", "quiet", "ripple",
    "signal", "tide", "undertow", "velvet", "wander", "yonder", "zenith", "static", "morning",
    "harvest", "mirage", "compass",
)  # fmt: skip


@dataclass(frozen=True)
class ArtistStyle:
    """What stays the same across one artist's songs, so artists differ audibly.

    ``brightness`` (0–1) sets harmonic roll-off of bass, pad and lead and the level of
    the hi-hats; ``levels_db`` is the balance of drums, bass, pad and lead (RMS of each
    stem relative to the others); ``level_dbfs`` is the RMS of the whole mix.
    """

    tempo_bpm: tuple[float, float]
    brightness: float
    lead_odd_harmonics: bool
    groove: int
    hat_sixteenths: bool
    swing: float
    minor_probability: float
    levels_db: tuple[float, float, float, float]
    level_dbfs: float
    pan_spread: float
    lead_octave: int

    @classmethod
    def draw(cls, seed: int, tempo_bpm: tuple[float, float] = (80.0, 150.0)) -> ArtistStyle:
        """A style drawn from ``seed``; its tempo range is a slice of ``tempo_bpm``."""
        low, high = tempo_bpm
        if not 0 < low <= high:
            raise ValueError(f"tempo_bpm: need 0 < low <= high, got {tempo_bpm}")
        rng = np.random.default_rng([seed, 0x57A1E])
        width = 0.15 * (high - low)
        start = rng.uniform(low, high - width)
        return cls(
            tempo_bpm=(float(start), float(start + width)),
            brightness=float(rng.uniform(0.0, 1.0)),
            lead_odd_harmonics=bool(rng.random() < 0.4),
            groove=int(rng.integers(len(_GROOVES))),
            hat_sixteenths=bool(rng.random() < 0.5),
            swing=float(rng.choice([0.0, 0.0, 0.12, 0.25])),
            minor_probability=float(rng.uniform(0.1, 0.9)),
            levels_db=(
                float(rng.uniform(-3.0, 3.0)),
                float(rng.uniform(-5.0, 1.0)),
                float(rng.uniform(-9.0, -2.0)),
                float(rng.uniform(-6.0, 0.0)),
            ),
            level_dbfs=float(rng.uniform(-24.0, -14.0)),
            pan_spread=float(rng.uniform(0.3, 1.0)),
            lead_octave=int(rng.integers(0, 2)),
        )


def _midi_to_hz(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def _pan_gains(position: float) -> tuple[float, float]:
    angle = (np.clip(position, -1.0, 1.0) + 1.0) * math.pi / 4.0
    return math.cos(angle), math.sin(angle)


@dataclass(frozen=True)
class _Notes:
    onsets: np.ndarray  # seconds, ascending
    durations: np.ndarray  # seconds held before the release starts
    midi: np.ndarray
    velocity: np.ndarray


@dataclass(frozen=True)
class _Adsr:
    attack: float
    decay: float
    sustain: float
    release: float


def _envelope(
    onsets: np.ndarray,
    durations: np.ndarray,
    velocity: np.ndarray,
    adsr: _Adsr,
    n: int,
    sample_rate: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The envelope of a monophonic line and, per sample, the index of the sounding note.

    Each note's release is shortened to end at the next onset, so the envelope is
    zero whenever the pitch changes and the voice never clicks.
    """
    starts = np.round(onsets * sample_rate).astype(np.int64)
    samples = np.arange(n)
    index = np.searchsorted(starts, samples, side="right") - 1
    active = index >= 0
    index = np.maximum(index, 0)
    gaps = np.diff(np.append(onsets, math.inf))
    release = np.minimum(adsr.release, 0.5 * gaps)
    hold = np.minimum(durations, gaps - release)

    t = ((samples - starts[index]) / sample_rate).astype(np.float32)
    envelope = np.minimum(t * np.float32(1.0 / adsr.attack), np.float32(1.0))
    decay = np.exp(t * np.float32(-1.0 / adsr.decay))
    envelope *= np.float32(adsr.sustain) + np.float32(1.0 - adsr.sustain) * decay
    fade = np.clip(
        1.0 - (t - hold[index].astype(np.float32)) / release[index].astype(np.float32), 0, 1
    )
    envelope *= fade * fade * (velocity[index] * active).astype(np.float32)
    return envelope, index


def _oscillator(frequency: np.ndarray, amplitudes: np.ndarray, sample_rate: int) -> np.ndarray:
    """Band-limited additive wave; harmonics by the Chebyshev recurrence, not one sine each."""
    phase = np.mod(np.cumsum(frequency) * (2.0 * math.pi / sample_rate), 2.0 * math.pi)
    phase = phase.astype(np.float32)
    harmonics = min(len(amplitudes), int(0.45 * sample_rate / float(frequency.max())))
    first = np.sin(phase)
    twice_cos = np.float32(2.0) * np.cos(phase)
    previous, current = np.zeros_like(first), first
    wave = amplitudes[0] * first
    for k in range(1, harmonics):
        previous, current = current, twice_cos * current - previous
        if amplitudes[k]:
            wave += amplitudes[k] * current
    return wave


def _render(
    notes: _Notes,
    adsr: _Adsr,
    amplitudes: np.ndarray,
    n: int,
    sample_rate: int,
    vibrato: float = 0.0,
) -> np.ndarray:
    """One monophonic voice: an additive oscillator under an ADSR."""
    if notes.onsets.size == 0:
        return np.zeros(n, dtype=np.float32)
    envelope, index = _envelope(notes.onsets, notes.durations, notes.velocity, adsr, n, sample_rate)
    frequency = _midi_to_hz(notes.midi)[index]
    if vibrato:
        lfo = np.sin((2.0 * math.pi * 5.5 / sample_rate) * np.arange(n))
        frequency *= 1.0 + vibrato * lfo
    return _oscillator(frequency, amplitudes, sample_rate) * envelope


def _one_shot(
    kind: str, sample_rate: int, brightness: float, rng: np.random.Generator
) -> np.ndarray:
    nyquist = 0.5 * sample_rate
    if kind == "kick":
        t = np.arange(int(0.45 * sample_rate)) / sample_rate
        freq = 48.0 + 110.0 * np.exp(-t / 0.035)
        body = np.sin(2.0 * math.pi * np.cumsum(freq) / sample_rate) * np.exp(-t / 0.16)
        click = rng.standard_normal(t.size) * np.exp(-t / 0.003) * (0.2 + 0.4 * brightness)
        return body + click
    if kind == "snare":
        t = np.arange(int(0.3 * sample_rate)) / sample_rate
        tone = np.sin(2.0 * math.pi * 185.0 * t) * np.exp(-t / 0.05)
        band = scipy.signal.butter(
            2, [1200.0, min(7500.0, 0.9 * nyquist)], "bandpass", fs=sample_rate, output="sos"
        )
        noise = scipy.signal.sosfilt(band, rng.standard_normal(t.size)) * np.exp(-t / 0.09)
        return 0.6 * tone + 1.4 * noise
    decay = 0.03 if kind == "hat" else 0.16
    t = np.arange(int(6 * decay * sample_rate)) / sample_rate
    high = scipy.signal.butter(
        4, min(7000.0, 0.6 * nyquist), "highpass", fs=sample_rate, output="sos"
    )
    return scipy.signal.sosfilt(high, rng.standard_normal(t.size)) * np.exp(-t / decay)


def _place(
    shot: np.ndarray, times: list[float], gains: list[float], n: int, rate: int
) -> np.ndarray:
    """Add a one-shot at each hit; hits are few and shots short, so slices beat convolution."""
    out = np.zeros(n)
    for time, gain in zip(times, gains, strict=True):
        start = round(time * rate)
        if start < n:
            length = min(shot.size, n - start)
            out[start : start + length] += gain * shot[:length]
    return out


@dataclass(frozen=True)
class _Song:
    """The score: tempo, harmony and arrangement, shared by every instrument."""

    bar_seconds: float
    bars: int
    scale: tuple[int, ...]
    tonic: int  # MIDI note of the tonic in octave 3
    chords: tuple[int, ...]  # scale degree of each bar's chord root
    lead_sections: tuple[bool, ...]
    kickless_sections: tuple[bool, ...]

    def pitch(self, degrees: np.ndarray, octave_offset: int) -> np.ndarray:
        degrees = np.asarray(degrees)
        scale = np.asarray(self.scale)
        return self.tonic + 12 * (degrees // 7 + octave_offset) + scale[degrees % 7]


def _compose(rng: np.random.Generator, style: ArtistStyle, seconds: float) -> _Song:
    tempo = rng.uniform(*style.tempo_bpm)
    bar_seconds = 4 * 60.0 / tempo
    bars = math.ceil(seconds / bar_seconds)
    minor = rng.random() < style.minor_probability
    scale = _MODES[1 + int(rng.random() < 0.3)] if minor else _MAJOR
    progression = _PROGRESSIONS[rng.integers(len(_PROGRESSIONS))]
    sections = math.ceil(bars / _SECTION_BARS)
    lead = [bool(rng.random() < (0.5 if s == 0 else 0.8)) for s in range(sections)]
    if not any(lead):
        lead[0] = True
    return _Song(
        bar_seconds=bar_seconds,
        bars=bars,
        scale=scale,
        tonic=48 + int(rng.integers(12)),
        chords=tuple(progression[b % len(progression)] for b in range(bars)),
        lead_sections=tuple(lead),
        kickless_sections=tuple(bool(s > 0 and rng.random() < 0.2) for s in range(sections)),
    )


def _drums(
    rng: np.random.Generator, song: _Song, style: ArtistStyle, n: int, rate: int
) -> list[tuple[np.ndarray, float]]:
    kick_pattern, snare_pattern = _GROOVES[style.groove]
    step = song.bar_seconds / 16
    hits: dict[str, tuple[list[float], list[float]]] = {
        k: ([], []) for k in ("kick", "snare", "hat", "open_hat")
    }

    def hit(kind: str, bar: int, position: int, velocity: float) -> None:
        swing = style.swing * step if position % 2 else 0.0
        hits[kind][0].append(bar * song.bar_seconds + position * step + swing)
        hits[kind][1].append(velocity * rng.uniform(0.85, 1.0))

    for bar in range(song.bars):
        section = bar // _SECTION_BARS
        fill = bar % _SECTION_BARS == _SECTION_BARS - 1 and rng.random() < 0.5
        for position in range(16):
            if kick_pattern[position] == "x" and not song.kickless_sections[section]:
                hit("kick", bar, position, 1.0)
            elif rng.random() < 0.06:
                hit("kick", bar, position, 0.6)
            if snare_pattern[position] == "x" or (fill and position >= 12):
                hit("snare", bar, position, 1.0 if position % 4 == 0 else 0.7)
            elif rng.random() < 0.05:
                hit("snare", bar, position, 0.3)
            if position == 14 and rng.random() < 0.4:
                hit("open_hat", bar, position, 0.7)
            elif style.hat_sixteenths or position % 2 == 0:
                hit("hat", bar, position, 1.0 if position % 4 == 0 else 0.6)
    spread = style.pan_spread
    hat_level = 0.25 + 0.35 * style.brightness
    return [
        (_place(_one_shot("kick", rate, style.brightness, rng), *hits["kick"], n, rate), 0.0),
        (0.5 * _place(_one_shot("snare", rate, style.brightness, rng), *hits["snare"], n, rate),
         0.1 * spread),
        (hat_level * _place(_one_shot("hat", rate, style.brightness, rng), *hits["hat"], n, rate),
         -0.4 * spread),
        (hat_level
         * _place(_one_shot("open_hat", rate, style.brightness, rng), *hits["open_hat"], n, rate),
         -0.4 * spread),
    ]  # fmt: skip


def _rolloff(harmonics: int, exponent: float, odd_only: bool = False) -> np.ndarray:
    k = np.arange(1, harmonics + 1, dtype=np.float64)
    amplitudes = k**-exponent
    if odd_only:
        amplitudes[1::2] = 0.0
    return amplitudes.astype(np.float32)


def _bass(
    rng: np.random.Generator, song: _Song, style: ArtistStyle, n: int, rate: int
) -> np.ndarray:
    rhythm = _BASS_RHYTHMS[rng.integers(len(_BASS_RHYTHMS))]
    eighth = song.bar_seconds / 8
    onsets, degrees, octaves = [], [], []
    for bar in range(song.bars):
        for slot, mark in enumerate(rhythm):
            if mark != "x":
                continue
            onsets.append(bar * song.bar_seconds + slot * eighth)
            degrees.append(song.chords[bar] + (4 if rng.random() < 0.15 else 0))
            octaves.append(1 if rng.random() < 0.2 else 0)
    onset_array = np.asarray(onsets)
    midi = song.pitch(np.asarray(degrees), 0)
    midi = midi - 12 * ((midi - _BASS_LOWEST) // 12) + 12 * np.asarray(octaves)
    notes = _Notes(
        onsets=onset_array,
        durations=np.full(onset_array.size, 0.8 * eighth),
        midi=midi,
        velocity=rng.uniform(0.8, 1.0, onset_array.size),
    )
    amplitudes = _rolloff(12, 1.0 + 1.2 * (1.0 - style.brightness))
    return _render(notes, _Adsr(0.005, 0.18, 0.45, 0.04), amplitudes, n, rate)


def _pad(song: _Song, style: ArtistStyle, n: int, rate: int) -> list[tuple[np.ndarray, float]]:
    """A triad per bar; each chord tone twice, detuned ±6 cents and panned apart."""
    onsets = np.arange(song.bars) * song.bar_seconds
    envelope, index = _envelope(
        onsets,
        np.full(song.bars, song.bar_seconds),
        np.ones(song.bars),
        _Adsr(0.12, 0.6, 0.7, 0.15),
        n,
        rate,
    )
    amplitudes = _rolloff(8, 1.6 + 1.5 * (1.0 - style.brightness))
    layers = []
    for tone, offset in enumerate((0, 2, 4)):
        midi = song.pitch(np.asarray(song.chords) + offset, 1) - 12 * (tone == 2)
        frequency = _midi_to_hz(midi)[index]
        for side in (-1.0, 1.0):
            detuned = frequency * 2.0 ** (6.0 * side / 1200.0)
            wave = _oscillator(detuned, amplitudes, rate) * envelope
            layers.append((wave, 0.6 * style.pan_spread * side))
    return layers


def _melody(rng: np.random.Generator, song: _Song) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A four-bar phrase (onset slot, length in slots, scale degree), repeated with variation."""
    slots = [0, *[s for s in range(1, _PHRASE_SLOTS) if rng.random() < 0.5]]
    ends = [*slots[1:], _PHRASE_SLOTS]
    lengths = [
        max(1, end - start) if rng.random() > 0.2 else 1
        for start, end in zip(slots, ends, strict=True)
    ]
    degrees = [int(rng.integers(0, 5))]
    for _ in slots[1:]:
        step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3]))
        degrees.append(int(np.clip(degrees[-1] + step, 0, 11)))
    return np.asarray(slots), np.asarray(lengths), np.asarray(degrees)


def _lead(
    rng: np.random.Generator, song: _Song, style: ArtistStyle, n: int, rate: int
) -> np.ndarray:
    slots, lengths, degrees = _melody(rng, song)
    eighth = song.bar_seconds / 8
    onsets, durations, pitches = [], [], []
    for section, active in enumerate(song.lead_sections):
        if not active:
            continue
        varied = degrees.copy()
        mutate = rng.random(varied.size) < 0.2
        varied[mutate] = np.clip(varied[mutate] + rng.integers(-2, 3, int(mutate.sum())), 0, 11)
        for slot, length, degree in zip(slots, lengths, varied, strict=True):
            bar = section * _SECTION_BARS + slot // 8
            if bar >= song.bars:
                break
            if slot % 4 == 0:
                chord = song.chords[bar]
                options = np.array([d for d in range(-2, 14) if (d - chord) % 7 in (0, 2, 4)])
                degree = int(options[np.argmin(np.abs(options - degree))])
            onsets.append(bar * song.bar_seconds + (slot % 8) * eighth)
            durations.append(min(length, 4) * eighth * 0.85)
            pitches.append(song.pitch(np.asarray([degree]), 1 + style.lead_octave)[0])
    notes = _Notes(
        onsets=np.asarray(onsets, dtype=np.float64),
        durations=np.asarray(durations, dtype=np.float64),
        midi=np.asarray(pitches, dtype=np.float64),
        velocity=rng.uniform(0.75, 1.0, len(onsets)),
    )
    exponent = 0.9 + 1.4 * (1.0 - style.brightness)
    amplitudes = _rolloff(14, exponent, odd_only=style.lead_odd_harmonics)
    return _render(notes, _Adsr(0.01, 0.3, 0.6, 0.06), amplitudes, n, rate, vibrato=0.004)


def _stereo(layers: list[tuple[np.ndarray, float]]) -> np.ndarray:
    mix = np.zeros((2, layers[0][0].size), dtype=np.float64)
    for signal, position in layers:
        left, right = _pan_gains(position)
        mix[0] += left * signal
        mix[1] += right * signal
    return mix


def generate_stems(
    seed: int, seconds: float, sample_rate: int, style: ArtistStyle | None = None
) -> dict[str, np.ndarray]:
    """The four instruments of one song, stereo ``(2, samples)`` float64, before mastering.

    Each stem is panned and set to its level in the artist's balance; their sum is the
    song before the overall level and the peak ceiling are applied.
    """
    if seconds <= 0 or sample_rate <= 0:
        raise ValueError(f"need seconds > 0 and sample_rate > 0, got {seconds}, {sample_rate}")
    style = style or ArtistStyle.draw(seed)
    rng = np.random.default_rng([seed, 0x50_4E_47])
    n = round(seconds * sample_rate)
    song = _compose(rng, style, seconds)
    lead = _lead(rng, song, style, n, sample_rate)
    echo_delay = round(0.75 * song.bar_seconds / 4 * sample_rate)
    echo = np.concatenate([np.zeros(min(echo_delay, n)), lead[: max(0, n - echo_delay)]])
    stems = {
        "drums": _stereo(_drums(rng, song, style, n, sample_rate)),
        "bass": _stereo([(_bass(rng, song, style, n, sample_rate), 0.0)]),
        "pad": _stereo(_pad(song, style, n, sample_rate)),
        "lead": _stereo([(lead, 0.15 * style.pan_spread), (0.3 * echo, -0.5 * style.pan_spread)]),
    }
    for name, level_db in zip(STEMS, style.levels_db, strict=True):
        rms = math.sqrt(float(np.mean(stems[name] ** 2)))
        if rms > 0:
            stems[name] *= 10.0 ** (level_db / 20.0) / rms
    return stems


def _master(mix: np.ndarray, level_dbfs: float) -> np.ndarray:
    """Set the mix RMS, then a soft knee above 0.8 so the peak stays under ``PEAK_CEILING``."""
    rms = math.sqrt(float(np.mean(mix**2)))
    if rms > 0:
        mix = mix * (10.0 ** (level_dbfs / 20.0) / rms)
    knee = 0.8
    magnitude = np.abs(mix)
    over = magnitude > knee
    room = PEAK_CEILING - knee
    magnitude[over] = knee + room * np.tanh((magnitude[over] - knee) / room)
    return np.clip(np.sign(mix) * magnitude, -PEAK_CEILING, PEAK_CEILING).astype(np.float32)


def generate_song(
    seed: int,
    seconds: float,
    sample_rate: int,
    stereo: bool = True,
    style: ArtistStyle | None = None,
) -> np.ndarray:
    """One song, float32 ``(2 or 1, samples)``, peak at most ``PEAK_CEILING``.

    Without ``style`` the song draws its own from ``seed``; songs of one artist share a
    style and differ by seed. Mono is the mean of the stereo mix.
    """
    style = style or ArtistStyle.draw(seed)
    mix = sum(generate_stems(seed, seconds, sample_rate, style).values())
    if not stereo:
        mix = mix.mean(axis=0, keepdims=True)
    return _master(mix, style.level_dbfs)


def _names(prefix: str, words: tuple[str, ...], count: int, seed: list[int]) -> list[str]:
    order = np.random.default_rng(seed).permutation(len(words))
    return [f"{prefix}_{i + 1:02d}_{words[order[i % len(words)]]}" for i in range(count)]


def _child_seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint32)[0])


def generate_dataset(
    out_dir: Path,
    artists: int,
    songs_per_artist: int,
    seconds: float,
    cfg: GeneratorConfig,
) -> list[Path]:
    """Write ``out_dir/<artist>/<song>.wav`` (16-bit PCM) for a generated catalogue.

    Names look like ``artist_01_cobalt/song_02_tide.wav``. Artist styles, names and
    songs derive from ``cfg.seed`` alone, so the same arguments write byte-identical
    files; ``cfg`` supplies the rate, tempo range and channel count.
    """
    if artists <= 0 or songs_per_artist <= 0:
        raise ValueError(
            f"need artists > 0 and songs_per_artist > 0, got {artists}, {songs_per_artist}"
        )
    out_dir = Path(out_dir)
    paths = []
    for a, artist in enumerate(_names("artist", _ARTIST_WORDS, artists, [cfg.seed, 0xA])):
        style = ArtistStyle.draw(_child_seed(cfg.seed, a), tuple(cfg.tempo_bpm))
        songs = _names("song", _SONG_WORDS, songs_per_artist, [cfg.seed, 0x5, a])
        for s, song in enumerate(songs):
            audio = generate_song(
                _child_seed(cfg.seed, a, s), seconds, cfg.sample_rate, cfg.stereo, style
            )
            paths.append(
                write_audio(out_dir / artist / f"{song}.wav", audio, cfg.sample_rate, "PCM_16")
            )
    return paths
