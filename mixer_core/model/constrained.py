"""Grammar-constrained generation: every output parses and every value is in range.

At each step the candidates are walked in descending score and the first whose text
is still a viable canonical prefix (``instructions.CanonicalPrefix``) is taken; EOS is
a candidate only once the text is a complete program. So validity does not depend on
the weights. With the domain tokenizer each token's text is precomputed; with a
pretrained tokenizer the whole id sequence is decoded, because merges and
leading-space markers make a token's text depend on its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from mixer_core.instructions import CanonicalPrefix
from mixer_core.model.decoder import Decoder


class TokenTexts:
    """What the text becomes when a token is appended, per tokenizer kind."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, eos_id: int, by_piece: bool) -> None:
        self.tokenizer = tokenizer
        self.eos_id = eos_id
        self.by_piece = by_piece
        special = set(tokenizer.all_special_ids)
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self.pieces: list[str | None] = [
            None if i in special else piece for i, piece in enumerate(pieces)
        ]

    def extend(self, ids: list[int], text: str, token: int) -> str | None:
        """The text after appending ``token``; ``None`` when the token adds no text."""
        if token >= len(self.pieces) or self.pieces[token] is None:
            return None
        if self.by_piece:
            return text + self.pieces[token]
        extended = self.tokenizer.decode([*ids, token], skip_special_tokens=True)
        return extended if extended != text else None

    def decode(self, ids: list[int]) -> str:
        if self.by_piece:
            return "".join(self.pieces[i] or "" for i in ids)
        return self.tokenizer.decode(ids, skip_special_tokens=True)


@dataclass
class _Beam:
    ids: list[int]
    text: str = ""
    done: bool = False


def _ranking(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None
) -> list[list[int]]:
    """Token ids per row, best first; with a temperature, a Gumbel-perturbed order.

    Walking a Gumbel-top-k order and keeping the first allowed token samples exactly
    from the softmax renormalised over the allowed tokens.
    """
    scores = logits.float().cpu()
    if temperature > 0:
        uniform = torch.rand(scores.shape, generator=generator).clamp(1e-12, 1 - 1e-7)
        scores = scores / temperature - torch.log(-torch.log(uniform))
    return torch.argsort(scores, dim=-1, descending=True).tolist()


def _step(beam: _Beam, order: list[int], vocab: TokenTexts) -> int | None:
    """The first allowed token in ``order`` (updating ``beam``); ``None`` if there is none."""
    complete = CanonicalPrefix.check(beam.text)[1]
    for token in order:
        if token == vocab.eos_id:
            if complete:
                beam.done = True
                return token
            continue
        extended = vocab.extend(beam.ids, beam.text, token)
        if extended is not None and CanonicalPrefix.check(extended)[0]:
            beam.ids.append(token)
            beam.text = extended
            return token
    return None


def _finish(beam: _Beam, vocab: TokenTexts) -> str:
    text = vocab.decode(beam.ids)
    viable, complete = CanonicalPrefix.check(text)
    return text if viable and complete else CanonicalPrefix.longest_complete(text)


@torch.no_grad()
def constrained_generate(
    decoder: Decoder,
    prefix: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[str]:
    """Programs for a batch of prefix embeddings (B, P, H); greedy unless ``temperature``.

    A program still open after ``max_new_tokens`` is cut back to its longest complete
    prefix, so the guarantee holds at any length limit.
    """
    batch = prefix.shape[0]
    vocab = TokenTexts(decoder.tokenizer, decoder.eos_id, by_piece=not decoder.is_pretrained)
    start = torch.full((batch, 1), decoder.start_id, dtype=torch.long, device=prefix.device)
    embeds = torch.cat([prefix, decoder.embed(start).to(prefix.dtype)], dim=1)
    out = decoder.model(inputs_embeds=embeds, use_cache=True)
    beams = [_Beam(ids=[]) for _ in range(batch)]
    for _ in range(max_new_tokens):
        orders = _ranking(out.logits[:, -1], temperature, generator)
        next_tokens = []
        for beam, order in zip(beams, orders, strict=True):
            token = None if beam.done else _step(beam, order, vocab)
            if token is None:
                beam.done = True
                token = decoder.pad_id
            next_tokens.append(token)
        if all(beam.done for beam in beams):
            break
        ids = torch.tensor(next_tokens, dtype=torch.long, device=prefix.device)[:, None]
        out = decoder.model(
            inputs_embeds=decoder.embed(ids).to(prefix.dtype),
            past_key_values=out.past_key_values,
            use_cache=True,
        )
    return [_finish(beam, vocab) for beam in beams]
