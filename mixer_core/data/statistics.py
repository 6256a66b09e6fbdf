"""What a corpus sounds like in a few numbers: loudness, crest, band balance, tilt, width.

A model trained on generated songs learns their timbre as "correct" and imposes it on
real music unless the generated corpus spreads as widely as real recordings do. These
statistics are the measure of that spread: per clip (a segment as the pipeline sees it)
and, for a corpus, their means, standard deviations, quantiles and correlations. The
generator draws each song's tone from the real corpus's song-level distribution
(``generator/real_music.json``, fitted by ``benchmarks/bench_corpus_statistics.py
--write``), and the benchmark prints generated against real.

- ``loudness_lufs``: BS.1770 integrated loudness;
- ``crest_db``: sample peak minus RMS (dB), how much the dynamics are squashed;
- ``low_db``, ``mid_db``, ``high_db``: energy in the bands ``apply_eq`` moves (below
  200 Hz, 200 Hz to 5 kHz, above 5 kHz) relative to the total
  (``tools.levels.band_levels_db``);
- ``tilt_db_per_octave``: slope of the octave-band levels from 63 Hz to 8 kHz;
- ``width_db``: side energy relative to mid energy (dB), floored at ``WIDTH_FLOOR_DB``
  (mono).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

from mixer_core.audio.loudness import integrated_lufs
from mixer_core.tools.levels import band_levels_db, power_spectrum, relative_db

OCTAVE_CENTRES_HZ: tuple[float, ...] = (63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
WIDTH_FLOOR_DB = -40.0
STATISTICS: tuple[str, ...] = (
    "loudness_lufs",
    "crest_db",
    "low_db",
    "mid_db",
    "high_db",
    "tilt_db_per_octave",
    "width_db",
)
MAX_ARTIST_SHARE = 0.9
QUANTILE_LEVELS: tuple[float, ...] = (
    0.0, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95,
    0.975, 0.99, 1.0,
)  # fmt: skip
_POWER_FLOOR = 1e-12
_FORMAT_VERSION = 1


def octave_levels_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy per octave band (centres ``OCTAVE_CENTRES_HZ``) relative to their sum, dB."""
    power, freqs = power_spectrum(audio, sample_rate)
    energy = np.array(
        [
            power[(freqs >= c / math.sqrt(2.0)) & (freqs < c * math.sqrt(2.0))].sum()
            for c in OCTAVE_CENTRES_HZ
        ]
    )
    return relative_db(energy)


def spectral_tilt(audio: np.ndarray, sample_rate: int) -> float:
    """Least-squares slope of the octave-band levels against the octave number (dB/oct)."""
    levels = octave_levels_db(audio, sample_rate)
    octaves = np.log2(np.asarray(OCTAVE_CENTRES_HZ) / 1000.0)
    return float(np.polyfit(octaves, levels, 1)[0])


def stereo_width_db(audio: np.ndarray) -> float:
    """Side energy over mid energy in dB; mono (or one channel) gives ``WIDTH_FLOOR_DB``."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 1 or audio.shape[0] < 2:
        return WIDTH_FLOOR_DB
    mid = float(np.mean(((audio[0] + audio[1]) / 2.0) ** 2))
    side = float(np.mean(((audio[0] - audio[1]) / 2.0) ** 2))
    if mid <= _POWER_FLOOR:
        return WIDTH_FLOOR_DB
    return max(10.0 * math.log10(max(side, _POWER_FLOOR) / mid), WIDTH_FLOOR_DB)


def crest_db(audio: np.ndarray) -> float:
    """Sample peak over RMS in dB (all channels); 0 for silence."""
    audio = np.asarray(audio, dtype=np.float64)
    rms = math.sqrt(float(np.mean(audio**2))) if audio.size else 0.0
    if rms <= 0.0:
        return 0.0
    return 20.0 * math.log10(float(np.max(np.abs(audio))) / rms)


def clip_statistics(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Every statistic of ``STATISTICS`` for one clip ``(channels, samples)``."""
    low, mid, high = band_levels_db(audio, sample_rate)
    return {
        "loudness_lufs": integrated_lufs(np.asarray(audio, dtype=np.float32), sample_rate),
        "crest_db": crest_db(audio),
        "low_db": float(low),
        "mid_db": float(mid),
        "high_db": float(high),
        "tilt_db_per_octave": spectral_tilt(audio, sample_rate),
        "width_db": stereo_width_db(audio),
    }


