"""Evaluation metrics: spectral distance, recovery, and how close a program is to its target.

The primary distance is auraloss's ``MultiResolutionSTFTLoss`` with its own defaults
(docs/evaluation.md), so figures compare with other work that reports it. An evaluation
compares every reference with many outputs (no-op, each predictor; each shrinkage the
heuristic tries), and auraloss transforms both sides every time (and computes a phase it
does not use), so :class:`SpectralReference` keeps a reference's magnitude spectra and
transforms only the estimates, several per call. It computes auraloss's formula with the
same tensor operations in the same order, example by example (auraloss reduces spectral
convergence over a whole batch, which would blur examples together); the tests hold it
to auraloss itself.

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
from torch.nn import functional as F

from mixer_core.language import grammar
from mixer_core.language.grammar import InstructionError, ToolCall
from mixer_core.language.registry import REGISTRY
from mixer_core.language.stated import accepts, fit_value, read_numbers, slot_value

AudioLike = np.ndarray | torch.Tensor

# auraloss 0.4.0's defaults, restated so a change in auraloss shows up in the tests.
MRSTFT_FFT_SIZES = (1024, 2048, 512)
MRSTFT_HOP_SIZES = (120, 240, 50)
MRSTFT_WIN_LENGTHS = (600, 1200, 240)


# The definition every figure follows: auraloss's defaults, on the CPU.
MRSTFT = auraloss.freq.MultiResolutionSTFTLoss()
_EPS = 1e-8  # auraloss's magnitude floor
_WINDOWS = {win: torch.hann_window(win) for win in MRSTFT_WIN_LENGTHS}


def _as_tensor(audio: AudioLike, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(audio) if not isinstance(audio, torch.Tensor) else audio)
    if tensor.ndim == 1:
        tensor = tensor[None, :]
    if tensor.ndim != 2:
        raise ValueError(f"{what} must be (channels, samples), got shape {tuple(tensor.shape)}")
    return tensor.detach().to("cpu", torch.float32)


def _magnitudes(audio: torch.Tensor) -> list[torch.Tensor]:
    """``(..., T)`` -> per resolution ``(..., F, frames)``: auraloss's STFT magnitude."""
    flat = audio.reshape(-1, audio.shape[-1])
    spectra = []
    for fft, hop, win in zip(MRSTFT_FFT_SIZES, MRSTFT_HOP_SIZES, MRSTFT_WIN_LENGTHS, strict=True):
        stft = torch.stft(flat, fft, hop, win, _WINDOWS[win], return_complex=True)
        magnitude = torch.sqrt(torch.clamp((stft.real**2) + (stft.imag**2), min=_EPS))
        spectra.append(magnitude.reshape(*audio.shape[:-1], *magnitude.shape[-2:]))
    return spectra


class SpectralReference:
    """A reference's MR-STFT magnitudes, kept to measure many estimates against it.

    ``distance(x)`` equals auraloss's ``MultiResolutionSTFTLoss()(x[None], ref[None])``:
    per resolution, spectral convergence plus the mean absolute log-magnitude
    difference, averaged over the resolutions. Not symmetric: spectral convergence is
    normalised by the reference's magnitude.
    """

    def __init__(self, reference: AudioLike) -> None:
        self.audio = _as_tensor(reference, "reference")
        with torch.no_grad():
            self._spectra = _magnitudes(self.audio)
            self._logs = [torch.log(y) for y in self._spectra]
            self._norms = [torch.norm(y, p="fro") for y in self._spectra]

    def distance(self, estimate: AudioLike) -> float:
        return self.distances([estimate])[0]

    def distances(self, estimates: Sequence[AudioLike]) -> list[float]:
        """One distance per estimate, their spectra computed in one batch."""
        if not len(estimates):
            return []
        tensors = [_as_tensor(x, "estimate") for x in estimates]
        for tensor in tensors:
            if tensor.shape != self.audio.shape:
                raise ValueError(
                    f"mrstft_distance: estimate {tuple(tensor.shape)} and reference "
                    f"{tuple(self.audio.shape)} differ"
                )
        batch = torch.stack(tensors)
        with torch.no_grad():
            spectra = _magnitudes(batch)
            result = []
            for index in range(batch.shape[0]):
                total = 0.0
                for x_all, y, log_y, norm_y in zip(
                    spectra, self._spectra, self._logs, self._norms, strict=True
                ):
                    x = x_all[index]
                    convergence = torch.norm(y - x, p="fro") / norm_y
                    total += convergence + F.l1_loss(torch.log(x), log_y)
                result.append(float(total / len(spectra)))
        return result


def mrstft_distance(estimate: AudioLike, reference: AudioLike) -> float:
    """MR-STFT distance of ``estimate`` from ``reference``, both ``(channels, samples)``
    (auraloss's defaults; see :class:`SpectralReference`)."""
    return SpectralReference(reference).distance(estimate)


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
