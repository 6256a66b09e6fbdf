"""The training loop on a tiny model and generated audio: learning, NaN guard, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from mixer_core.config import Config
from mixer_core.model import MixerModel, load_mixer
from mixer_core.training import loop
from mixer_core.training.checkpoint import CheckpointError, best_weights_path, checkpoint_dir
from mixer_core.training.data import load_training_table
from mixer_core.training.device import TrainingError
from mixer_core.training.loop import TrainingCallbacks, train
from mixer_core.training.reporting import Budget
from mixer_core.training.schedule import LearningRateSchedule, epoch_plan
from tests.training_fixtures import make_processed_tree, tiny_training_config


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    processed = make_processed_tree(tmp_path_factory.mktemp("data"), tiny_training_config())
    return processed, load_training_table(processed)


def _config(**default: object) -> Config:
    cfg = tiny_training_config()
    cfg.default.lr_schedule = "constant"
    cfg.default.warmup_steps = 1
    cfg.default.learning_rate = 2e-3
    cfg.default.log_every_steps = 1
    cfg.default.eval_every_steps = 1000
    cfg.default.checkpoint_every_steps = 1000
    for key, value in default.items():
        setattr(cfg.default, key, value)
    return cfg


def _trainable(model: MixerModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    cosine = LearningRateSchedule(1.0, 4, 14, "cosine", 0.1)
    assert [cosine(s) for s in (1, 2, 4)] == [0.25, 0.5, 1.0]
    assert cosine(9) == pytest.approx(0.55)
    assert cosine(14) == pytest.approx(0.1) and cosine(99) == pytest.approx(0.1)
    linear = LearningRateSchedule(1.0, 0, 10, "linear", 0.0)
    assert [linear(s) for s in (0, 5, 10)] == pytest.approx([1.0, 0.5, 0.0])
    assert LearningRateSchedule(1.0, 2, 10, "constant", 0.1)(7) == 1.0


def test_a_time_budget_anneals_the_schedule_whatever_the_step_count() -> None:
    long = LearningRateSchedule(1.0, 4, 100_000, "cosine", 0.1)
    assert long(10) == pytest.approx(1.0, abs=1e-3)
    assert long(10, time_progress=0.5) == pytest.approx(0.55)
    assert long(10, time_progress=1.0) == pytest.approx(0.1)
    assert long(2, time_progress=0.9) == 0.5  # warm-up is by step


def test_epoch_plan_is_a_seeded_permutation_in_accumulation_groups() -> None:
    plan = epoch_plan(10, 3, 2, seed=0, epoch=0)
    assert [len(group) for group in plan] == [2, 1]
    flat = [i for group in plan for batch in group for i in batch]
    assert len(flat) == 9 and len(set(flat)) == 9
    assert plan == epoch_plan(10, 3, 2, seed=0, epoch=0)
    assert plan != epoch_plan(10, 3, 2, seed=0, epoch=1)
    small = epoch_plan(2, 4, 1, seed=0, epoch=0)
    assert [sorted(batch) for group in small for batch in group] == [[0, 1]]


def test_training_lowers_the_loss_and_writes_its_outputs(data, tmp_path: Path) -> None:
    processed, table = data
    cfg = _config(max_steps=18, eval_every_steps=9)
    logged: list[int] = []
    evaluated: list[tuple[int, dict[str, float]]] = []
    result = train(
        cfg,
        table,
        processed,
        tmp_path,
        callbacks=TrainingCallbacks(
            on_log=lambda step, m: logged.append(step),
            on_eval=lambda step, m: evaluated.append((step, m)),
        ),
    )
    losses = [h["loss"] for h in result.history if "loss" in h]
    assert len(losses) == 18 and logged == list(range(1, 19))
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3
    assert result.steps == 18 and result.start_step == 0
    assert result.epochs_completed == 6  # 12 train recipes, batch 4: 3 steps per epoch
    assert [step for step, _ in evaluated] == [9, 18]
    assert result.last_val_loss == evaluated[-1][1]["val_loss"]
    assert result.best_val_loss == min(m["val_loss"] for _, m in evaluated)
    assert result.skipped_nonfinite_steps == 0
    assert all(h["samples_per_s"] > 0 for h in result.history if "samples_per_s" in h)
    assert json.loads((tmp_path / "history.json").read_text()) == result.history
    assert (tmp_path / "loss_curve.png").stat().st_size > 0
    assert result.model_dir == tmp_path / "model" and any(result.model_dir.iterdir())
    assert (checkpoint_dir(tmp_path) / "state.pt").is_file()


def test_validation_uses_the_val_split_and_training_never_sees_test(
    data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, table = data
    seen: dict[bool, set[str]] = {True: set(), False: set()}
    model = MixerModel.from_config(
        tiny_training_config().mixer, tiny_training_config().data.sample_rate
    )
    real_render = loop.render_batch

    def recording_render(segments, sample_rate, recipes, reference_lufs, tools=None):
        seen[model.training].update(r.recipe_id for r in recipes)
        return real_render(segments, sample_rate, recipes, reference_lufs, tools)

    monkeypatch.setattr(loop, "render_batch", recording_render)
    train(_config(max_steps=3, eval_every_steps=3), table, processed, tmp_path, model=model)
    ids = {split: set(rows["recipe_id"]) for split, rows in table.groupby("split")}
    assert seen[True] == ids["train"]  # one epoch: every training recipe once
    assert seen[False] and seen[False] <= ids["val"]


@pytest.mark.reliability(
    case="non-finite loss or gradients during training",
    outcome="isolated steps skipped and counted; a run of them stops training with the step named",
)
def test_nan_guard_skips_isolated_steps_and_stops_on_a_run(data, tmp_path: Path) -> None:
    processed, table = data
    cfg = tiny_training_config()
    model = MixerModel.from_config(cfg.mixer, cfg.data.sample_rate)
    calls = {"forward": 0, "grad": 0}

    def nan_loss_on_second_call(module, args, kwargs, output):
        calls["forward"] += 1
        if calls["forward"] == 2:
            output.loss = output.loss * math.nan
        return output

    def nan_grad_on_fourth_backward(grad: torch.Tensor) -> torch.Tensor:
        calls["grad"] += 1
        return grad * math.nan if calls["grad"] == 4 else grad

    model.register_forward_hook(nan_loss_on_second_call, with_kwargs=True)
    model.trainable_parameters()[0].register_hook(nan_grad_on_fourth_backward)
    before = _trainable(model)
    result = train(_config(max_steps=6), table, processed, tmp_path / "isolated", model=model)
    assert result.steps == 6 and result.skipped_nonfinite_steps == 2
    assert result.history[-1]["skipped_nonfinite_steps"] == 2
    after = _trainable(model)
    assert all(torch.isfinite(p).all() for p in after.values())
    assert any(not torch.equal(before[n], after[n]) for n in before)

    broken = MixerModel.from_config(cfg.mixer, cfg.data.sample_rate)
    with torch.no_grad():
        next(broken.fusion.parameters()).fill_(math.nan)
    guard = _config(max_steps=20, nan_guard_max_consecutive=3)
    with pytest.raises(TrainingError, match=r"step 3: 3 consecutive .*non-finite"):
        train(guard, table, processed, tmp_path / "broken", model=broken)


def test_resume_continues_from_the_checkpoint_like_an_uninterrupted_run(
    data, tmp_path: Path
) -> None:
    processed, table = data
    first = train(_config(max_steps=4, checkpoint_every_steps=2), table, processed, tmp_path / "a")
    assert first.steps == 4
    resumed_model = MixerModel.from_config(
        tiny_training_config().mixer, tiny_training_config().data.sample_rate
    )
    resumed = train(
        _config(max_steps=7, checkpoint_every_steps=2),
        table,
        processed,
        tmp_path / "a",
        model=resumed_model,
    )
    assert (resumed.start_step, resumed.steps) == (4, 7)
    assert [h["step"] for h in resumed.history] == list(range(1, 8))
    straight_model = MixerModel.from_config(
        tiny_training_config().mixer, tiny_training_config().data.sample_rate
    )
    straight = train(_config(max_steps=7), table, processed, tmp_path / "b", model=straight_model)
    assert straight.epochs_completed == resumed.epochs_completed == 2
    resumed_params, straight_params = _trainable(resumed_model), _trainable(straight_model)
    for name, value in straight_params.items():
        torch.testing.assert_close(resumed_params[name], value, rtol=1e-5, atol=1e-6)
    assert resumed.final_train_loss == pytest.approx(straight.final_train_loss, rel=1e-5)

    other_shape = _config(max_steps=8)
    other_shape.mixer.fusion.prefix_tokens = 3
    with pytest.raises(CheckpointError, match=r"mixer\.fusion\.prefix_tokens: checkpoint 2"):
        train(other_shape, table, processed, tmp_path / "a")

    other_loss = _config(max_steps=8)  # the loss's weighting is not the model's shape
    other_loss.mixer.value_head.loss_weight = 2.0
    other_loss.mixer.value_head.pointer_weight = 0.5
    assert train(other_loss, table, processed, tmp_path / "a").start_step == 7


@pytest.mark.parametrize("accumulation", [1, 2])
def test_logged_loss_parts_add_up_to_the_loss_also_around_skipped_steps(
    data, tmp_path: Path, accumulation: int
) -> None:
    """The token and value parts are averaged over the same steps as the loss: a
    step skipped for a non-finite gradient counts in neither."""
    processed, table = data
    cfg = tiny_training_config()
    model = MixerModel.from_config(cfg.mixer, cfg.data.sample_rate)
    backwards = {"count": 0}

    def nan_grad_on_third_backward(grad: torch.Tensor) -> torch.Tensor:
        backwards["count"] += 1
        return grad * math.nan if backwards["count"] == 3 else grad

    model.trainable_parameters()[0].register_hook(nan_grad_on_third_backward)
    settings = _config(max_steps=6, gradient_accumulation_steps=accumulation, log_every_steps=2)
    result = train(settings, table, processed, tmp_path, model=model)
    assert result.skipped_nonfinite_steps == 1
    logged = [h for h in result.history if "loss" in h]
    assert len(logged) == 3
    weight = cfg.mixer.value_head.loss_weight
    for entry in logged:
        assert entry["loss"] == pytest.approx(
            entry["token_loss"] + weight * entry["value_loss"], rel=1e-5
        )


def test_the_input_cache_renders_each_recipe_once_and_changes_nothing(
    data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, table = data
    real_render = loop.render_batch
    training_ids = list(table.loc[table["split"] == "train", "recipe_id"])
    rendered: list[str] = []

    def counting_render(segments, sample_rate, recipes, reference_lufs, tools=None):
        rendered.extend(r.recipe_id for r in recipes if r.recipe_id in training_ids)
        return real_render(segments, sample_rate, recipes, reference_lufs, tools)

    monkeypatch.setattr(loop, "render_batch", counting_render)
    cfg = tiny_training_config()
    trained: dict[int, dict[str, torch.Tensor]] = {}
    renders: dict[int, list[str]] = {}
    for budget in (0, 64):
        rendered.clear()
        model = MixerModel.from_config(cfg.mixer, cfg.data.sample_rate)
        settings = _config(num_epochs=2, input_cache_mb=budget)
        result = train(settings, table, processed, tmp_path / str(budget), model=model)
        assert result.epochs_completed == 2
        trained[budget], renders[budget] = _trainable(model), list(rendered)
        # over two epochs: every recipe missed once, and with a cache hit once
        assert result.history[-1]["input_cache_hit_rate"] == (0.5 if budget else 0.0)
    assert sorted(renders[64]) == sorted(training_ids)
    assert sorted(renders[0]) == sorted(training_ids * 2)
    for name, value in trained[0].items():
        torch.testing.assert_close(trained[64][name], value, rtol=1e-5, atol=1e-6)


def test_the_model_kept_is_the_one_of_the_best_validation_loss(data, tmp_path: Path) -> None:
    processed, table = data
    cfg = _config(max_steps=6, eval_every_steps=1, learning_rate=2e-2, keep_best=True)
    result = train(cfg, table, processed, tmp_path / "run", resume=False)
    losses = {h["step"]: h["val_loss"] for h in result.history if "val_loss" in h}
    best = min(losses, key=losses.get)
    assert result.best_step == best and result.best_val_loss == pytest.approx(losses[best])
    kept = torch.load(best_weights_path(tmp_path / "run"), weights_only=True)
    assert kept["step"] == best
    saved = load_mixer(result.model_dir)
    for name, tensor in _trainable(saved).items():
        torch.testing.assert_close(tensor, kept["model"][name])


def test_the_budget_that_binds_gives_progress_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    by_time = Budget(total_steps=1_090_000, start_step=0, max_minutes=15.0, started=0.0)
    monkeypatch.setattr(by_time, "elapsed", lambda: 9.0)  # 1 % of 15 minutes
    assert by_time.progress(45) == pytest.approx(0.01)
    assert by_time.binding(45) == "15 min"
    assert by_time.eta_s(45) == pytest.approx(891.0)
    assert by_time.describe(45).startswith("step 45 (1.0 % of 15 min, ETA 14.8 min")
    by_steps = Budget(total_steps=200, start_step=50, max_minutes=None, started=0.0)
    monkeypatch.setattr(by_steps, "elapsed", lambda: 30.0)
    assert by_steps.binding(100) == "200 steps" and by_steps.progress(100) == 0.5
    assert by_steps.eta_s(100) == pytest.approx(60.0)  # 50 steps in 30 s, 100 to go
