"""Grammar-constrained generation: every output parses and every value is in range.

At each step the candidates are walked in descending score and the first whose text
is still a viable canonical prefix (``prefix.CanonicalPrefix``) is taken; EOS is
a candidate only once the text is a complete program. So validity does not depend on
the weights. With the domain tokenizer each token's text is precomputed; with a
pretrained tokenizer the whole id sequence is decoded, because merges and
leading-space markers make a token's text depend on its neighbours.

With a :data:`ValueWriter` (the value head), a text that ends where a value starts
(``prefix.open_value``) gets the writer's value: its tokens are fed one per
step as if the decoder had chosen them. The writer returns canonical grid values, so
validity still holds; should a tokenizer not reproduce the value's text exactly, the
beam falls back to choosing the digits itself.

An optional :data:`TextFilter` can refuse texts the grammar allows (the caller's policy,
e.g. no tool twice in an instruction): a refused token is passed over like an invalid
one, so the decoder takes its next-best allowed choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from transformers import PreTrainedTokenizerBase

from mixer_core.language.prefix import CanonicalPrefix, open_value
from mixer_core.model.decoder import Decoder
from mixer_core.model.slots import SLOT_INDEX

# (hidden states (n, H) at the open values, their batch rows, their value slots, the
# texts written so far) -> the values' texts
ValueWriter = Callable[[torch.Tensor, list[int], list[int], list[str]], list[str]]
# (batch row, the text a candidate token would make) -> whether the text may be written
TextFilter = Callable[[int, str], bool]


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
    forced: list[int] = field(default_factory=list)


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


def _any_text(text: str) -> bool:
    return True


def _step(
    beam: _Beam, order: list[int], vocab: TokenTexts, allowed: Callable[[str], bool] = _any_text
) -> int | None:
    """The first allowed token in ``order`` (updating ``beam``); ``None`` if there is none."""
    complete = CanonicalPrefix.check(beam.text)[1]
    for token in order:
        if token == vocab.eos_id:
            if complete:
                beam.done = True
                return token
            continue
        extended = vocab.extend(beam.ids, beam.text, token)
        if extended is not None and CanonicalPrefix.check(extended)[0] and allowed(extended):
            beam.ids.append(token)
            beam.text = extended
            return token
    return None


def _force(beam: _Beam, value: str, vocab: TokenTexts) -> None:
    """Queue the tokens that write ``value`` next, if they reproduce it exactly.

    They are the tokens the whole text gets after the beam's own, which is how the
    training targets were tokenized: a tokenizer that marks the start of a text (a
    SentencePiece ``▁``) spells a value on its own differently from one after ``=``.
    Only when the beam's tokens are not how the tokenizer splits its text is the value
    tokenized on its own.
    """
    whole = vocab.tokenizer(beam.text + value, add_special_tokens=False)["input_ids"]
    if whole[: len(beam.ids)] == beam.ids and len(whole) > len(beam.ids):
        ids = whole[len(beam.ids) :]
    else:
        ids = vocab.tokenizer(value, add_special_tokens=False)["input_ids"]
    reproduced = bool(ids) and vocab.decode([*beam.ids, *ids]) == beam.text + value
    if reproduced and CanonicalPrefix.check(beam.text + value)[0]:
        beam.forced = list(ids)


def _take_forced(beam: _Beam, vocab: TokenTexts) -> int:
    token = beam.forced.pop(0)
    beam.ids.append(token)
    beam.text = vocab.decode(beam.ids)
    return token


def _write_values(
    beams: list[_Beam], hidden: torch.Tensor, values: ValueWriter, vocab: TokenTexts
) -> None:
    """Ask the writer for every beam that stands at an open value, in one batch."""
    rows, slots = [], []
    for row, beam in enumerate(beams):
        if beam.done or beam.forced:
            continue
        opened = open_value(beam.text)
        if opened is not None and opened in SLOT_INDEX:
            rows.append(row)
            slots.append(SLOT_INDEX[opened])
    if rows:
        texts = values(hidden[rows], rows, slots, [beams[row].text for row in rows])
        for row, text in zip(rows, texts, strict=True):
            _force(beams[row], text, vocab)


def _finish(beam: _Beam, vocab: TokenTexts) -> str:
    text = vocab.decode(beam.ids)
    viable, complete = CanonicalPrefix.check(text)
    return text if viable and complete else CanonicalPrefix.longest_complete(text)


@torch.no_grad()
def constrained_generate(
    decoder: Decoder,
    lead: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    values: ValueWriter | None = None,
    lead_mask: torch.Tensor | None = None,
    text_filter: TextFilter | None = None,
) -> list[str]:
    """Programs after the lead embeddings (B, P, H); greedy unless ``temperature``.

    ``lead_mask`` (B, P) marks padding in the lead (0); none means all of it is real.
    ``text_filter`` refuses texts per row on top of the grammar.
    A program still open after ``max_new_tokens`` is cut back to its longest complete
    prefix, so the guarantee holds at any length limit.
    """
    batch = lead.shape[0]
    vocab = TokenTexts(decoder.tokenizer, decoder.eos_id, by_piece=not decoder.is_pretrained)
    start = torch.full((batch, 1), decoder.start_id, dtype=torch.long, device=lead.device)
    embeds = torch.cat([lead, decoder.embed(start).to(lead.dtype)], dim=1)
    if lead_mask is None:
        lead_mask = torch.ones(lead.shape[:2], dtype=torch.long, device=lead.device)
    mask = torch.cat([lead_mask.long(), torch.ones_like(start)], dim=1)
    hidden = values is not None
    out = decoder.model(
        inputs_embeds=embeds, attention_mask=mask, use_cache=True, output_hidden_states=hidden
    )
    beams = [_Beam(ids=[]) for _ in range(batch)]
    for _ in range(max_new_tokens):
        if values is not None:
            _write_values(beams, out.hidden_states[-1][:, -1], values, vocab)
        orders = _ranking(out.logits[:, -1], temperature, generator)
        next_tokens = []
        for row, (beam, order) in enumerate(zip(beams, orders, strict=True)):
            if beam.done:
                token = None
            elif beam.forced:
                token = _take_forced(beam, vocab)
            else:
                allowed = _any_text if text_filter is None else partial(text_filter, row)
                token = _step(beam, order, vocab, allowed)
            if token is None:
                beam.done = True
                token = decoder.pad_id
            next_tokens.append(token)
        if all(beam.done for beam in beams):
            break
        ids = torch.tensor(next_tokens, dtype=torch.long, device=lead.device)[:, None]
        mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
        out = decoder.model(
            inputs_embeds=decoder.embed(ids).to(lead.dtype),
            attention_mask=mask,
            past_key_values=out.past_key_values,
            use_cache=True,
            output_hidden_states=hidden,
        )
    return [_finish(beam, vocab) for beam in beams]
