"""A prompt's stated numbers, encoded by value (xVal-style) beside the text encoder's tokens.

An instruct prompt states its change with exact numbers ("turn it down by 3.5 dB"), but
a BERT-family encoder sees ``3``, ``.``, ``5`` as three word pieces whose embeddings carry
little of the magnitude. Following xVal (Golkar et al., 2023), every token that overlaps a
stated number (``language.stated.read_numbers``: the number with its unit and sign) gets
that number's features, and the index of the number, so the value head can point at a
number (and then write it exactly) rather than decode digits.

Features per token (``FEATURES``): ``is_number``; ``linear`` = the signed value clipped to
±100 and divided by 10 (a dB, a ratio or a width read off directly); ``log`` = log10 of
the magnitude (floored at 0.01) halved (Hz and ms, whose scale spans decades); ``sign``
(-1, 0, +1, as the words give it); and the number's kind one-hot (``KINDS``: dB, Hz, ms,
ratio, fraction, plain), which tells a slot which numbers can be its value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from mixer_core.language.stated import KINDS, StatedNumber, read_numbers

FEATURES = ("is_number", "linear", "log", "sign", *(f"kind_{kind}" for kind in KINDS))
KIND_OFFSET = FEATURES.index(f"kind_{KINDS[0]}")
_LINEAR_CLIP = 100.0
_LINEAR_SCALE = 10.0
_LOG_FLOOR = 0.01
_LOG_SCALE = 2.0


def number_features(number: StatedNumber) -> tuple[float, ...]:
    signed = number.signed
    linear = max(-_LINEAR_CLIP, min(_LINEAR_CLIP, signed)) / _LINEAR_SCALE
    log = math.log10(max(abs(number.value), _LOG_FLOOR)) / _LOG_SCALE
    kind = tuple(1.0 if number.kind == k else 0.0 for k in KINDS)
    return (1.0, linear, log, float(number.sign), *kind)


def token_number_features(
    texts: Sequence[str], offsets: torch.Tensor | Sequence[Sequence[tuple[int, int]]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features (B, L, len(FEATURES)), index (B, L))`` for tokenised ``texts``.

    ``index`` is the number's position in ``read_numbers(text)`` for tokens of a number,
    -1 elsewhere. ``offsets`` are the tokenizer's character offsets
    (``return_offsets_mapping``); special and padding tokens have empty spans and never
    match a number.
    """
    offsets = torch.as_tensor(offsets, dtype=torch.long)
    features = torch.zeros((*offsets.shape[:2], len(FEATURES)), dtype=torch.float32)
    index = torch.full(offsets.shape[:2], -1, dtype=torch.long)
    for row, text in enumerate(texts):
        starts, ends = offsets[row, :, 0], offsets[row, :, 1]
        for j, number in enumerate(read_numbers(text)):
            overlap = (ends > starts) & (starts < number.end) & (ends > number.start)
            features[row, overlap] = torch.tensor(number_features(number))
            index[row, overlap] = j
    return features, index
