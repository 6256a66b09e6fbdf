"""Evaluation metrics: spectral distance, recovery, and how close a program is to its target.

The primary distance is auraloss's ``MultiResolutionSTFTLoss`` with its own defaults
(docs/evaluation.md), called rather than re-implemented so figures compare with other
work that reports it. auraloss reduces spectral convergence over everything it is
given (one Frobenius norm across the batch), so a batch would blur examples together:
every distance here is computed one example at a time.

Recovery says how much of the damage a program undid: ``1 - d(output)/d(no-op)``.
It is reported pooled and as a median, never as a per-example mean, because small
distortions have a tiny ``d(no-op)`` and one of them can swing a mean arbitrarily.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import auraloss
import numpy as np
import torch

from mixer_core.audio.loudness import integrated_lufs
from mixer_core.language import grammar
from mixer_core.language.grammar import InstructionError, ToolCall
from mixer_core.language.registry import REGISTRY
from mixer_core.language.stated import accepts, fit_value, read_numbers, slot_value

AudioLike = np.ndarray | torch.Tensor

# auraloss 0.4.0's defaults, restated so a change in auraloss shows up in the tests.
MRSTFT_FFT_SIZES = (1024, 2048, 512)
MRSTFT_HOP_SIZES = (120, 240, 50)
MRSTFT_WIN_LENGTHS = (600, 1200, 240)


# The one distance behind every figure: auraloss's defaults, on the CPU.
MRSTFT = auraloss.freq.MultiResolutionSTFTLoss()


def _as_tensor(audio: AudioLike, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(audio) if not isinstance(audio, torch.Tensor) else audio)
    if tensor.ndim == 1:
        tensor = tensor[None, :]
    if tensor.ndim != 2:
        raise ValueError(f"{what} must be (channels, samples), got shape {tuple(tensor.shape)}")
    return tensor.detach().to("cpu", torch.float32)


def mrstft_distance(estimate: AudioLike, reference: AudioLike) -> float:
    """MR-STFT distance of ``estimate`` from ``reference``, both ``(channels, samples)``.

    Not symmetric: spectral convergence is normalised by the reference's magnitude.
    """
    x = _as_tensor(estimate, "estimate")
    y = _as_tensor(reference, "reference")
    if x.shape != y.shape:
        raise ValueError(
            f"mrstft_distance: estimate {tuple(x.shape)} and reference {tuple(y.shape)} differ"
        )
    with torch.no_grad():
        return float(MRSTFT(x[None], y[None]))


def mrstft_distances(
    estimates: Sequence[AudioLike] | torch.Tensor, references: Sequence[AudioLike] | torch.Tensor
) -> list[float]:
    """One :func:`mrstft_distance` per pair; a ``(B, C, T)`` tensor counts as B pairs."""
    if len(estimates) != len(references):
        raise ValueError(
            f"mrstft_distances: {len(estimates)} estimates but {len(references)} references"
        )
    return [mrstft_distance(x, y) for x, y in zip(estimates, references, strict=True)]


def recovery_pooled(d_model: Sequence[float], d_noop: Sequence[float]) -> float:
    """``1 - Σ d_model / Σ d_noop``; NaN when the set is empty or Σ d_noop is 0."""
    model, noop = _pairs(d_model, d_noop)
    total = float(noop.sum())
    return 1.0 - float(model.sum()) / total if total > 0 else math.nan


def recovery_pooled_interval(
    d_model: Sequence[float],
    d_noop: Sequence[float],
    clusters: Sequence[str] | None = None,
    confidence: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of :func:`recovery_pooled`.

    A family with a dozen test recipes moves by tenths between runs; the interval says
    how much of a difference between two figures the set can carry. The recipes of one
    song are not independent (a hard song is hard for all of them), so with
    ``clusters`` (each example's song) whole songs are resampled with replacement, each
    keeping its recipes together; without, the examples. A fixed ``seed`` makes a report
    reproducible; NaN bounds when the set is empty or Σ d_noop is 0.
    """
    model, noop = _pairs(d_model, d_noop)
    return _bootstrap(noop, noop - model, clusters, confidence, draws, seed)


