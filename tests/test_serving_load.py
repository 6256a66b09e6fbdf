"""The registered model served by ``mlflow models serve`` on loopback, under load and
given bad requests.

A tiny model is trained a few steps and registered in a SQLite MLflow; the real
``mlflow models serve -m models:/mixer@challenger --env-manager local`` serves it from
the registry, and this test is its client over HTTP. Speed is not asserted here
(``benchmarks/bench_serving.py`` prints it); errors, answers and memory are.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mixer_core.language.grammar import format as format_program
from mixer_core.language.grammar import parse
from pipelines.pyfunc import load_predictor
from tests.serving import ModelServer, request_body, served_model
from tests.test_model import RATE
from tests.training_fixtures import registered_tiny_model

pytestmark = pytest.mark.slow

REQUESTS = 200
WARMUP = 20
CONCURRENCY = 4
DISTINCT = 10  # requests differ in audio and prompt; each is sent REQUESTS / DISTINCT times
PROMPTS = ("make it louder", "less bass please", "brighter", "fix it", "turn it down by 3 dB")
# A request's audio (1 s of stereo at 8 kHz) decodes to 16,000 Python floats, about
# 0.5 MiB, plus its 0.3 MiB body: a server that kept any request's input would grow by
# over 100 MiB in the 180 requests after warm-up. Allocator arenas and caches settle
# during the warm-up; what moves after it stays within a few MiB.
RSS_GROWTH_BOUND = 50 * 2**20


def record(index: int) -> dict:
    """The ``index``-th distinct request row: its own noise and one of the prompts."""
    audio = 0.1 * np.random.default_rng(index).standard_normal((2, RATE)).astype(np.float32)
    return {"prompt": PROMPTS[index % len(PROMPTS)], "audio": audio, "sample_rate": RATE}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("serving")
    tracking, uri = registered_tiny_model(root)
    with served_model(uri, root, tracking.tracking_uri) as server:
        yield server, uri, tracking.tracking_uri


def _program(server: ModelServer, body: bytes) -> str:
    answer = server.post(body)
    assert answer.status == 200, answer.body[:2000]
    (program,) = answer.json()["predictions"]
    return program


@pytest.mark.reliability(
    case="200 requests to the model served by `mlflow models serve`, 4 at a time",
    outcome="every answer HTTP 200 with the model's program; server memory flat after warm-up",
)
def test_served_model_takes_200_requests_without_errors_or_memory_growth(served) -> None:
    server, uri, tracking_uri = served
    records = [record(i) for i in range(DISTINCT)]
    predictor = load_predictor(uri, tracking_uri)

    def program_of(row: dict) -> str:
        return format_program(predictor.predict(row["audio"], row["sample_rate"], row["prompt"]))

    # in a worker thread, as the scoring server calls the model (torch's main thread
    # runs its own OpenMP team): the same kernels, so the same programs to the digit
    with ThreadPoolExecutor(max_workers=1) as pool:
        expected = list(pool.map(program_of, records))
    bodies = [request_body([records[i % DISTINCT]]) for i in range(REQUESTS)]

    answers = server.post_all(bodies[:WARMUP], CONCURRENCY)
    after_warmup = server.tree_rss()
    answers += server.post_all(bodies[WARMUP:], CONCURRENCY)
    at_end = server.tree_rss()

    assert len(answers) == REQUESTS
    for index, answer in enumerate(answers):
        assert answer.status == 200, f"request {index}: {answer.body[:2000]!r}"
        (program,) = answer.json()["predictions"]
        parse(program)
        # the same answer as the model in this process: no request saw another's input
        assert program == expected[index % DISTINCT], f"request {index}"
    growth = at_end - after_warmup
    assert growth < RSS_GROWTH_BOUND, (
        f"server RSS grew {growth / 2**20:.1f} MiB over {REQUESTS - WARMUP} requests "
        f"({after_warmup / 2**20:.0f} -> {at_end / 2**20:.0f} MiB)"
    )
    assert "Traceback" not in server.log.read_text(errors="replace")


def _bad_requests(missing: Path) -> dict[str, tuple[bytes, str]]:
    """Request bodies a client gets wrong, with what the answer's message must say."""
    good = record(0)
    audio = good["audio"]
    nan_audio = audio.copy()
    nan_audio[1, 100] = np.nan
    return {
        "not JSON": (b'{"dataframe_records": [', "valid JSON"),
        "no known payload key": (b'{"rows": []}', "dataframe_records"),
        "no prompt column": (
            request_body([{"audio": audio, "sample_rate": RATE}]),
            "needs a 'prompt' column",
        ),
        "second row without prompt": (
            request_body([good, {"audio": audio, "sample_rate": RATE}]),
            "row 1: 'prompt' is missing",
        ),
        "audio is text": (
            request_body([{"prompt": "x", "audio": "loud", "sample_rate": RATE}]),
            "row 0: 'audio' must be a (channels, samples) array of numbers",
        ),
        "NaN sample": (
            request_body([{**good, "audio": nan_audio}]),
            "row 0: 'audio' contains NaN or infinite samples",
        ),
        "3-D audio": (
            request_body([{**good, "audio": audio[None]}]),
            "row 0: audio must be (channels, samples)",
        ),
        "sample rate 0": (
            request_body([{**good, "sample_rate": 0}]),
            "row 0: 'sample_rate' must be a positive whole number of Hz, got 0",
        ),
        "no audio": (
            request_body([{"prompt": "x"}]),
            "row 0: needs 'audio_path', or 'audio' and 'sample_rate'",
        ),
        "audio file missing": (
            request_body([{"prompt": "x", "audio_path": str(missing)}]),
            f"row 0: audio_path {missing}: no such file",
        ),
    }


@pytest.mark.reliability(
    case="bad requests to the served model (one test, each tried): not JSON, no payload key, "
    "no prompt, audio that is text, NaN or 3-D, sample rate 0, no audio, a missing audio file",
    outcome="HTTP 400 whose message names the row and the problem, no traceback; "
    "the server answers the next good request",
)
def test_bad_requests_get_400_naming_the_problem(served, tmp_path: Path) -> None:
    server, _, _ = served
    good = request_body([record(0)])
    for name, (body, says) in _bad_requests(tmp_path / "no such song.wav").items():
        answer = server.post(body)
        assert 400 <= answer.status < 500, f"{name}: HTTP {answer.status}"
        error = answer.json()
        assert says in error["message"], f"{name}: {error['message'][:2000]}"
        assert "stack_trace" not in error and b"Traceback" not in answer.body, name
        parse(_program(server, good))
