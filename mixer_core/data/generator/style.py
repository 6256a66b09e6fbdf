"""What an artist keeps across songs, and the tone each song is mastered to.

An ``ArtistStyle`` fixes a palette (which voice plays bass, chords and lead, which drum
kit or none), a tempo range, groove, swing, density, stereo spread, room and balance,
so artists differ audibly and an artist split means something. Every song's tone (its
loudness, crest, band balance and width) is drawn from the **real-music distribution**
(``real_music.json``): each statistic's variance is split between the artist and the
song as in the real corpus (``CorpusStatistics.artist_share``), and the correlations
between statistics are kept, so the generated corpus spreads like real recordings
instead of sharing one "clean" timbre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from mixer_core.data.generator.drums import GROOVES, KITS
from mixer_core.data.generator.synthesis import VOICES
from mixer_core.data.statistics import STATISTICS, CorpusStatistics

REAL_MUSIC_STATISTICS = Path(__file__).with_name("real_music.json")
NO_DRUMS_PROBABILITY = 0.2


@cache
def real_music() -> CorpusStatistics:
    """The real corpus's statistics the generator draws tones from (no audio)."""
    return CorpusStatistics.read(REAL_MUSIC_STATISTICS)


def _tone_draw(rng: np.random.Generator) -> np.ndarray:
    """A standard-normal vector with the real songs' correlations."""
    correlation = np.asarray(real_music().songs.correlation)
    return rng.multivariate_normal(np.zeros(len(STATISTICS)), correlation, method="eigh")


@dataclass(frozen=True)
class ArtistStyle:
    """What stays the same across one artist's songs.

    ``voices`` names the voice of bass, chords and lead (``synthesis.VOICES``); ``kit``
    the drum kit, ``None`` for no drums. ``brightness`` (0–1) opens the voices'
    spectra; ``levels_db`` is the balance of drums, bass, chords and lead (RMS of each
    stem relative to the others); ``density`` the share of sections each part plays;
    ``room`` the typical reverb level; ``tone`` the artist's standard-normal share of
    the song tone (one value per ``STATISTICS``).
    """

    tempo_bpm: tuple[float, float]
    brightness: float
    voices: tuple[str, str, str]
    kit: str | None
    groove: int
    hat_sixteenths: bool
    swing: float
    minor_probability: float
    levels_db: tuple[float, float, float, float]
    density: float
    pan_spread: float
    lead_octave: int
    room: float
    tone: tuple[float, ...]

    @classmethod
    def draw(cls, seed: int, tempo_bpm: tuple[float, float] = (80.0, 150.0)) -> ArtistStyle:
        """A style drawn from ``seed``; its tempo range is a slice of ``tempo_bpm``."""
        low, high = tempo_bpm
        if not 0 < low <= high:
            raise ValueError(f"tempo_bpm: need 0 < low <= high, got {tempo_bpm}")
        rng = np.random.default_rng([seed, 0x57A1E])
        width = 0.15 * (high - low)
        start = rng.uniform(low, high - width)
        voices = tuple(str(rng.choice(VOICES[role])) for role in ("bass", "chords", "lead"))
        kit = None if rng.random() < NO_DRUMS_PROBABILITY else str(rng.choice(KITS))
        return cls(
            tempo_bpm=(float(start), float(start + width)),
            brightness=float(rng.uniform(0.0, 1.0)),
            voices=(voices[0], voices[1], voices[2]),
            kit=kit,
            groove=int(rng.integers(len(GROOVES))),
            hat_sixteenths=bool(rng.random() < 0.5),
            swing=float(rng.choice([0.0, 0.0, 0.12, 0.25])),
            minor_probability=float(rng.uniform(0.1, 0.9)),
            levels_db=(
                float(rng.uniform(-4.0, 3.0)),
                float(rng.uniform(-6.0, 1.0)),
                float(rng.uniform(-6.0, 0.0)),
                float(rng.uniform(-7.0, 0.0)),
            ),
            density=float(rng.uniform(0.5, 1.0)),
            pan_spread=float(rng.uniform(0.2, 1.0)),
            lead_octave=int(rng.integers(0, 2)),
            room=float(rng.uniform(0.0, 0.45)),
            tone=tuple(float(v) for v in _tone_draw(rng)),
        )


@dataclass(frozen=True)
class SongTone:
    """The statistics a song is mastered to: one target value per ``STATISTICS`` name."""

    targets: dict[str, float]

    @classmethod
    def draw(cls, style: ArtistStyle, rng: np.random.Generator) -> SongTone:
        real = real_music()
        own = _tone_draw(rng)
        targets = {}
        for name, artist_z, song_z in zip(STATISTICS, style.tone, own, strict=True):
            share = real.artist_share[name]
            z = math.sqrt(share) * artist_z + math.sqrt(1.0 - share) * song_z
            targets[name] = real.songs.value_at(name, float(z))
        return cls(targets)
