"""The sample-audio generator: deterministic, music-like, artists that differ, spread like
real music."""

from __future__ import annotations

import re
from pathlib import Path

import librosa
import numpy as np
import pytest

from mixer_core.audio.io import read_audio
from mixer_core.config import GeneratorConfig
from mixer_core.data.generator import (
    GENERATED_MARKER,
    PEAK_CEILING,
    STEMS,
    ArtistStyle,
    SongTone,
    generate_dataset,
    generate_song,
    generate_stems,
    is_generated_artist,
)
from mixer_core.data.generator.arrangement import (
    BASS_BREAK_PROBABILITY,
    bass_line,
    compose,
)
from mixer_core.data.generator.style import real_music
from mixer_core.data.generator.synthesis import VOICES, Notes, render
from mixer_core.data.statistics import STATISTICS, clip_statistics

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


def _style_with(drums: bool) -> tuple[int, ArtistStyle]:
    seed = next(s for s in range(100) if (ArtistStyle.draw(s).kit is not None) == drums)
    return seed, ArtistStyle.draw(seed)


def test_song_has_drums_bass_chords_and_lead() -> None:
    seed, style = _style_with(drums=True)
    stems = generate_stems(seed, 8.0, RATE, style)
    assert list(stems) == list(STEMS) == ["drums", "bass", "chords", "lead"]
    for name, stem in stems.items():
        assert stem.shape == (2, 8 * RATE)
        assert np.sqrt(np.mean(stem**2)) > 0.05, f"{name} is silent"
    assert _centroid(stems["bass"], RATE) < 250.0
    assert _centroid(stems["bass"], RATE) < _centroid(stems["chords"], RATE)
    assert _band_share(stems["drums"], RATE, 4000.0, 8000.0) > 0.05
    assert len(librosa.onset.onset_detect(y=stems["drums"].mean(axis=0), sr=RATE)) >= 8


def test_a_style_without_drums_has_a_silent_drum_stem() -> None:
    seed, style = _style_with(drums=False)
    stems = generate_stems(seed, 6.0, RATE, style)
    assert not np.any(stems["drums"])
    assert all(np.sqrt(np.mean(stems[name] ** 2)) > 0.05 for name in ("bass", "chords"))


