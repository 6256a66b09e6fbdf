"""Throughput and latency of the model served by ``mlflow models serve``; prints one JSON
object.

The server is the real ``mlflow models serve --env-manager local`` on a loopback port,
driven over HTTP by ``--concurrency`` client threads (``tests/serving.py``, shared with
the load test). Each request is one row: 1 s of stereo noise at the model's rate as a
``(channels, samples)`` array and a prompt. ``--warmup`` requests go first and are not
timed; then ``--requests`` are, for requests/s and p50/p95/p99 latency. An answer that
is not HTTP 200 with a program that parses is an error. The baseline, measured in the
same run on the same rows before the server starts and again after it stops (other load
on a shared machine drifts), is the model's predictor called in this process one row at
a time: what HTTP, JSON and the scoring server add, or what serving requests side by
side gains. Memory is the server's process-tree RSS at start, after warm-up and at
the end.

``--model`` takes a ``models:/`` URI (resolved at ``--tracking-uri``) or an MLflow model
folder; without it a tiny model is trained and registered in a temporary SQLite MLflow,
as the load test does.

    .venv/bin/python benchmarks/bench_serving.py
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mixer_core.language.grammar import format as format_program
from mixer_core.language.grammar import parse
from mixer_core.model import MixerPredictor
from pipelines.pyfunc import load_predictor, model_folder
from tests.serving import Answer, request_body, served_model
from tests.training_fixtures import registered_tiny_model

PROMPTS = ("make it louder", "less bass please", "brighter", "fix it", "turn it down by 3 dB")
MIB = 2**20


def _rows(count: int, rate: int) -> list[dict]:
    rows = []
    for index in range(count):
        audio = 0.1 * np.random.default_rng(index).standard_normal((2, rate)).astype(np.float32)
        rows.append({"prompt": PROMPTS[index % len(PROMPTS)], "audio": audio, "sample_rate": rate})
    return rows


def _latency_ms(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "p50": round(1000 * cuts[49], 2),
        "p95": round(1000 * cuts[94], 2),
        "p99": round(1000 * cuts[98], 2),
        "max": round(1000 * max(seconds), 2),
    }


def _predictor(model: str, tracking_uri: str | None) -> MixerPredictor:
    if Path(model).is_dir():
        return MixerPredictor.from_folder(model_folder(Path(model)))
    return load_predictor(model, tracking_uri)


def _in_process(predictor: MixerPredictor, rows: list[dict]) -> dict[str, Any]:
    """The baseline: the same rows through the predictor, one at a time, no server.

    In a worker thread, as the scoring server calls the model: torch in the main thread
    runs an OpenMP team of all cores, which on a loaded machine measured 5-10x slower
    than the same prediction in a thread, and the baseline would flatter the server.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_timed_predictions, predictor, rows).result()


def _timed_predictions(predictor: MixerPredictor, rows: list[dict]) -> dict[str, Any]:
    predictor.predict(rows[0]["audio"], rows[0]["sample_rate"], rows[0]["prompt"])  # warm-up
    seconds = []
    start = time.perf_counter()
    for row in rows:
        tick = time.perf_counter()
        format_program(predictor.predict(row["audio"], row["sample_rate"], row["prompt"]))
        seconds.append(time.perf_counter() - tick)
    return {
        "predictions_per_s": round(len(rows) / (time.perf_counter() - start), 2),
        "latency_ms": _latency_ms(seconds),
    }


def _valid_program(answer: Answer) -> bool:
    if answer.status != 200:
        return False
    try:
        (program,) = answer.json()["predictions"]
        parse(program)
    except (ValueError, KeyError, TypeError):  # InstructionError is a ValueError
        return False
    return True


def bench(args: argparse.Namespace, model: str, tracking_uri: str | None, work: Path) -> dict:
    predictor = _predictor(model, tracking_uri)
    rows = _rows(args.distinct, predictor.sample_rate)
    bodies = [request_body([rows[i % len(rows)]]) for i in range(args.warmup + args.requests)]
    baseline_rows = [rows[i % len(rows)] for i in range(args.baseline)]
    before = _in_process(predictor, baseline_rows)

    started = time.perf_counter()
    with served_model(model, work, tracking_uri) as server:
        startup_s = time.perf_counter() - started
        rss_start = server.tree_rss()
        server.post_all(bodies[: args.warmup], args.concurrency)
        rss_warm = server.tree_rss()
        start = time.perf_counter()
        answers = server.post_all(bodies[args.warmup :], args.concurrency)
        elapsed = time.perf_counter() - start
        rss_end = server.tree_rss()
        command = shlex.join(server.command)

    # measured again once the server is gone: other load on a shared machine drifts
    after = _in_process(predictor, baseline_rows)
    failed = [a for a in answers if not _valid_program(a)]
    requests_per_s = len(answers) / elapsed
    baseline_per_s = (before["predictions_per_s"] + after["predictions_per_s"]) / 2
    return {
        "server_command": command,
        "model": model,
        "requests": len(answers),
        "warmup_requests": args.warmup,
        "concurrency": args.concurrency,
        "errors": len(failed),
        "error_statuses": sorted({a.status for a in failed}),
        "startup_s": round(startup_s, 1),
        "requests_per_s": round(requests_per_s, 2),
        "latency_ms": _latency_ms([a.seconds for a in answers]),
        "request_body_kib": round(len(bodies[0]) / 1024, 1),
        "rss_mib": {
            "start": round(rss_start / MIB, 1),
            "after_warmup": round(rss_warm / MIB, 1),
            "end": round(rss_end / MIB, 1),
            "growth_after_warmup": round((rss_end - rss_warm) / MIB, 1),
        },
        "in_process_baseline": {"before": before, "after": after},
        "served_over_in_process_throughput": round(requests_per_s / baseline_per_s, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="models:/ URI or MLflow model folder (default: tiny)")
    parser.add_argument("--tracking-uri", help="where a models:/ URI is resolved")
    parser.add_argument("--requests", type=int, default=200, help="timed requests")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--distinct", type=int, default=10, help="different rows, cycled")
    parser.add_argument(
        "--baseline", type=int, default=30, help="in-process predictions, before and after"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mixer-bench-serving-") as tmp:
        work = Path(tmp)
        model, tracking_uri = args.model, args.tracking_uri
        if model is None:
            tracking, model = registered_tiny_model(work)
            tracking_uri = tracking.tracking_uri
        print(json.dumps(bench(args, model, tracking_uri, work), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
