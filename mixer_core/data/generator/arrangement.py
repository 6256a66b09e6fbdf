"""The score of a song and the four parts played from it: drums, bass, chords and lead.

A song has a tempo, key and mode, a chord progression and sections of four bars; each
part plays in a share of the sections (the artist's density), so arrangements thin out
and build up instead of every instrument playing throughout. In some songs the bass also
rests for two-bar breaks inside its sections: real recordings drop the low band for
whole passages (a segment's low-band share has a long tail down to -30 dB and below),
and a model that never hears a bass-less passage takes one for a broken EQ. Chords are held (pads,
organs, strings) or comped in a rhythm (pianos, plucked strings) depending on the
voice; the lead repeats a varied four-bar phrase that snaps to the chord tones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixer_core.data.generator.drums import GROOVES, one_shot, place
from mixer_core.data.generator.style import ArtistStyle
from mixer_core.data.generator.synthesis import Notes

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
DORIAN = (0, 2, 3, 5, 7, 9, 10)
MODES = (MAJOR, MINOR, DORIAN)
PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (0, 3, 4, 4),
    (5, 3, 0, 4),
    (0, 0, 3, 4),
    (0, 6, 5, 4),
    (0, 2, 3, 1),
    (1, 4, 0, 0),
)
BASS_RHYTHMS = ("x.x.x.x.", "x..x..x.", "x...x.x.", "xxxxxxxx", "x.xx.xx.", "x...x...", "x.......")
COMP_RHYTHMS = ("x...x...", "x..x..x.", "x.x.x.x.", "x..x.x..", "xx.x.xx.")
HELD_CHORD_VOICES = ("pad", "organ", "strings", "wavetable")
BASS_LOWEST = 33  # MIDI A1, 55 Hz: bass roots sit in the octave above it
SECTION_BARS = 4
PHRASE_SLOTS = 8 * SECTION_BARS
PARTS: tuple[str, ...] = ("drums", "bass", "chords", "lead")
BASS_BREAK_PROBABILITY = 0.35  # share of songs whose bass rests in two-bar breaks
BASS_BREAK_SHARE = (0.25, 0.6)  # range of the share of two-bar spans it rests in


@dataclass(frozen=True)
class Score:
    """Tempo, harmony and arrangement, shared by every part.

    ``plays[part][section]`` says whether the part plays in that section;
    ``bass_rests[bar]`` whether the bass rests in that bar even where it plays.
    """

    bar_seconds: float
    bars: int
    scale: tuple[int, ...]
    tonic: int  # MIDI note of the tonic in octave 3
    chords: tuple[int, ...]  # scale degree of each bar's chord root
    plays: dict[str, tuple[bool, ...]]
    bass_rests: tuple[bool, ...]

    def pitch(self, degrees: np.ndarray, octave_offset: int) -> np.ndarray:
        degrees = np.asarray(degrees)
        scale = np.asarray(self.scale)
        return self.tonic + 12 * (degrees // 7 + octave_offset) + scale[degrees % 7]

    def playing(self, part: str, bar: int) -> bool:
        if part == "bass" and self.bass_rests[bar]:
            return False
        return self.plays[part][bar // SECTION_BARS]


def _bass_rests(rng: np.random.Generator, bars: int) -> tuple[bool, ...]:
    """Bars in which the bass rests: two-bar breaks in some songs, never every bar."""
    if rng.random() >= BASS_BREAK_PROBABILITY:
        return (False,) * bars
    share = rng.uniform(*BASS_BREAK_SHARE)
    spans = rng.random(math.ceil(bars / 2)) < share
    spans[rng.integers(spans.size)] = False
    return tuple(bool(rest) for rest in np.repeat(spans, 2)[:bars])


def compose(rng: np.random.Generator, style: ArtistStyle, seconds: float) -> Score:
    tempo = rng.uniform(*style.tempo_bpm)
    bar_seconds = 4 * 60.0 / tempo
    bars = math.ceil(seconds / bar_seconds)
    minor = rng.random() < style.minor_probability
    scale = MODES[1 + int(rng.random() < 0.3)] if minor else MAJOR
    progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
    sections = math.ceil(bars / SECTION_BARS)
    plays = {}
    for part in PARTS:
        if part == "drums" and style.kit is None:
            plays[part] = (False,) * sections
            continue
        # chords and bass are the backbone (real songs keep their low band within a few
        # dB from section to section); drums and lead come and go with the density
        chance = 1.0 if part in ("chords", "bass") else style.density
        plays[part] = tuple(bool(rng.random() < chance) for _ in range(sections))
    # every part the style has plays somewhere, and the harmony is never missing
    for part in PARTS:
        if not any(plays[part]) and not (part == "drums" and style.kit is None):
            plays[part] = (True, *plays[part][1:])
    return Score(
        bar_seconds=bar_seconds,
        bars=bars,
        scale=scale,
        tonic=48 + int(rng.integers(12)),
        chords=tuple(progression[b % len(progression)] for b in range(bars)),
        plays=plays,
        bass_rests=_bass_rests(rng, bars),
    )


def drum_layers(
    rng: np.random.Generator, score: Score, style: ArtistStyle, n: int, rate: int
) -> list[tuple[np.ndarray, float]]:
    """(signal, pan position) per drum voice of the style's kit."""
    if style.kit is None:
        return [(np.zeros(n), 0.0)]
    kick_pattern, snare_pattern = GROOVES[style.groove]
    step = score.bar_seconds / 16
    kinds = ("kick", "snare", "hat", "open_hat", "tom", "shaker")
    hits: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in kinds}
    percussion = style.kit == "percussion"

    def hit(kind: str, bar: int, position: int, velocity: float) -> None:
        swing = style.swing * step if position % 2 else 0.0
        hits[kind][0].append(bar * score.bar_seconds + position * step + swing)
        hits[kind][1].append(velocity * rng.uniform(0.8, 1.0))

    for bar in range(score.bars):
        if not score.playing("drums", bar):
            continue
        fill = bar % SECTION_BARS == SECTION_BARS - 1 and rng.random() < 0.5
        for position in range(16):
            if percussion:
                if position % 4 == 0 or rng.random() < 0.2:
                    hit("tom", bar, position, 1.0 if position % 8 == 0 else 0.6)
                if position % 2 == 0 or style.hat_sixteenths:
                    hit("shaker", bar, position, 0.9 if position % 4 == 2 else 0.5)
                continue
            if kick_pattern[position] == "x":
                hit("kick", bar, position, 1.0)
            elif rng.random() < 0.06:
                hit("kick", bar, position, 0.6)
            if snare_pattern[position] == "x":
                hit("snare", bar, position, 1.0 if position % 4 == 0 else 0.7)
            elif fill and position >= 12:
                hit("tom" if style.kit == "acoustic" else "snare", bar, position, 0.8)
            elif rng.random() < 0.05:
                hit("snare", bar, position, 0.3)
            if position == 14 and rng.random() < 0.4:
                hit("open_hat", bar, position, 0.7)
            elif style.hat_sixteenths or position % 2 == 0:
                hit("hat", bar, position, 1.0 if position % 4 == 0 else 0.6)
    spread = style.pan_spread
    pans = {"kick": 0.0, "snare": 0.1, "hat": -0.4, "open_hat": -0.4, "tom": 0.3, "shaker": 0.5}
    levels = {"kick": 1.0, "snare": 0.5, "tom": 0.6, "shaker": 0.3}
    hat_level = 0.2 + 0.35 * style.brightness
    layers = []
    for kind in kinds:
        times, gains = hits[kind]
        if not times:
            continue
        shot = one_shot(style.kit, kind, rate, style.brightness, rng)
        level = levels.get(kind, hat_level)
        layers.append((level * place(shot, times, gains, n, rate), pans[kind] * spread))
    return layers or [(np.zeros(n), 0.0)]


