"""MixingTools throughput (x real time) on a 5-call chain, next to pedalboard's.

Run: ``.venv/bin/python benchmarks/bench_mixing_tools.py [--device cuda] [--threads 1]``.
Prints one JSON object. pedalboard (an optional extra) is the baseline, timed in the
same run on the same audio; without it ``pedalboard_xrt`` is null. Also times the
batched path training uses (``apply_batch`` on 16 x 4 s, a program per example).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from mixer_core.language.grammar import parse
from mixer_core.tools.mixing_tools import MixingTools

SR = 44100
CHAIN = (
    "change_volume(db=-3.0) apply_eq(low_gain=2.0, mid_gain=-1.0, high_gain=1.5) "
    "compress(threshold_db=-18.0, ratio=3.0) apply_reverb() limit(threshold_db=-1.0)"
)


def noise_music(seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo 'music': a bass line with harmonics, drum-like noise hits and a noise floor."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    t = np.arange(n) / SR
    out = np.zeros((2, n))
    for beat in range(int(seconds * 2)):
        span = slice(beat * SR // 2, min(n, (beat + 1) * SR // 2))
        root = 55.0 * 2 ** (rng.integers(0, 12) / 12)
        for harmonic, level in ((1, 0.2), (2, 0.08), (3, 0.05), (5, 0.03)):
            out[:, span] += level * np.sin(2 * np.pi * root * harmonic * t[span])
        hit = rng.standard_normal((2, span.stop - span.start))
        out[:, span] += 0.3 * hit * np.exp(-np.arange(span.stop - span.start) / (0.04 * SR))
    out += 0.01 * rng.standard_normal((2, n))
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pedalboard_chain() -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        import pedalboard
    except ImportError:
        return None
    board = pedalboard.Pedalboard(
        [
            pedalboard.Gain(gain_db=-3.0),
            pedalboard.LowShelfFilter(cutoff_frequency_hz=200, gain_db=2.0, q=0.7071),
            pedalboard.PeakFilter(cutoff_frequency_hz=1000, gain_db=-1.0, q=0.71),
            pedalboard.HighShelfFilter(cutoff_frequency_hz=5000, gain_db=1.5, q=0.7071),
            pedalboard.Compressor(threshold_db=-18.0, ratio=3.0, attack_ms=10.0, release_ms=100.0),
            pedalboard.Reverb(room_size=0.5, damping=0.5, wet_level=0.33, dry_level=0.7),
            pedalboard.Limiter(threshold_db=-1.0, release_ms=50.0),
        ]
    )
    return lambda audio: board(audio, SR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    tools = MixingTools(args.device)
    audio = noise_music(args.seconds)

    def ours() -> np.ndarray:
        return tools.apply(audio, SR, CHAIN)

    def sync() -> None:
        if tools.device.type == "cuda":
            torch.cuda.synchronize()

    our_s = median_seconds(lambda: (ours(), sync()), args.runs)
    board = pedalboard_chain()
    board_s = median_seconds(lambda: board(audio), args.runs) if board else None

    batch_size, batch_seconds = 16, 4.0
    clips = np.stack([noise_music(batch_seconds, seed=i) for i in range(batch_size)])
    batch = torch.from_numpy(clips).to(tools.device)
    base = parse(CHAIN)
    programs = [
        [*base[:2], parse(f"compress(threshold_db={-30.0 + i:.1f}, ratio=3.0)")[0], *base[3:]]
        for i in range(batch_size)
    ]

    def batched() -> None:
        with torch.inference_mode():
            tools.apply_batch(batch, SR, programs)
        sync()

    batch_s = median_seconds(batched, args.runs)
    single_clip = clips[0]
    single_s = median_seconds(lambda: (tools.apply(single_clip, SR, CHAIN), sync()), args.runs)

    print(
        json.dumps(
            {
                "chain": CHAIN,
                "audio": f"{args.seconds:g} s stereo {SR} Hz",
                "device": str(tools.device),
                "torch_threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "machine": platform.machine(),
                "runs": args.runs,
                "our_seconds": round(our_s, 4),
                "our_xrt": round(args.seconds / our_s, 2),
                "pedalboard_seconds": round(board_s, 4) if board_s else None,
                "pedalboard_xrt": round(args.seconds / board_s, 2) if board_s else None,
                "ratio_our_over_pedalboard_xrt": round(board_s / our_s, 3) if board_s else None,
                "batch": f"{batch_size} x {batch_seconds:g} s, a program per example",
                "batch_seconds": round(batch_s, 4),
                "batch_xrt": round(batch_size * batch_seconds / batch_s, 2),
                "one_clip_of_batch_xrt": round(batch_seconds / single_s, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
