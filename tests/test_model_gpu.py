"""The CUDA path: bf16 autocast forward/backward and constrained generation on the GPU."""

from __future__ import annotations

import pytest
import torch

from mixer_core.language.grammar import parse
from mixer_core.model import MixerModel, load_mixer, save_mixer
from tests.test_model import PROMPTS, RATE, TARGETS, noise_audio, tiny_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.fixture(scope="module")
def model() -> MixerModel:
    return MixerModel.from_config(tiny_config(), RATE, seed=0).to("cuda")


def test_bf16_autocast_forward_backward(model):
    model.train()
    batch = model.prepare_batch(noise_audio(2), RATE, PROMPTS, TARGETS)
    assert all(tensor.device.type == "cuda" for tensor in batch.values())
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        output = model(**batch)
    assert output.logits.dtype == torch.bfloat16
    assert output.loss.dtype == torch.float32 and torch.isfinite(output.loss)
    output.loss.backward()
    grads = [p.grad for p in model.trainable_parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    optimizer.step()


def test_generation_on_cuda_matches_cpu(model, tmp_path):
    audio = noise_audio(3, seed=5)
    prompts = ["louder", "less bass", "add some room"]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        texts = model.generate_programs(audio, RATE, prompts, temperature=1.0, seed=0)
    for text in texts:
        parse(text)
    cpu = load_mixer(save_mixer(model, tmp_path / "m"), device="cpu")
    on_gpu = load_mixer(tmp_path / "m", device="cuda")
    batch = on_gpu.prepare_batch(audio, RATE, prompts, [*TARGETS, "apply_reverb()"])
    with torch.no_grad():
        gpu_logits = on_gpu(**batch).logits.cpu()
        cpu_logits = cpu(**{k: v.cpu() for k, v in batch.items()}).logits
    assert torch.allclose(gpu_logits, cpu_logits, atol=1e-3, rtol=1e-3)