def bass_line(rng: np.random.Generator, score: Score, sustained: bool) -> Notes:
    rhythm = "x......." if sustained else BASS_RHYTHMS[rng.integers(len(BASS_RHYTHMS))]
    eighth = score.bar_seconds / 8
    onsets, degrees, octaves = [], [], []
    for bar in range(score.bars):
        if not score.playing("bass", bar):
            continue
        for slot, mark in enumerate(rhythm):
            if mark != "x":
                continue
            onsets.append(bar * score.bar_seconds + slot * eighth)
            degrees.append(score.chords[bar] + (4 if rng.random() < 0.15 else 0))
            octaves.append(1 if rng.random() < 0.2 else 0)
    midi = score.pitch(np.asarray(degrees, dtype=np.int64), 0)
    midi = midi - 12 * ((midi - BASS_LOWEST) // 12) + 12 * np.asarray(octaves, dtype=np.int64)
    hold = 7.6 * eighth if sustained else 0.8 * eighth
    onset_array = np.asarray(onsets, dtype=np.float64)
    return Notes(
        onsets=onset_array,
        durations=np.full(onset_array.size, hold),
        midi=midi.astype(np.float64),
        velocity=rng.uniform(0.8, 1.0, onset_array.size),
    )


def chord_lines(rng: np.random.Generator, score: Score, voice: str) -> list[Notes]:
    """One line per chord tone (root, third, fifth, sometimes the seventh)."""
    held = voice in HELD_CHORD_VOICES
    rhythm = "x......." if held else COMP_RHYTHMS[rng.integers(len(COMP_RHYTHMS))]
    eighth = score.bar_seconds / 8
    tones = (0, 2, 4, 6) if rng.random() < 0.3 else (0, 2, 4)
    octave = 1 if rng.random() < 0.7 else 0
    lines = []
    for offset in tones:
        onsets, midi = [], []
        for bar in range(score.bars):
            if not score.playing("chords", bar):
                continue
            for slot, mark in enumerate(rhythm):
                if mark == "x":
                    onsets.append(bar * score.bar_seconds + slot * eighth)
                    midi.append(score.pitch(np.asarray([score.chords[bar] + offset]), octave)[0])
        onset_array = np.asarray(onsets, dtype=np.float64)
        hold = 7.6 * eighth if held else rng.uniform(0.5, 1.6) * eighth
        lines.append(
            Notes(
                onsets=onset_array,
                durations=np.full(onset_array.size, hold),
                midi=np.asarray(midi, dtype=np.float64),
                velocity=rng.uniform(0.7, 1.0, onset_array.size),
            )
        )
    return lines


def _phrase(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A four-bar phrase (onset slot, length in slots, scale degree)."""
    slots = [0, *[s for s in range(1, PHRASE_SLOTS) if rng.random() < rng.uniform(0.3, 0.6)]]
    ends = [*slots[1:], PHRASE_SLOTS]
    lengths = [
        max(1, end - start) if rng.random() > 0.2 else 1
        for start, end in zip(slots, ends, strict=True)
    ]
    degrees = [int(rng.integers(0, 5))]
    for _ in slots[1:]:
        step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3]))
        degrees.append(int(np.clip(degrees[-1] + step, 0, 11)))
    return np.asarray(slots), np.asarray(lengths), np.asarray(degrees)


def melody(rng: np.random.Generator, score: Score, style: ArtistStyle) -> Notes:
    slots, lengths, degrees = _phrase(rng)
    eighth = score.bar_seconds / 8
    onsets, durations, pitches = [], [], []
    for section, active in enumerate(score.plays["lead"]):
        if not active:
            continue
        varied = degrees.copy()
        mutate = rng.random(varied.size) < 0.2
        varied[mutate] = np.clip(varied[mutate] + rng.integers(-2, 3, int(mutate.sum())), 0, 11)
        for slot, length, degree in zip(slots, lengths, varied, strict=True):
            bar = section * SECTION_BARS + slot // 8
            if bar >= score.bars:
                break
            if slot % 4 == 0:
                chord = score.chords[bar]
                options = np.array([d for d in range(-2, 14) if (d - chord) % 7 in (0, 2, 4)])
                degree = int(options[np.argmin(np.abs(options - degree))])
            onsets.append(bar * score.bar_seconds + (slot % 8) * eighth)
            durations.append(min(length, 4) * eighth * 0.85)
            pitches.append(score.pitch(np.asarray([degree]), 1 + style.lead_octave)[0])
    return Notes(
        onsets=np.asarray(onsets, dtype=np.float64),
        durations=np.asarray(durations, dtype=np.float64),
        midi=np.asarray(pitches, dtype=np.float64),
        velocity=rng.uniform(0.75, 1.0, len(onsets)),
    )