def recovery_lead_interval(
    d_model: Sequence[float],
    d_other: Sequence[float],
    d_noop: Sequence[float],
    clusters: Sequence[str] | None = None,
    confidence: float = 0.95,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Paired bootstrap of ``recovery_pooled(model) - recovery_pooled(other)``.

    Both predictors ran on the same examples, so resampling them together keeps what they
    share out of the interval: a lead whose interval excludes 0 is one the test set
    supports. With ``clusters``, whole songs are resampled (as
    :func:`recovery_pooled_interval`).
    """
    model, noop = _pairs(d_model, d_noop)
    other, _ = _pairs(d_other, d_noop)
    return _bootstrap(noop, other - model, clusters, confidence, draws, seed)


def _bootstrap(
    noop: np.ndarray,
    gain: np.ndarray,
    clusters: Sequence[str] | None,
    confidence: float,
    draws: int,
    seed: int,
) -> tuple[float, float]:
    """Interval of ``Σ gain / Σ noop`` over resamples of examples or of their clusters."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"recovery interval: confidence must be in (0, 1), got {confidence}")
    if noop.size == 0 or noop.sum() <= 0:
        return math.nan, math.nan
    if clusters is not None:
        keys = np.asarray(list(clusters))
        if keys.shape != noop.shape:
            raise ValueError(f"recovery interval: {keys.size} clusters for {noop.size} examples")
        _, index = np.unique(keys, return_inverse=True)
        noop = np.bincount(index, weights=noop)
        gain = np.bincount(index, weights=gain)
    picks = np.random.default_rng(seed).integers(0, noop.size, size=(draws, noop.size))
    noop_sums = noop[picks].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = np.where(noop_sums > 0, gain[picks].sum(axis=1) / noop_sums, np.nan)
    tail = 50.0 * (1.0 - confidence)
    low, high = np.nanpercentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def recovery_median(d_model: Sequence[float], d_noop: Sequence[float]) -> float:
    """Median of per-example ``1 - d_model/d_noop``.

    Examples with ``d_noop == 0`` (input already equal to the reference, e.g. an empty
    chain) are skipped: their ratio is undefined. NaN when no example is left.
    """
    model, noop = _pairs(d_model, d_noop)
    keep = noop > 0
    if not keep.any():
        return math.nan
    return float(np.median(1.0 - model[keep] / noop[keep]))


def _pairs(d_model: Sequence[float], d_noop: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    model = np.asarray(d_model, dtype=np.float64)
    noop = np.asarray(d_noop, dtype=np.float64)
    if model.shape != noop.shape or model.ndim != 1:
        raise ValueError(
            f"recovery: d_model {model.shape} and d_noop {noop.shape} must be equal-length lists"
        )
    return model, noop


def tool_set_f1(predicted: Sequence[ToolCall], target: Sequence[ToolCall]) -> float:
    """F1 between the sets of tool names; two empty programs agree perfectly (1.0)."""
    p = {call.name for call in predicted}
    t = {call.name for call in target}
    if not p and not t:
        return 1.0
    hits = len(p & t)
    return 2.0 * hits / (len(p) + len(t))


def parameter_errors(predicted: Sequence[ToolCall], target: Sequence[ToolCall]) -> dict[str, float]:
    """Absolute error of every resolved parameter of the tools both programs use.

    Keys are ``"tool.param"``. Values are resolved, so an omitted argument counts as
    its default. When a tool occurs more than once (a compressor's inverse brings its
    own ``change_volume``), the k-th occurrence in ``predicted`` is compared with the
    k-th in ``target``, and keys after the first pair get ``"#k"`` (``change_volume#1.db``).
    """
    by_tool: dict[str, list[ToolCall]] = defaultdict(list)
    for call in target:
        by_tool[call.name].append(call)
    seen: dict[str, int] = defaultdict(int)
    errors: dict[str, float] = {}
    for call in predicted:
        k = seen[call.name]
        seen[call.name] += 1
        if k >= len(by_tool[call.name]):
            continue
        expected = by_tool[call.name][k].resolved()
        label = call.name if k == 0 else f"{call.name}#{k}"
        for name, value in call.resolved().items():
            errors[f"{label}.{name}"] = abs(float(value) - float(expected[name]))
    return errors


def parameter_unit(key: str) -> str:
    """The unit of a :func:`parameter_errors` key, e.g. ``"dB"`` for ``apply_eq.low_gain``."""
    label, name = key.rsplit(".", 1)
    param = REGISTRY[label.split("#", 1)[0]].param(name)
    if param is None:
        raise KeyError(f"{key}: no such parameter in the registry")
    return param.unit


def lufs_error(output: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Absolute integrated-loudness difference in LU (BS.1770, via pyloudnorm)."""
    return abs(integrated_lufs(output, sample_rate) - integrated_lufs(reference, sample_rate))


def read_prediction(prediction: str | Sequence[ToolCall]) -> tuple[list[ToolCall] | None, str]:
    """``(calls, text)`` for a model's text or a baseline's calls; calls is None if invalid.

    Valid means the program parses and every tool, parameter and value is in the
    registry and in range. Calls are checked by the same parser via their text, so
    text and calls are judged alike.
    """
    if isinstance(prediction, str):
        text = prediction
    else:
        try:
            text = grammar.format(prediction)
        except KeyError:
            names = ", ".join(str(getattr(call, "name", call)) for call in prediction)
            return None, f"<unknown tool among: {names}>"
    try:
        return grammar.parse(text), text
    except InstructionError:
        return None, text


def valid_call_rate(predictions: Sequence[str | Sequence[ToolCall]]) -> float:
    """Share of predictions that parse and are in range; NaN for no predictions."""
    if not predictions:
        return math.nan
    return sum(read_prediction(p)[0] is not None for p in predictions) / len(predictions)


def tools_in_order(predicted: Sequence[ToolCall], target: Sequence[ToolCall]) -> bool:
    """Whether the program names exactly the target's tools, in the target's order."""
    return [c.name for c in predicted] == [c.name for c in target]


def stated_values(
    prompt: str, predicted: Sequence[ToolCall], target: Sequence[ToolCall]
) -> tuple[int, int]:
    """(values of ``target`` that ``prompt`` states, how many of them ``predicted`` wrote
    exactly). A target value is stated when a number of the prompt reads as it
    (``language.stated``); it is written exactly when a call of the same tool in the
    prediction has that parameter at that value."""
    numbers = read_numbers(prompt)
    stated = exact = 0
    for call in target:
        for name, value in call.args.items():
            param = call.tool.param(name)
            assert param is not None
            readings = {
                fit_value(slot_value(n, param), param)[0] for n in numbers if accepts(param, n.kind)
            }
            if value not in readings:
                continue
            stated += 1
            exact += any(c.name == call.name and c.args.get(name) == value for c in predicted)
    return stated, exact
