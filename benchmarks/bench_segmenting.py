"""Segmenting throughput and memory, against a plain read + resample + write baseline.

Prints one JSON object. Throughput is in × real time on one core (BLAS/OpenMP/torch
threads pinned to 1), for generated 44.1 kHz stereo songs segmented to the default
22.05 kHz stereo. The baseline does the unavoidable work on the same files in the
same run (soundfile read, soxr HQ resample, one soundfile write), so
``overhead_ratio`` is what cutting, per-segment loudness and many small atomic files
cost on top. Peak memory is measured in fresh subprocesses (tracemalloc over the
segmenting call, and ru_maxrss): one long song, and one vs several songs of the same
length, to show memory follows the longest song, not the number of songs.

    .venv/bin/python benchmarks/bench_segmenting.py [--songs 4 --seconds 60]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixer_core.audio.loudness import integrated_lufs  # noqa: E402
from mixer_core.config import DataConfig  # noqa: E402
from mixer_core.data.generator import generate_song  # noqa: E402
from mixer_core.data.segmenting import iter_segments, write_artist_segments  # noqa: E402

SOURCE_RATE = 44100
CFG = DataConfig()


def _write_song(path: Path, seed: int, seconds: float) -> Path:
    """A generated song, 16-bit WAV; long ones repeat a 60 s render to keep this quick."""
    piece = generate_song(seed, min(seconds, 60.0), SOURCE_RATE)
    frames = round(seconds * SOURCE_RATE)
    with sf.SoundFile(path, "w", SOURCE_RATE, 2, "PCM_16") as out:
        written = 0
        while written < frames:
            chunk = piece[:, : frames - written]
            out.write(chunk.T)
            written += chunk.shape[1]
    return path


def _songs(folder: Path, count: int, seconds: float, tag: str) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        (f"{tag}_{i}", _write_song(folder / f"{tag}_{i}.wav", i, seconds)) for i in range(count)
    ]


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _baseline(songs: list[tuple[str, Path]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for song, path in songs:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        resampled = soxr.resample(audio, rate, CFG.sample_rate, quality="HQ")
        sf.write(out / f"{song}.wav", resampled, CFG.sample_rate, subtype="FLOAT")


def _resampled(songs: list[tuple[str, Path]]) -> list[np.ndarray]:
    out = []
    for _, path in songs:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        out.append(np.ascontiguousarray(soxr.resample(audio, rate, CFG.sample_rate).T))
    return out


def _loudness_only(audios: list[np.ndarray]) -> None:
    for audio in audios:
        for _, _, segment in iter_segments(
            audio, CFG.sample_rate, CFG.segment_seconds, CFG.hop_seconds, CFG.silence_threshold_db
        ):
            integrated_lufs(segment, CFG.sample_rate)


def _child_memory(songs: list[tuple[str, Path]], processed: Path) -> dict[str, float]:
    """Peak memory (MiB) of a fresh interpreter segmenting ``songs``.

    ``traced_peak``: tracemalloc's peak over the segmenting call alone (numpy arrays
    included), the figure that would grow with the number of songs if anything were
    kept; ``maxrss``: the process's peak RSS, imports (torch) included.
    """
    payload = json.dumps([[s, str(p)] for s, p in songs])
    result = subprocess.run(
        [sys.executable, __file__, "--child", payload, str(processed)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout)


def _child(payload: str, processed: str) -> None:
    songs = [(s, Path(p)) for s, p in json.loads(payload)]
    tracemalloc.start()
    write_artist_segments(songs, "bench", Path(processed), CFG)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"traced_peak": round(traced_peak / 2**20, 1), "maxrss": round(maxrss, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=4, help="songs in the throughput run")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each song (s)")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="long song (minutes)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory(prefix="bench_segmenting_") as tmp:
        root = Path(tmp)
        songs = _songs(root / "raw", args.songs, args.seconds, "song")
        audio_s = args.songs * args.seconds
        _baseline(songs[:1], root / "warm")
        base_wall, base_cpu = _timed(lambda: _baseline(songs, root / "baseline"))
        ours_wall, ours_cpu = _timed(
            lambda: write_artist_segments(songs, "bench", root / "processed", CFG)
        )
        _, lufs_cpu = _timed(lambda: _loudness_only(_resampled(songs)))
        _, decode_cpu = _timed(lambda: _resampled(songs))
        lufs_cpu -= decode_cpu

        long_song = _songs(root / "long", 1, 60.0 * args.long_minutes, "long")
        one = _child_memory(songs[:1], root / "mem")
        many = _child_memory(songs, root / "mem")
        long_memory = _child_memory(long_song, root / "mem")

    print(
        json.dumps(
            {
                "songs": args.songs,
                "song_seconds": args.seconds,
                "source": f"{SOURCE_RATE} Hz stereo PCM_16 wav",
                "target": f"{CFG.sample_rate} Hz, {CFG.channels} ch, "
                f"{CFG.segment_seconds} s segments, hop {CFG.hop_seconds} s",
                "segmenting_x_realtime_wall": round(audio_s / ours_wall, 1),
                "segmenting_x_realtime_cpu": round(audio_s / ours_cpu, 1),
                "baseline_x_realtime_wall": round(audio_s / base_wall, 1),
                "baseline_x_realtime_cpu": round(audio_s / base_cpu, 1),
                "overhead_ratio_cpu": round(ours_cpu / base_cpu, 2),
                "loudness_share_of_segmenting_cpu": round(lufs_cpu / ours_cpu, 2),
                "peak_memory_mib": {
                    f"1_song_{args.seconds:g}s": one,
                    f"{args.songs}_songs_{args.seconds:g}s": many,
                    f"1_song_{args.long_minutes:g}min": long_memory,
                },
                "traced_peak_growth_mib_per_extra_song": round(
                    (many["traced_peak"] - one["traced_peak"]) / max(args.songs - 1, 1), 2
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
