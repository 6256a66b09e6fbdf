"""Numbers in a prompt, encoded by value (xVal-style) beside the text encoder's tokens.

An instruct prompt states its change with exact numbers ("turn it down by 3.5 dB"),
but a BERT-family encoder sees ``3``, ``.``, ``5`` as three word pieces whose
embeddings carry little of the magnitude. Following xVal (Golkar et al., 2023), each
number is also given to the model as its value: every token that overlaps a number's
characters gets the number's features, so a value slot can attend to the number and
read its magnitude linearly instead of decoding digits.

Features per token (``FEATURES``): ``is_number``; ``linear`` = the value clipped to
±100 and divided by 10 (units a dB, a ratio or a width read off directly);
``log`` = log10 of the magnitude (floored at 0.01) halved (Hz and ms, whose scale
spans decades). A sign written directly before the digits belongs to the number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

FEATURES = ("is_number", "linear", "log")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_LINEAR_CLIP = 100.0
_LINEAR_SCALE = 10.0
_LOG_FLOOR = 0.01
_LOG_SCALE = 2.0


def number_spans(text: str) -> list[tuple[int, int, float]]:
    """``(start, end, value)`` character spans of the plain decimal numbers in ``text``."""
    return [(m.start(), m.end(), float(m.group())) for m in _NUMBER.finditer(text)]


def number_features(value: float) -> tuple[float, float, float]:
    linear = max(-_LINEAR_CLIP, min(_LINEAR_CLIP, value)) / _LINEAR_SCALE
    log = math.log10(max(abs(value), _LOG_FLOOR)) / _LOG_SCALE
    return 1.0, linear, log


def token_number_features(
    texts: Sequence[str], offsets: torch.Tensor | Sequence[Sequence[tuple[int, int]]]
) -> torch.Tensor:
    """``(batch, tokens, len(FEATURES))``: each token's number features, zero elsewhere.

    ``offsets`` are the tokenizer's character offsets (``return_offsets_mapping``);
    special and padding tokens have empty spans and never match a number.
    """
    offsets = torch.as_tensor(offsets, dtype=torch.long)
    out = torch.zeros((*offsets.shape[:2], len(FEATURES)), dtype=torch.float32)
    for row, text in enumerate(texts):
        starts, ends = offsets[row, :, 0], offsets[row, :, 1]
        for start, end, value in number_spans(text):
            overlap = (ends > starts) & (starts < end) & (ends > start)
            out[row, overlap] = torch.tensor(number_features(value))
    return out
