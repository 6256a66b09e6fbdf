"""Teacher-forcing tensors for a batch of target programs: decoder inputs and labels.

The decoder reads ``[lead (prefix positions)] [start] [target tokens] [EOS] [padding]``;
labels are ``IGNORE_INDEX`` everywhere but the target tokens and EOS, so the token loss
is the mean cross-entropy over them. With the value head, each value's own tokens are
ignored too (the head writes them), and the value targets are added.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mixer_core.model.decoder import Decoder
from mixer_core.model.value_head import value_targets

IGNORE_INDEX = -100


def target_tensors(
    decoder: Decoder,
    targets: Sequence[str],
    prefix: int,
    device: torch.device,
    max_target_tokens: int,
    prompts: Sequence[str] | None,
) -> dict[str, torch.Tensor]:
    """Decoder inputs and labels; ``prefix`` = the memory + prefix positions before them.

    With ``prompts`` (the texts the model reads; the value head is on), the value targets
    and the pointer's answers too."""
    encoded, offsets = decoder.encode_targets(targets, max_target_tokens)
    length = 1 + max(len(ids) for ids in encoded) + 1
    input_ids = torch.full((len(encoded), length), decoder.pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), length), dtype=torch.long)
    labels = torch.full((len(encoded), prefix + length), IGNORE_INDEX, dtype=torch.long)
    for row, ids in enumerate(encoded):
        sequence = [decoder.start_id, *ids, decoder.eos_id]
        input_ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = 1
        labels[row, prefix + 1 : prefix + len(sequence)] = torch.tensor(sequence[1:])
    tensors = {
        "decoder_input_ids": input_ids.to(device),
        "decoder_attention_mask": mask.to(device),
    }
    if prompts is not None:
        values = value_targets(targets, offsets, prefix, prompts)
        for (row, position), count in zip(values.positions.tolist(), values.lengths, strict=True):
            labels[row, position + 1 : position + 1 + count] = IGNORE_INDEX
        tensors.update(values.tensors(device))
    tensors["labels"] = labels.to(device)
    return tensors
