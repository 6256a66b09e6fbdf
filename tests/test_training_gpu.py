"""The CUDA path of the training loop: autocast training steps (skipped without a GPU)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from mixer_core.model import MixerModel
from mixer_core.training.data import load_training_table
from mixer_core.training.loop import train
from tests.training_fixtures import make_processed_tree, tiny_training_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize(
    ("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)]
)
def test_autocast_training_steps_on_cuda(
    precision: str, dtype: torch.dtype, tmp_path: Path
) -> None:
    cfg = tiny_training_config()
    cfg.default.device = "auto"
    cfg.default.mixed_precision = precision
    cfg.default.max_steps = 6
    cfg.default.log_every_steps = 1
    cfg.default.eval_every_steps = 3
    processed = make_processed_tree(tmp_path, cfg)
    table = load_training_table(processed)
    model = MixerModel.from_config(cfg.mixer, cfg.data.sample_rate)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    logits_dtypes: list[torch.dtype] = []
    model.register_forward_hook(lambda module, args, out: logits_dtypes.append(out.logits.dtype))

    result = train(cfg, table, processed, tmp_path / "run", model=model)

    assert model.device.type == "cuda"
    assert logits_dtypes and set(logits_dtypes) == {dtype}
    assert result.steps == 6
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert losses and all(math.isfinite(v) for v in losses)
    assert result.last_val_loss is not None and math.isfinite(result.last_val_loss)
    # fp16 may skip an early step while the grad scaler finds its scale; bf16 never should
    assert result.skipped_nonfinite_steps <= (0 if precision == "bf16" else 2)
    after = dict(model.named_parameters())
    assert any(not torch.equal(before[n], after[n].detach()) for n in before)
    assert all(torch.isfinite(after[n]).all() for n in before)
