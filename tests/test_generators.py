"""The sample-audio generator: deterministic, music-like, artists that differ."""

from __future__ import annotations

import re
from pathlib import Path

import librosa
import numpy as np
import pytest

from mixer_core.audio.io import read_audio
from mixer_core.config import GeneratorConfig
from mixer_core.data.generator import (
    PEAK_CEILING,
    STEMS,
    ArtistStyle,
    generate_dataset,
    generate_song,
    generate_stems,
)

RATE = 16000


def _band_share(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(audio.mean(axis=0))) ** 2
    freqs = np.fft.rfftfreq(audio.shape[1], 1.0 / rate)
    return float(power[(freqs >= low) & (freqs < high)].sum() / power.sum())


def _centroid(audio: np.ndarray, rate: int) -> float:
    return float(librosa.feature.spectral_centroid(y=audio.mean(axis=0), sr=rate).mean())


def test_song_shape_dtype_and_peak() -> None:
    stereo = generate_song(7, 5.0, RATE)
    mono = generate_song(7, 5.0, RATE, stereo=False)
    assert stereo.shape == (2, 5 * RATE) and stereo.dtype == np.float32
    assert mono.shape == (1, 5 * RATE) and mono.dtype == np.float32
    assert np.max(np.abs(stereo)) <= PEAK_CEILING
    assert np.max(np.abs(mono)) <= PEAK_CEILING
    assert np.isfinite(stereo).all()


def test_same_seed_same_samples_different_seed_different_song() -> None:
    a = generate_song(11, 3.0, RATE)
    np.testing.assert_array_equal(a, generate_song(11, 3.0, RATE))
    b = generate_song(12, 3.0, RATE)
    assert np.mean(np.abs(a - b)) > 0.01


def test_song_has_drums_bass_chords_and_lead() -> None:
    stems = generate_stems(5, 8.0, RATE)
    assert list(stems) == list(STEMS)
    for name, stem in stems.items():
        assert stem.shape == (2, 8 * RATE)
        assert np.sqrt(np.mean(stem**2)) > 0.05, f"{name} is silent"
    assert _centroid(stems["bass"], RATE) < 250.0
    assert _centroid(stems["pad"], RATE) < _centroid(stems["lead"], RATE)
    assert _band_share(stems["drums"], RATE, 4000.0, 8000.0) > 0.05
    assert len(librosa.onset.onset_detect(y=stems["drums"].mean(axis=0), sr=RATE)) >= 8


def test_mix_is_music_not_a_tone() -> None:
    song = generate_song(5, 8.0, RATE)
    mono = song.mean(axis=0)
    assert _band_share(song, RATE, 20.0, 150.0) > 0.05
    assert _band_share(song, RATE, 3000.0, 8000.0) > 0.001
    assert float(librosa.feature.spectral_flatness(y=mono).mean()) > 0.005
    spectrum = np.abs(np.fft.rfft(mono))
    peaks = librosa.util.peak_pick(spectrum, pre_max=50, post_max=50, pre_avg=200,
                                   post_avg=200, delta=spectrum.max() * 0.05, wait=50)  # fmt: skip
    assert len(peaks) >= 6
    assert len(librosa.onset.onset_detect(y=mono, sr=RATE)) >= 8
    assert np.corrcoef(song[0], song[1])[0, 1] < 0.999


def test_style_tempo_stays_inside_the_configured_range() -> None:
    for seed in range(20):
        low, high = ArtistStyle.draw(seed, (100.0, 120.0)).tempo_bpm
        assert 100.0 <= low < high <= 120.0
    with pytest.raises(ValueError, match="tempo_bpm"):
        ArtistStyle.draw(0, (120.0, 100.0))


def test_artists_differ_more_than_their_songs() -> None:
    """Spectral centroid and level vary between artists far more than within one."""
    centroids, levels = [], []
    for artist in range(4):
        style = ArtistStyle.draw(100 + artist)
        songs = [generate_song(1000 * artist + s, 4.0, RATE, style=style) for s in range(3)]
        centroids.append([np.log(_centroid(song, RATE)) for song in songs])
        levels.append([10 * np.log10(np.mean(song**2)) for song in songs])
    for values in (np.array(centroids), np.array(levels)):
        within = values.var(axis=1, ddof=1).mean()
        between = values.mean(axis=1).var(ddof=1) * values.shape[1]
        assert between > 4.0 * within


def test_dataset_layout_and_byte_identical_rerun(tmp_path: Path) -> None:
    cfg = GeneratorConfig(sample_rate=RATE, seed=3, stereo=True)
    first = generate_dataset(tmp_path / "a", 2, 3, 2.0, cfg)
    again = generate_dataset(tmp_path / "b", 2, 3, 2.0, cfg)
    other = generate_dataset(tmp_path / "c", 2, 3, 2.0, cfg.model_copy(update={"seed": 4}))

    names = [p.relative_to(tmp_path / "a").as_posix() for p in first]
    assert len(names) == len(set(names)) == 6
    assert all(re.fullmatch(r"artist_0[12]_[a-z]+/song_0[123]_[a-z]+\.wav", n) for n in names)
    assert len({n.split("/")[0] for n in names}) == 2
    assert sorted(p.as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file()) == sorted(
        p.as_posix() for p in first
    )
    assert [p.relative_to(tmp_path / "b").as_posix() for p in again] == names
    for x, y in zip(first, again, strict=True):
        assert x.read_bytes() == y.read_bytes()
    assert all(x.read_bytes() != z.read_bytes() for x, z in zip(first, other, strict=True))

    audio, rate = read_audio(first[0])
    assert rate == RATE and audio.shape == (2, 2 * RATE)


def test_dataset_mono(tmp_path: Path) -> None:
    cfg = GeneratorConfig(sample_rate=RATE, stereo=False)
    (path,) = generate_dataset(tmp_path, 1, 1, 1.0, cfg)
    audio, _ = read_audio(path)
    assert audio.shape == (1, RATE)
