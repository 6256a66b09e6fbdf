"""Synthetic songs for tests and the demo, spread like real recordings.

The pipeline needs audio that behaves like music, not test tones: transients for the
compressor and limiter, low and high bands for the EQ, a stereo image for pan and
width, and artists that differ from one another (splits and per-artist statistics mean
nothing otherwise). And a model trained on these songs must not learn one timbre as
"correct": each artist draws a palette (``style``: voices from several synthesis
methods, a drum kit or none, density, groove, room), each song a score
(``arrangement``) and a tone drawn from the statistics of real music
(``real_music.json``, fitted by ``benchmarks/bench_corpus_statistics.py``), which
``mastering`` sets: band balance, width, crest and loudness.

Everything is seeded by integers, so the same seed renders the same samples.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from mixer_core.audio.io import write_audio
from mixer_core.config import GeneratorConfig
from mixer_core.data.generator.arrangement import (
    PARTS,
    bass_line,
    chord_lines,
    compose,
    drum_layers,
    melody,
)
from mixer_core.data.generator.mastering import PEAK_CEILING, master
from mixer_core.data.generator.style import REAL_MUSIC_STATISTICS, ArtistStyle, SongTone
from mixer_core.data.generator.synthesis import render

STEMS: tuple[str, ...] = PARTS
# Written into each generated artist's folder (hidden, so ingest skips it), so training
# can record that a model heard generated audio (``is_generated_artist``).
GENERATED_MARKER = ".generated.json"

__all__ = [
    "GENERATED_MARKER",
    "PEAK_CEILING",
    "REAL_MUSIC_STATISTICS",
    "STEMS",
    "ArtistStyle",
    "SongTone",
    "generate_dataset",
    "generate_song",
    "generate_stems",
    "is_generated_artist",
]

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


def _pan_gains(position: float) -> tuple[float, float]:
    angle = (np.clip(position, -1.0, 1.0) + 1.0) * math.pi / 4.0
    return math.cos(angle), math.sin(angle)


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
    """The four parts of one song (``STEMS``), stereo ``(2, samples)`` float64, unmastered.

    Each part is panned and set to its level in the artist's balance; a part the style
    leaves out (no drums) is silent. Their sum is the mix that mastering finishes.
    """
    if seconds <= 0 or sample_rate <= 0:
        raise ValueError(f"need seconds > 0 and sample_rate > 0, got {seconds}, {sample_rate}")
    style = style or ArtistStyle.draw(seed)
    rng = np.random.default_rng([seed, 0x50_4E_47])
    n = round(seconds * sample_rate)
    score = compose(rng, style, seconds)
    bass_voice, chord_voice, lead_voice = style.voices
    bright = style.brightness
    lead = render(lead_voice, melody(rng, score, style), n, sample_rate, bright, rng)
    echo_delay = round(0.75 * score.bar_seconds / 4 * sample_rate)
    echo = np.concatenate([np.zeros(min(echo_delay, n)), lead[: max(0, n - echo_delay)]])
    sustained_bass = chord_voice in ("pad", "strings") and rng.random() < 0.4
    bass = render(bass_voice, bass_line(rng, score, sustained_bass), n, sample_rate, bright, rng)
    chord_layers = []
    for tone, line in enumerate(chord_lines(rng, score, chord_voice)):
        side = (-1.0) ** tone * style.pan_spread * (0.3 + 0.1 * tone)
        chord_layers.append((render(chord_voice, line, n, sample_rate, bright, rng), side))
    stems = {
        "drums": _stereo(drum_layers(rng, score, style, n, sample_rate)),
        "bass": _stereo([(bass, 0.0)]),
        "chords": _stereo(chord_layers),
        "lead": _stereo([(lead, 0.15 * style.pan_spread), (0.3 * echo, -0.5 * style.pan_spread)]),
    }
    for name, level_db in zip(STEMS, style.levels_db, strict=True):
        rms = math.sqrt(float(np.mean(stems[name] ** 2)))
        if rms > 0:
            stems[name] *= 10.0 ** ((level_db + rng.uniform(-1.5, 1.5)) / 20.0) / rms
    return stems


def generate_song(
    seed: int,
    seconds: float,
    sample_rate: int,
    stereo: bool = True,
    style: ArtistStyle | None = None,
) -> np.ndarray:
    """One song, float32 ``(2 or 1, samples)``, peak at most ``PEAK_CEILING``.

    Without ``style`` the song draws its own from ``seed``; songs of one artist share a
    style and differ by seed. Mono is the mean of the stereo mix, mastered as mono.
    """
    style = style or ArtistStyle.draw(seed)
    mix = sum(generate_stems(seed, seconds, sample_rate, style).values())
    if not stereo:
        mix = mix.mean(axis=0, keepdims=True)
    rng = np.random.default_rng([seed, 0x4D_41_53])
    tone = SongTone.draw(style, rng)
    room = style.room * rng.uniform(0.5, 1.5)
    return master(mix, sample_rate, tone.targets, room, rng)


def is_generated_artist(artist_dir: Path) -> bool:
    """Whether ``artist_dir`` holds songs written by :func:`generate_dataset`."""
    return (Path(artist_dir) / GENERATED_MARKER).is_file()


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
    """Write ``out_dir/<artist>/<song>.wav`` (16-bit PCM) for a generated catalogue, and
    each artist's ``GENERATED_MARKER``.

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
        (out_dir / artist).mkdir(parents=True, exist_ok=True)
        marker = {"generator": "mixer_core.data.generator", "seed": cfg.seed, "artist": a}
        (out_dir / artist / GENERATED_MARKER).write_text(json.dumps(marker) + "\n")
        for s, song in enumerate(songs):
            audio = generate_song(
                _child_seed(cfg.seed, a, s), seconds, cfg.sample_rate, cfg.stereo, style
            )
            paths.append(
                write_audio(out_dir / artist / f"{song}.wav", audio, cfg.sample_rate, "PCM_16")
            )
    return paths
