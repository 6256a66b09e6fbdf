"""The two per-run caches: rendered encoder inputs per recipe, prompt states per prompt."""

from __future__ import annotations

import pytest
import torch

from mixer_core.model.text_encoder import TextEncoder
from mixer_core.training.input_cache import InputCache
from tests.training_fixtures import tiny_text_encoder


def _computer(calls: list[list[int]]):
    def compute(indices: list[int]) -> dict[str, torch.Tensor]:
        calls.append(list(indices))
        values = torch.tensor(indices, dtype=torch.float32)
        return {"a": values[:, None].repeat(1, 4), "b": -values}

    return compute


def test_inputs_are_computed_once_and_served_in_key_order():
    cache, calls = InputCache(budget_bytes=10_000), []
    first = cache.batch([("r1", 100), ("r2", 100)], _computer(calls))
    assert calls == [[0, 1]]
    second = cache.batch([("r3", 100), ("r2", 100), ("r1", 100)], _computer(calls))
    assert calls == [[0, 1], [0]]  # only r3 (position 0) was missing
    assert torch.equal(second["a"][1:], first["a"].flip(0))
    assert torch.equal(second["b"], torch.tensor([-0.0, -1.0, -0.0]))
    assert (cache.hits, cache.misses, len(cache)) == (2, 3, 3)
    assert cache.hit_rate == pytest.approx(2 / 5)


def test_a_different_segment_length_is_a_different_entry():
    cache, calls = InputCache(budget_bytes=10_000), []
    cache.batch([("r1", 100)], _computer(calls))
    cache.batch([("r1", 90)], _computer(calls))
    assert len(calls) == 2 and len(cache) == 2


def test_the_budget_drops_the_least_recently_used():
    entry = 5 * 4  # a: 4 floats, b: 1 float
    cache, calls = InputCache(budget_bytes=2 * entry), []
    cache.batch([("r1", 1), ("r2", 1)], _computer(calls))
    cache.batch([("r1", 1)], _computer(calls))  # r1 is now the most recent
    cache.batch([("r3", 1)], _computer(calls))  # evicts r2
    assert cache.bytes <= 2 * entry and len(cache) == 2
    cache.batch([("r1", 1), ("r2", 1)], _computer(calls))
    assert calls[-1] == [1]
    assert InputCache(budget_bytes=0).batch([("r1", 1)], _computer([]))["b"].shape == (1,)


def test_frozen_prompt_states_are_cached_per_prompt_and_equal_a_fresh_forward():
    encoder = TextEncoder.from_path(tiny_text_encoder(), max_length=16).eval().requires_grad_(False)
    runs = []
    encoder.model.register_forward_hook(lambda _m, _a, out: runs.append(len(out[0])))
    prompts = ["turn it up by 3 dB", "a longer prompt about the low end and the mids", "x"]
    tokens = encoder.tokenize(prompts, torch.device("cpu"))
    ids, mask = tokens["prompt_input_ids"], tokens["prompt_attention_mask"]
    cached = encoder.cached_states(prompts, ids, mask)
    with torch.no_grad():
        fresh = encoder(ids, mask)
    real = mask.bool()
    torch.testing.assert_close(cached[real], fresh[real])
    assert not cached[~real].any()
    assert runs == [3, 3]  # the cached call, then the fresh forward above

    reordered = [prompts[2], prompts[0]]
    again = encoder.tokenize(reordered, torch.device("cpu"))
    states = encoder.cached_states(
        reordered, again["prompt_input_ids"], again["prompt_attention_mask"]
    )
    assert runs == [3, 3]  # served from the cache
    torch.testing.assert_close(
        states[1][again["prompt_attention_mask"][1].bool()], fresh[0][real[0]]
    )
    with pytest.raises(RuntimeError, match="frozen encoder in eval mode"):
        encoder.train().cached_states(prompts, ids, mask)


def test_rows_of_different_length_are_zero_padded_when_stacked():
    cache = InputCache(budget_bytes=10_000)

    def compute(indices: list[int]) -> dict[str, torch.Tensor]:
        width = 1 + max(indices)
        return {"table": torch.ones(len(indices), width, 2)}

    cache.batch([("short", 1)], compute)
    both = cache.batch([("short", 1), ("long", 1)], compute)["table"]
    assert both.shape == (2, 2, 2)
    assert both[0, 0].tolist() == [1.0, 1.0] and both[0, 1].tolist() == [0.0, 0.0]
