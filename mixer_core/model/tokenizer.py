"""The decoder's domain tokenizer, generated from the tool registry.

One token per grammar piece (a tool name with its ``(``, a parameter name with its
``=``, a digit, ``-``, ``.``, ``", "``, ``)`` and the call separator), so a canonical
program is a short sequence the small decoder can learn, every piece constrained
decoding needs is one token, and ``decode(encode(text)) == text`` exactly. It is a
``PreTrainedTokenizerFast`` so it saves and loads like any Hugging Face tokenizer.

Values in the dB range also get whole-number tokens (``-24`` … ``24``) and one-decimal
tokens (``.0`` … ``.9``): ``-3.5`` is two tokens, a 49-way and a 10-way choice, instead
of four digit decisions. Larger numbers (Hz, ms) fall back to digits, so every value is
still expressible and the split stays deterministic (longest piece first).
"""

from __future__ import annotations

import re

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from mixer_core.language.registry import TOOLS

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
PUNCTUATION = ("-", ".", ", ", ")", " ")
DIGITS = tuple("0123456789")
WHOLE_NUMBERS = (*(str(n) for n in range(-24, 25) if not 0 <= n <= 9), "-0")
DECIMALS = tuple(f".{d}" for d in range(10))


def grammar_pieces() -> list[str]:
    """Every non-special token, in a stable order (tools, parameters, digits, punctuation)."""
    tools = [f"{tool.name}(" for tool in TOOLS]
    params = list(dict.fromkeys(f"{p.name}=" for tool in TOOLS for p in tool.params))
    return [*tools, *params, *DIGITS, *WHOLE_NUMBERS, *DECIMALS, *PUNCTUATION]


def _split_pattern(pieces: list[str]) -> str:
    # Longest first, so "threshold_db=" wins over "db=" and ", " over " ".
    ordered = sorted(pieces, key=len, reverse=True)
    return "|".join(re.escape(piece) for piece in ordered)


def build_domain_tokenizer() -> PreTrainedTokenizerFast:
    pieces = grammar_pieces()
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *pieces])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(
        Regex(_split_pattern(pieces)), behavior="isolated", invert=False
    )
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,
        model_input_names=["input_ids", "attention_mask"],
    )
