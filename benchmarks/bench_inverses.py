"""How well the registry's inverses undo each tool: no-op error vs oracle-inverse error.

Run: ``.venv/bin/python benchmarks/bench_inverses.py [--seconds 3] [--sample-rate 22050]``.
For every invertible tool over a grid of settings, distort stereo test audio, then
undo it with ``tool.inverse`` (the "oracle" a perfect model would write). Two errors
relative to the clean audio, in dB: waveform (error energy / signal energy) and
STFT magnitude (phase-blind, like the evaluation's multi-resolution STFT loss).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics

import numpy as np
import torch

from mixer_core.language.grammar import ToolCall, inverse_calls
from mixer_core.tools.mixing_tools import MixingTools

GRID: dict[str, dict[str, list[float]]] = {
    "change_volume": {"db": [-12.0, -3.0, 6.0, 24.0]},
    "apply_eq": {
        "low_gain": [-12.0, 6.0],
        "mid_gain": [-9.0, 9.0],
        "high_gain": [-6.0, 12.0],
        "mid_q": [0.71, 4.0],
    },
    "pan": {"position": [-1.0, -0.3, 0.5]},
    "stereo_width": {"width": [0.5, 0.8, 1.25, 2.0]},
    "high_pass": {"freq": [40.0, 100.0, 250.0, 500.0, 1000.0]},
    "low_pass": {"freq": [1000.0, 2000.0, 4000.0, 8000.0, 16000.0]},
    "compress": {
        "threshold_db": [-40.0, -24.0, -12.0],
        "ratio": [2.0, 4.0, 10.0],
        "attack_ms": [1.0, 30.0],
        "makeup_db": [0.0, 6.0],
    },
    "expand": {"threshold_db": [-30.0, -18.0], "ratio": [1.5, 3.0]},
}


def clean_audio(sample_rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Stereo tones from 82 Hz to 6.6 kHz under decaying noise bursts."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    out = np.zeros((2, n))
    for freq in (82.0, 220.0, 440.0, 1250.0, 3300.0, 6600.0):
        out += rng.uniform(0.02, 0.1, (2, 1)) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6))
    length = round(0.1 * sample_rate)
    for start in rng.uniform(0, seconds - 0.1, int(4 * seconds)):
        burst = rng.standard_normal((2, length)) * np.exp(-np.arange(length) / (0.02 * sample_rate))
        out[:, round(start * sample_rate) : round(start * sample_rate) + length] += 0.3 * burst
    return out.astype(np.float32)


def waveform_db(output: np.ndarray, reference: np.ndarray) -> float:
    error = np.sum((output.astype(np.float64) - reference) ** 2) / np.sum(
        reference.astype(np.float64) ** 2
    )
    return 10 * math.log10(error + 1e-30)


def spectral_db(output: np.ndarray, reference: np.ndarray) -> float:
    window = torch.hann_window(1024, dtype=torch.float64)

    def magnitude(x: np.ndarray) -> torch.Tensor:
        return torch.stft(
            torch.from_numpy(x).double(), 1024, 256, window=window, return_complex=True
        ).abs()

    ref = magnitude(reference)
    return 10 * math.log10(float((magnitude(output) - ref).pow(2).sum() / ref.pow(2).sum()) + 1e-30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--sample-rate", type=int, default=22050)
    args = parser.parse_args()
    sr = args.sample_rate
    clean = clean_audio(sr, args.seconds)
    tools = MixingTools()

    rows = []
    for name, axes in GRID.items():
        for values in itertools.product(*axes.values()):
            call = ToolCall(name, dict(zip(axes, values, strict=True)))
            inverse = inverse_calls(call)
            distorted = tools.apply(clean, sr, [call])
            restored = tools.apply(distorted, sr, inverse)
            rows.append(
                {
                    "call": str(call),
                    "tool": name,
                    "exact": call.tool.inverse_exact,
                    "noop_db": round(waveform_db(distorted, clean), 2),
                    "oracle_db": round(waveform_db(restored, clean), 2),
                    "noop_spectral_db": round(spectral_db(distorted, clean), 2),
                    "oracle_spectral_db": round(spectral_db(restored, clean), 2),
                }
            )

    summary = {}
    for name in GRID:
        mine = [r for r in rows if r["tool"] == name]
        summary[name] = {
            "exact": mine[0]["exact"],
            "settings": len(mine),
            **{
                f"median_{key}": round(statistics.median(r[key] for r in mine), 2)
                for key in ("noop_db", "oracle_db", "noop_spectral_db", "oracle_spectral_db")
            },
            "worst_oracle_db": max(r["oracle_db"] for r in mine),
            "oracle_helps_spectral": sum(
                r["oracle_spectral_db"] < r["noop_spectral_db"] for r in mine
            ),
        }
    print(
        json.dumps(
            {
                "audio": f"{args.seconds:g} s stereo {sr} Hz tones + noise bursts",
                "summary": summary,
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
