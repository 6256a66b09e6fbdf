"""Generated sample audio against real music: loudness, crest, band balance, tilt, width.

Run: ``.venv/bin/python benchmarks/bench_corpus_statistics.py --real data/real_music``
(build that folder first with ``benchmarks/real_corpus.py --out data/real_music``; real
audio is opt-in and never committed). ``--write`` stores the real corpus's statistics
(means, standard deviations, correlations: no audio) as the generator's target,
``mixer_core/data/generator/real_music.json``.

The generated corpus is written by the project's generator in the same run (``--artists``
× ``--songs``, ``--seconds`` each, seed ``--seed``), both corpora are cut into segments
the way the pipeline cuts them (``data`` section of the config), and for every statistic
the JSON gives each corpus's mean and standard deviation per segment and per song, the
ratio of the spreads (generated / real) and whether it is within ``--tolerance`` (25 %),
and the ratio of the interquartile ranges beside it: band shares have long tails toward
silence, so a standard deviation over a few dozen songs swings with a song or two.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mixer_core.audio.io import AudioFileError, read_audio
from mixer_core.config import DataConfig, load_config
from mixer_core.data.generator import REAL_MUSIC_STATISTICS, generate_dataset
from mixer_core.data.segmenting import configured_segments
from mixer_core.data.statistics import STATISTICS, CorpusStatistics, Distribution
from mixer_core.evaluation.folder import find_songs


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True, help="<artist>/<song> real music")
    parser.add_argument("--artists", type=int, default=48, help="generated artists")
    parser.add_argument("--songs", type=int, default=4, help="generated songs per artist")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="length of a generated song (default: the config's generators.seconds, the "
        "demo's length; bass breaks and sections need a few bars to show)",
    )
    parser.add_argument("--seed", type=int, default=7, help="generator seed (not the demo's 0)")
    parser.add_argument("--tolerance", type=float, default=0.25, help="allowed spread mismatch")
    parser.add_argument("--config", default=None, help="configuration file")
    parser.add_argument(
        "--write",
        nargs="?",
        const=REAL_MUSIC_STATISTICS,
        type=Path,
        default=None,
        help=f"write the real statistics there (default {REAL_MUSIC_STATISTICS})",
    )
    return parser.parse_args()


def _songs(folder: Path, data: DataConfig) -> Iterator[tuple[str, str, list[np.ndarray]]]:
    artists = find_songs(folder)
    total = sum(len(songs) for songs in artists.values())
    with tqdm(total=total, desc=f"statistics: {folder.name}", unit="song", file=sys.stderr) as bar:
        for artist, songs in artists.items():
            for song in songs:
                bar.update(1)
                try:
                    audio, _ = read_audio(
                        song.path, sample_rate=data.sample_rate, channels=data.channels
                    )
                except AudioFileError as exc:
                    print(f"skipped {exc}", file=sys.stderr)
                    continue
                yield artist, song.name, [s for _, _, s in configured_segments(audio, data)]


def _compare(real: Distribution, generated: Distribution, tolerance: float) -> dict[str, object]:
    rows = {}
    for name in STATISTICS:
        ratio = generated.std[name] / real.std[name] if real.std[name] > 0 else float("nan")
        iqr_ratio = generated.iqr(name) / real.iqr(name)
        rows[name] = {
            "real_mean": round(real.mean[name], 3),
            "real_std": round(real.std[name], 3),
            "generated_mean": round(generated.mean[name], 3),
            "generated_std": round(generated.std[name], 3),
            "spread_ratio": round(ratio, 3),
            "within_tolerance": bool(abs(ratio - 1.0) <= tolerance),
            "iqr_ratio": round(iqr_ratio, 3),
            "iqr_within_tolerance": bool(abs(iqr_ratio - 1.0) <= tolerance),
        }
    return rows


def main() -> int:
    args = _arguments()
    cfg = load_config(args.config)
    real = CorpusStatistics.measure(
        _songs(args.real, cfg.data), cfg.data.sample_rate, source=f"real music in {args.real}"
    )
    if args.write is not None:
        args.write.write_text(real.to_json() + "\n")
        print(f"wrote {args.write}", file=sys.stderr)
    generator_cfg = cfg.generators.model_copy(update={"seed": args.seed})
    seconds = args.seconds if args.seconds is not None else generator_cfg.seconds
    with tempfile.TemporaryDirectory(prefix="mixer-generated-") as tmp:
        generate_dataset(Path(tmp), args.artists, args.songs, seconds, generator_cfg)
        generated = CorpusStatistics.measure(
            _songs(Path(tmp), cfg.data), cfg.data.sample_rate, source="generated"
        )
    per_segment = _compare(real.segments, generated.segments, args.tolerance)
    per_song = _compare(real.songs, generated.songs, args.tolerance)
    report = {
        "real": {"artists": real.artists, "songs": real.songs.count,
                 "segments": real.segments.count},
        "generated": {"artists": generated.artists, "songs": generated.songs.count,
                      "segments": generated.segments.count, "seed": args.seed,
                      "seconds": seconds},
        "tolerance": args.tolerance,
        "per_segment": per_segment,
        "per_song": per_song,
        "all_segment_spreads_within_tolerance": all(
            row["within_tolerance"] for row in per_segment.values()
        ),
        "all_segment_iqrs_within_tolerance": all(
            row["iqr_within_tolerance"] for row in per_segment.values()
        ),
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