@pytest.mark.parametrize("role", sorted(VOICES))
def test_every_voice_sounds_at_its_pitch(role: str) -> None:
    """Each synthesis method plays A3 (220 Hz): its spectrum peaks on a harmonic of 220 Hz,
    and no two voices of a role sound alike (their magnitude spectra differ)."""
    notes = Notes(np.array([0.0]), np.array([0.8]), np.array([57.0]), np.array([1.0]))
    spectra = []
    for kind in VOICES[role]:
        wave = render(kind, notes, RATE, RATE, 0.6, np.random.default_rng(0))
        assert np.isfinite(wave).all() and np.sqrt(np.mean(wave**2)) > 0.01, kind
        spectrum = np.abs(np.fft.rfft(wave[: RATE // 2]))
        peak_hz = np.argmax(spectrum) * 2.0  # bins of 2 Hz over half a second
        assert abs(peak_hz / 220.0 - round(peak_hz / 220.0)) < 0.05, (kind, peak_hz)
        spectra.append(spectrum / np.linalg.norm(spectrum))
    for i in range(len(spectra)):
        for j in range(i):
            assert float(spectra[i] @ spectra[j]) < 0.98, (VOICES[role][i], VOICES[role][j])


def test_mix_is_music_not_a_tone() -> None:
    seed, style = _style_with(drums=True)
    song = generate_song(seed, 8.0, RATE, style=style)
    mono = song.mean(axis=0)
    assert float(librosa.feature.spectral_flatness(y=mono).mean()) > 0.001
    spectrum = np.abs(np.fft.rfft(mono))
    peaks = librosa.util.peak_pick(spectrum, pre_max=50, post_max=50, pre_avg=200,
                                   post_avg=200, delta=spectrum.max() * 0.05, wait=50)  # fmt: skip
    assert len(peaks) >= 6
    assert len(librosa.onset.onset_detect(y=mono, sr=RATE)) >= 8
    assert np.corrcoef(song[0], song[1])[0, 1] < 0.999


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_mastering_reaches_the_drawn_tone(seed: int) -> None:
    """The song's band balance, width and loudness land on the tone drawn for it."""
    style = ArtistStyle.draw(seed)
    song = generate_song(seed, 8.0, 22050, style=style)
    targets = SongTone.draw(style, np.random.default_rng([seed, 0x4D_41_53])).targets
    measured = clip_statistics(song, 22050)
    for band in ("low_db", "high_db"):
        wanted = targets[band] - targets["mid_db"]
        assert measured[band] - measured["mid_db"] == pytest.approx(wanted, abs=1.5), band
    assert measured["width_db"] == pytest.approx(targets["width_db"], abs=1.5)
    if np.max(np.abs(song)) < 0.8:  # the soft ceiling did not touch it
        assert measured["loudness_lufs"] == pytest.approx(targets["loudness_lufs"], abs=0.5)


def test_generated_spreads_match_real_music() -> None:
    """48 generated songs spread over the fitted real distribution: every song inside the
    real range, each statistic's median and interquartile range near the real ones. Two
    songs from each of 24 artists: about half of a song's tone is its artist's, so few
    artists would make the sample's median swing with one artist. (The benchmark compares
    the standard deviations on a larger corpus against the real audio.)"""
    real = real_music().songs
    rows = []
    for artist in range(24):
        style = ArtistStyle.draw(500 + artist)
        for song in range(2):
            rows.append(clip_statistics(generate_song(7000 + 10 * artist + song, 4.0, 22050,
                                                      style=style), 22050))  # fmt: skip
    for name in STATISTICS:
        values = np.array([row[name] for row in rows])
        low, high = real.quantiles[name][0], real.quantiles[name][-1]
        margin = 0.25 * (high - low)
        assert low - margin <= values.min() and values.max() <= high + margin, name
        iqr = np.percentile(values, 75) - np.percentile(values, 25)
        assert 0.6 <= iqr / real.iqr(name) <= 1.6, (name, iqr, real.iqr(name))
        assert abs(np.median(values) - real.value_at(name, 0.0)) <= 0.5 * real.iqr(name), name


def test_bass_rests_in_two_bar_breaks_in_some_songs() -> None:
    """About BASS_BREAK_PROBABILITY of songs drop the bass for two-bar breaks; the bass
    line has no note in a resting bar and always plays somewhere."""
    scores = [compose(np.random.default_rng(seed), ArtistStyle.draw(seed), 16.0)
              for seed in range(300)]  # fmt: skip
    with_breaks = [score for score in scores if any(score.bass_rests)]
    assert abs(len(with_breaks) / len(scores) - BASS_BREAK_PROBABILITY) < 0.1
    for score in with_breaks:
        rests = np.asarray(score.bass_rests)
        assert not rests.all() and len(rests) == score.bars
        assert (rests[0::2][: len(rests[1::2])] == rests[1::2]).all()
        onsets = bass_line(np.random.default_rng(0), score, sustained=False).onsets
        bars = np.floor(onsets / score.bar_seconds + 1e-6).astype(int)
        assert bars.size > 0 and not rests[bars].any()


def test_a_bass_break_empties_the_low_band_of_its_bars() -> None:
    """Rendered: the bars of a break carry far less low-band energy than the bars where the
    bass plays (a segment-level spread of low_db that real music has)."""
    for seed in range(200):
        style = ArtistStyle.draw(seed)
        score = compose(np.random.default_rng([seed, 0x50_4E_47]), style, 16.0)
        if any(score.bass_rests):
            break
    stems = generate_stems(seed, 16.0, RATE, style)
    bar = round(score.bar_seconds * RATE)
    energy = [float(np.sum(stems["bass"][:, b * bar : (b + 1) * bar] ** 2))
              for b in range(int(16.0 * RATE) // bar)]  # fmt: skip
    resting = [e for e, rest in zip(energy, score.bass_rests, strict=False) if rest]
    playing = [e for e, rest in zip(energy, score.bass_rests, strict=False) if not rest]
    assert resting and playing
    assert np.median(resting) < 0.05 * np.median(playing)


def test_style_tempo_stays_inside_the_configured_range() -> None:
    for seed in range(20):
        low, high = ArtistStyle.draw(seed, (100.0, 120.0)).tempo_bpm
        assert 100.0 <= low < high <= 120.0
    with pytest.raises(ValueError, match="tempo_bpm"):
        ArtistStyle.draw(0, (120.0, 100.0))


def test_artists_differ_more_than_their_songs() -> None:
    """An artist keeps its palette and its share of the tone: loudness (whose variance is
    about 60 % between artists in real music) varies far more between artists than within
    one, and every song of an artist has the same voices and kit."""
    levels = []
    for artist in range(6):
        style = ArtistStyle.draw(100 + artist)
        songs = [generate_song(1000 * artist + s, 4.0, RATE, style=style) for s in range(3)]
        levels.append([10 * np.log10(np.mean(song**2)) for song in songs])
    values = np.array(levels)
    within = values.var(axis=1, ddof=1).mean()
    between = values.mean(axis=1).var(ddof=1) * values.shape[1]
    assert between > 3.0 * within
    assert len({ArtistStyle.draw(100 + a).voices for a in range(6)}) > 1


def test_dataset_layout_and_byte_identical_rerun(tmp_path: Path) -> None:
    cfg = GeneratorConfig(sample_rate=RATE, seed=3, stereo=True)
    first = generate_dataset(tmp_path / "a", 2, 3, 2.0, cfg)
    again = generate_dataset(tmp_path / "b", 2, 3, 2.0, cfg)
    other = generate_dataset(tmp_path / "c", 2, 3, 2.0, cfg.model_copy(update={"seed": 4}))

    names = [p.relative_to(tmp_path / "a").as_posix() for p in first]
    assert len(names) == len(set(names)) == 6
    assert all(re.fullmatch(r"artist_0[12]_[a-z]+/song_0[123]_[a-z]+\.wav", n) for n in names)
    assert len({n.split("/")[0] for n in names}) == 2
    markers = [
        tmp_path / "a" / artist / GENERATED_MARKER for artist in {n.split("/")[0] for n in names}
    ]
    assert all(is_generated_artist(m.parent) for m in markers)
    assert sorted(p.as_posix() for p in (tmp_path / "a").rglob("*") if p.is_file()) == sorted(
        p.as_posix() for p in [*first, *markers]
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