@dataclass(frozen=True)
class Distribution:
    """The spread of ``STATISTICS`` over some units (segments or songs).

    Real statistics are far from normal (band shares have long tails toward silence), so
    besides the means and standard deviations a report reads, the distribution keeps each
    statistic's quantiles at ``QUANTILE_LEVELS`` and the correlation of their normal
    scores: a Gaussian copula, from which :meth:`value_at` maps a standard-normal draw
    to a value with the real marginal (within the real minimum and maximum).
    """

    count: int
    mean: dict[str, float]
    std: dict[str, float]
    quantiles: dict[str, tuple[float, ...]]
    correlation: tuple[tuple[float, ...], ...]

    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, float]]) -> Distribution:
        if len(rows) < 2:
            raise ValueError(f"need at least 2 clips or songs to fit a spread, got {len(rows)}")
        values = np.array([[row[name] for name in STATISTICS] for row in rows], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.nan_to_num(np.corrcoef(normal_scores(values), rowvar=False), nan=0.0)
        np.fill_diagonal(correlation, 1.0)
        levels = np.asarray(QUANTILE_LEVELS)
        return cls(
            count=len(rows),
            mean=dict(zip(STATISTICS, map(float, values.mean(axis=0)), strict=True)),
            std=dict(zip(STATISTICS, map(float, values.std(axis=0, ddof=1)), strict=True)),
            quantiles={
                name: tuple(float(v) for v in np.quantile(values[:, i], levels))
                for i, name in enumerate(STATISTICS)
            },
            correlation=tuple(tuple(float(v) for v in row) for row in correlation),
        )

    def iqr(self, name: str) -> float:
        """Interquartile range of ``name`` (from the stored quantiles)."""
        return float(np.interp(0.75, QUANTILE_LEVELS, self.quantiles[name])) - float(
            np.interp(0.25, QUANTILE_LEVELS, self.quantiles[name])
        )

    def value_at(self, name: str, z: float) -> float:
        """The value of ``name`` at standard-normal score ``z`` (its quantile ``Phi(z)``)."""
        level = float(scipy.stats.norm.cdf(z))
        return float(np.interp(level, QUANTILE_LEVELS, self.quantiles[name]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "quantile_levels": list(QUANTILE_LEVELS),
            "quantiles": {name: list(values) for name, values in self.quantiles.items()},
            "correlation": [list(row) for row in self.correlation],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> Distribution:
        fields = ("mean", "std", "quantiles")
        missing = [n for n in STATISTICS if any(n not in data.get(f, {}) for f in fields)]
        if missing:
            raise ValueError(f"{source}: statistics missing: {', '.join(missing)}")
        if tuple(data.get("quantile_levels", ())) != QUANTILE_LEVELS:
            raise ValueError(f"{source}: quantile levels differ from {QUANTILE_LEVELS}")
        correlation = tuple(tuple(float(v) for v in row) for row in data["correlation"])
        if len(correlation) != len(STATISTICS) or any(
            len(row) != len(STATISTICS) for row in correlation
        ):
            raise ValueError(f"{source}: correlation must be {len(STATISTICS)}x{len(STATISTICS)}")
        return cls(
            count=int(data["count"]),
            mean={n: float(data["mean"][n]) for n in STATISTICS},
            std={n: float(data["std"][n]) for n in STATISTICS},
            quantiles={n: tuple(float(v) for v in data["quantiles"][n]) for n in STATISTICS},
            correlation=correlation,
        )


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Each column's ranks as standard-normal scores (ties share their mean rank)."""
    ranks = scipy.stats.rankdata(values, axis=0)
    return scipy.stats.norm.ppf((ranks - 0.5) / values.shape[0])


def _artist_share(by_artist: Mapping[str, Sequence[Mapping[str, float]]]) -> dict[str, float]:
    """Between-artist share of each statistic's variance, on normal scores (robust to the
    long tails), over the artists with at least two songs."""
    groups = [rows for rows in by_artist.values() if len(rows) >= 2]
    if not groups:
        return dict.fromkeys(STATISTICS, 0.0)
    values = np.array([[row[n] for n in STATISTICS] for rows in groups for row in rows])
    scores = normal_scores(values)
    bounds = np.cumsum([0, *(len(rows) for rows in groups)])
    share = {}
    for i, name in enumerate(STATISTICS):
        parts = [scores[a:b, i] for a, b in itertools.pairwise(bounds)]
        total = float(scores[:, i].var(ddof=1))
        within = float(np.mean([part.var(ddof=1) for part in parts]))
        share[name] = float(np.clip(1.0 - within / total, 0.0, MAX_ARTIST_SHARE)) if total else 0.0
    return share


@dataclass(frozen=True)
class CorpusStatistics:
    """A corpus's statistics per segment and per song (the mean of a song's segments).

    The song-level distribution is what a generator draws a song's tone from; the
    segment-level one is what the model sees and what the benchmark compares.
    ``artist_share`` is, per statistic, the share of the song-level variance that lies
    between artists (1 - mean within-artist variance / total variance, over artists
    with at least two songs, clipped to ``[0, MAX_ARTIST_SHARE]``).
    """

    segments: Distribution
    songs: Distribution
    artist_share: dict[str, float]
    artists: int
    source: str

    @classmethod
    def measure(
        cls, songs: Iterable[tuple[str, str, Iterable[np.ndarray]]], sample_rate: int, source: str
    ) -> CorpusStatistics:
        """From ``(artist, song, segments)`` triples, segments ``(channels, samples)``."""
        segment_rows: list[dict[str, float]] = []
        by_artist: dict[str, list[dict[str, float]]] = {}
        for artist, _song, segments in songs:
            rows = [clip_statistics(segment, sample_rate) for segment in segments]
            if not rows:
                continue
            segment_rows.extend(rows)
            song = {n: float(np.mean([r[n] for r in rows])) for n in STATISTICS}
            by_artist.setdefault(artist, []).append(song)
        song_rows = [song for rows in by_artist.values() for song in rows]
        return cls(
            segments=Distribution.fit(segment_rows),
            songs=Distribution.fit(song_rows),
            artist_share=_artist_share(by_artist),
            artists=len(by_artist),
            source=source,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "corpus_statistics",
                "version": _FORMAT_VERSION,
                "source": self.source,
                "artists": self.artists,
                "artist_share": self.artist_share,
                "segments": self.segments.to_dict(),
                "songs": self.songs.to_dict(),
            },
            indent=2,
        )

    @classmethod
    def read(cls, path: Path) -> CorpusStatistics:
        data = json.loads(Path(path).read_text())
        if data.get("kind") != "corpus_statistics" or data.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{path}: not corpus statistics of format version {_FORMAT_VERSION} "
                f"(kind={data.get('kind')!r}, version={data.get('version')!r})"
            )
        return cls(
            segments=Distribution.from_dict(data["segments"], f"{path}: segments"),
            songs=Distribution.from_dict(data["songs"], f"{path}: songs"),
            artist_share={n: float(data["artist_share"][n]) for n in STATISTICS},
            artists=int(data["artists"]),
            source=str(data["source"]),
        )
