"""The training loop: one readable function, every knob in ``Config.default``.

Shape of a step (nanoGPT style): for each of ``gradient_accumulation_steps`` micro-
batches, render the recipes on the training device, tokenise, forward under autocast,
backward; then unscale, clip, and take one AdamW step at the scheduled learning rate.
A step whose loss or gradient norm is non-finite changes nothing and is counted; too
many in a row stop the run with :class:`TrainingError`, because by then the weights or
the data are broken and more steps only waste the budget.

Data order is a pure function of (seed, epoch), and every RNG state is in the
checkpoint, so a resumed run on CPU continues exactly where the interrupted one was.
Tracking (MLflow) plugs in through :class:`TrainingCallbacks`; this module knows none.

The module is over 400 lines because ``train`` is one function read top to bottom, in
the nanoGPT spirit; what is not the loop lives beside it (``schedule``, ``device``,
``reporting``, ``checkpoint``, ``input_cache``).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from mixer_core.config import Config, TrainingConfig
from mixer_core.data.augmentation import Recipe
from mixer_core.data.rendering import render_batch
from mixer_core.model import MixerModel, format_trainable_summary, save_mixer
from mixer_core.model.mixer_model import MixerOutput
from mixer_core.model.parts import training_kind
from mixer_core.training.checkpoint import (
    TrainingState,
    check_checkpoint_config,
    find_checkpoint,
    load_best_weights,
    load_checkpoint,
    save_best_weights,
    save_checkpoint,
)
from mixer_core.training.data import RecipeDataset, collate
from mixer_core.training.device import TrainingError, autocast_dtype, resolve_device
from mixer_core.training.input_cache import InputCache
from mixer_core.training.reporting import (
    Budget,
    advance,
    plot_loss_curve,
    progress_bar,
    record,
)
from mixer_core.training.schedule import LearningRateSchedule, epoch_plan

log = logging.getLogger(__name__)

MODEL_DIRNAME = "model"
HISTORY_FILENAME = "history.json"
LOSS_CURVE_FILENAME = "loss_curve.png"
# the parts of the loss reported beside it (MixerOutput attributes)
LOSS_PARTS = ("token_loss", "value_loss", "pointer_loss")


@dataclass
class TrainingCallbacks:
    """Optional hooks for a tracker; each receives the optimizer step it reports on."""

    on_log: Callable[[int, dict[str, float]], None] | None = None
    on_eval: Callable[[int, dict[str, float]], None] | None = None
    on_checkpoint: Callable[[int, Path], None] | None = None
    # a line of progress (steps, the budget that binds, ETA, loss) at every logged step;
    # a run log throttles it (``mixer_core.progress.throttled``)
    on_progress: Callable[[str], None] | None = None


@dataclass
class TrainingResult:
    model_dir: Path
    steps: int
    start_step: int
    epochs_completed: int
    final_train_loss: float | None
    best_val_loss: float | None
    best_step: int | None
    last_val_loss: float | None
    skipped_nonfinite_steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    elapsed_s: float = 0.0


def _optimizer(model: MixerModel, tc: TrainingConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (biases and norms are not decayed)."""
    params = [p for p in model.trainable_parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the model has no trainable parameters; check mixer.trainable")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": tc.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=tc.learning_rate)


class _StepRunner:
    """Renders, tokenises and runs the model on one micro-batch.

    Rendered encoder inputs are kept per recipe (``input_cache``), so a recipe is
    rendered once per run rather than once per epoch.
    """

    def __init__(
        self, model: MixerModel, cfg: Config, device: torch.device, amp_dtype: torch.dtype | None
    ) -> None:
        self.model = model
        self.sample_rate = cfg.data.sample_rate
        self.reference_lufs = cfg.data.reference_lufs
        self.device = device
        self.amp_dtype = amp_dtype
        self.input_cache = InputCache(cfg.default.input_cache_mb * 1024**2)

    def autocast(self) -> AbstractContextManager[object]:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def run(self, segments: torch.Tensor, recipes: Sequence[Recipe]) -> MixerOutput:
        def render(indices: list[int]) -> dict[str, torch.Tensor]:
            chosen = segments[indices].to(self.device, non_blocking=True)
            with torch.no_grad():
                inputs, _ = render_batch(
                    chosen, self.sample_rate, [recipes[i] for i in indices], self.reference_lufs
                )
            return self.model.audio_inputs(
                inputs, self.sample_rate, [recipes[i].target for i in indices]
            )

        keys = [(r.recipe_id, segments.shape[-1]) for r in recipes]
        batch = self.model.prepare_from_audio_inputs(
            self.input_cache.batch(keys, render),
            [r.prompt for r in recipes],
            [r.target for r in recipes],
        )
        with self.autocast():
            return self.model(**batch)


def _validation_batches(val_set: RecipeDataset, tc: TrainingConfig) -> list[list[int]]:
    """The same examples at every evaluation, so val losses are comparable over time."""
    count = min(len(val_set), tc.val_batches * tc.batch_size)
    chosen = random.Random(f"{tc.seed}:val").sample(range(len(val_set)), count)
    return [chosen[i : i + tc.batch_size] for i in range(0, count, tc.batch_size)]


def _validation_loss(
    runner: _StepRunner, val_set: RecipeDataset, batches: list[list[int]]
) -> float:
    """Example-weighted mean loss; RNG states are restored so training is unaffected."""
    devices = [runner.device] if runner.device.type == "cuda" else []
    total, count = 0.0, 0
    runner.model.eval()
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            for indices in batches:
                segments, recipes = collate([val_set[i] for i in indices])
                value = runner.run(segments, recipes).loss.item()
                if math.isfinite(value):
                    total += value * len(indices)
                    count += len(indices)
                else:
                    log.warning("validation batch with a non-finite loss left out")
    finally:
        runner.model.train()
    return total / count if count else math.nan


def _micro_batches(
    dataset: RecipeDataset,
    groups: list[list[list[int]]],
    tc: TrainingConfig,
    device: torch.device,
) -> Iterator[tuple[torch.Tensor, list[Recipe]]]:
    """Batches for the given steps, in order; the loader's own generator keeps the
    global RNG untouched, so starting a loader mid-epoch does not shift dropout."""
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=[batch for group in groups for batch in group],
        collate_fn=collate,
        num_workers=tc.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(tc.seed),
    )
    return iter(loader)


def _finite_metrics(metrics: dict[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def train(
    cfg: Config,
    table: pd.DataFrame,
    processed_dir: Path,
    output_dir: Path,
    *,
    resume: bool = True,
    callbacks: TrainingCallbacks | None = None,
    model: MixerModel | None = None,
) -> TrainingResult:
    """Train on the table's train split, validate on its val split, save the model.

    Writes ``output_dir/checkpoints/last/`` (resumable), ``output_dir/model/`` (the
    final model folder), ``output_dir/history.json`` and ``output_dir/loss_curve.png``.
    ``model`` (optional) is trained in place instead of one built from ``cfg.mixer``.
    ``max_minutes`` budgets this call's wall-clock time, not the sum over resumes.
    """
    tc = cfg.default
    callbacks = callbacks or TrainingCallbacks()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    device = resolve_device(tc.device)
    amp_dtype = autocast_dtype(tc, device)
    torch.manual_seed(tc.seed)

    found = find_checkpoint(output_dir) if resume else None
    if found is not None:
        check_checkpoint_config(found, cfg)
    channels, sample_rate = cfg.data.channels, cfg.data.sample_rate
    train_set = RecipeDataset(table, processed_dir, "train", sample_rate, channels)
    if len(train_set) == 0:
        raise TrainingError("the training table has no recipes in split 'train'")
    val_set = RecipeDataset(table, processed_dir, "val", sample_rate, channels)
    val_batches = _validation_batches(val_set, tc) if len(val_set) else []
    if not val_batches:
        log.warning("no recipes in split 'val': validation loss is not measured")

    if model is None:
        model = MixerModel.from_config(
            cfg.mixer, sample_rate, seed=tc.seed, reference_lufs=cfg.data.reference_lufs
        )
    model.to(device)
    model.train()
    log.info(
        "%s; trainable parts:\n%s",
        training_kind(cfg.mixer),
        format_trainable_summary(model.trainable_summary()),
    )
    optimizer = _optimizer(model, tc)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    scaler = torch.amp.GradScaler("cuda") if amp_dtype is torch.float16 else None
    runner = _StepRunner(model, cfg, device, amp_dtype)

    steps_per_epoch = len(
        epoch_plan(len(train_set), tc.batch_size, tc.gradient_accumulation_steps, tc.seed, 0)
    )
    total_steps = tc.max_steps or tc.num_epochs * steps_per_epoch
    schedule = LearningRateSchedule.from_config(tc, total_steps)

    state = TrainingState()
    if found is not None:
        state = load_checkpoint(found, cfg=cfg, model=model, optimizer=optimizer, scaler=scaler)
        log.info(
            "resumed from %s at step %d (epoch %d, position %d)",
            found,
            state.step,
            state.epoch,
            state.position,
        )
    start_step = state.step
    log.info(
        "training on %s: %d train / %d val recipes, %d steps/epoch, %d steps in total%s",
        device,
        len(train_set),
        len(val_set),
        steps_per_epoch,
        total_steps,
        f" ({tc.mixed_precision} autocast)" if amp_dtype else "",
    )

    budget = Budget(total_steps, state.step, tc.max_minutes, started)

    def out_of_time() -> bool:
        return budget.time_share() >= 1.0

    def finished() -> bool:
        if tc.max_steps is not None:
            return state.step >= tc.max_steps
        return state.epoch >= tc.num_epochs

    def evaluate() -> None:
        value = _validation_loss(runner, val_set, val_batches)
        state.last_val_loss = value if math.isfinite(value) else None
        if state.last_val_loss is not None and (
            state.best_val_loss is None or value < state.best_val_loss
        ):
            state.best_val_loss, state.best_step = value, state.step
            if tc.keep_best:
                save_best_weights(output_dir, model, state.step)
        metrics = _finite_metrics({"val_loss": value, "best_val_loss": state.best_val_loss})
        record(state.history, state.step, metrics)
        log.info("step %d val_loss %.4f", state.step, value)
        if callbacks.on_eval:
            callbacks.on_eval(state.step, metrics)

    def checkpoint() -> None:
        path = save_checkpoint(
            output_dir,
            cfg=cfg,
            model=model,
            optimizer=optimizer,
            scaler=scaler,
            state=state,
            schedule={"kind": schedule.kind, "step": state.step, "total_steps": total_steps},
        )
        if callbacks.on_checkpoint:
            callbacks.on_checkpoint(state.step, path)

    bar = progress_bar(budget, state.step)
    evaluated_at = checkpointed_at = state.step
    consecutive_bad = 0
    window_losses: list[float] = []
    window_parts: dict[str, list[float]] = {}
    window_samples, window_started = 0, time.perf_counter()
    try:
        while not finished() and not out_of_time():
            groups = epoch_plan(
                len(train_set),
                tc.batch_size,
                tc.gradient_accumulation_steps,
                tc.seed,
                state.epoch,
            )
            batches = _micro_batches(train_set, groups[state.position :], tc, device)
            for group in groups[state.position :]:
                lr = schedule(state.step + 1, budget.time_share())
                for param_group in optimizer.param_groups:
                    param_group["lr"] = lr
                bad_loss, step_losses, step_parts, grad_norm = None, [], {}, math.nan
                for _ in group:
                    segments, recipes = next(batches)
                    if bad_loss is not None:
                        continue
                    output = runner.run(segments, recipes)
                    loss = output.loss
                    value = loss.item()
                    if not math.isfinite(value):
                        bad_loss = value
                        continue
                    step_losses.append(value)
                    for part in LOSS_PARTS:
                        if getattr(output, part) is not None:
                            step_parts.setdefault(part, []).append(getattr(output, part).item())
                    scaled = loss / len(group)
                    (scaler.scale(scaled) if scaler else scaled).backward()
                    window_samples += len(recipes)

                stepped = False
                if bad_loss is None:
                    if scaler:
                        scaler.unscale_(optimizer)
                    grad_norm = float(
                        torch.nn.utils.clip_grad_norm_(
                            params, tc.max_grad_norm if tc.max_grad_norm > 0 else math.inf
                        )
                    )
                    stepped = math.isfinite(grad_norm)
                    if scaler:
                        # A non-finite gradient makes the scaler skip the update and
                        # lower its scale; the step still counts as skipped below.
                        scaler.step(optimizer)
                        scaler.update()
                    elif stepped:
                        optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                state.position += 1
                advance(bar, budget, state.step)

                if stepped:
                    consecutive_bad = 0
                    state.last_train_loss = sum(step_losses) / len(step_losses)
                    window_losses.append(state.last_train_loss)
                    for part, values in step_parts.items():
                        window_parts.setdefault(part, []).append(sum(values) / len(values))
                else:
                    consecutive_bad += 1
                    state.skipped_nonfinite_steps += 1
                    what = f"loss {bad_loss}" if bad_loss is not None else f"grad norm {grad_norm}"
                    log.warning(
                        "step %d skipped: non-finite %s (%d in a row)",
                        state.step,
                        what,
                        consecutive_bad,
                    )
                    if consecutive_bad >= tc.nan_guard_max_consecutive:
                        raise TrainingError(
                            f"step {state.step}: {consecutive_bad} consecutive optimizer steps "
                            f"with a non-finite loss or gradient norm (last: {what}); "
                            f"stopping (default.nan_guard_max_consecutive="
                            f"{tc.nan_guard_max_consecutive}). The last checkpoint is in "
                            f"{output_dir}; lower the learning rate or check the data."
                        )

                if state.step % tc.log_every_steps == 0 or state.step == total_steps:
                    elapsed = time.perf_counter() - window_started
                    metrics = _finite_metrics(
                        {
                            "loss": sum(window_losses) / len(window_losses)
                            if window_losses
                            else None,
                            **{k: sum(v) / len(v) for k, v in window_parts.items()},
                            "lr": lr,
                            "grad_norm": grad_norm,
                            "samples_per_s": window_samples / elapsed if elapsed > 0 else None,
                            "epoch": state.epoch + state.position / len(groups),
                            "skipped_nonfinite_steps": state.skipped_nonfinite_steps,
                            "input_cache_hit_rate": runner.input_cache.hit_rate,
                        }
                    )
                    record(state.history, state.step, metrics)
                    bar.set_postfix(loss=metrics.get("loss"), lr=lr)
                    log.info(
                        "%s %s",
                        budget.describe(state.step),
                        " ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
                    )
                    if callbacks.on_log:
                        callbacks.on_log(state.step, metrics)
                    if callbacks.on_progress:
                        loss = metrics.get("loss")
                        callbacks.on_progress(
                            budget.describe(state.step)
                            + ("" if loss is None else f", loss {loss:.4g}")
                        )
                    window_losses, window_parts, window_samples = [], {}, 0
                    window_started = time.perf_counter()
                if val_batches and state.step % tc.eval_every_steps == 0:
                    evaluate()
                    evaluated_at = state.step
                if state.step % tc.checkpoint_every_steps == 0:
                    checkpoint()
                    checkpointed_at = state.step
                if finished() or out_of_time():
                    break
            if state.position >= len(groups):
                state.epoch += 1
                state.position = 0
    finally:
        bar.close()

    if val_batches and evaluated_at != state.step:
        evaluate()
        checkpoint()
    elif checkpointed_at != state.step:
        checkpoint()
    if tc.keep_best and state.best_step is not None and state.best_step != state.step:
        restored = load_best_weights(output_dir, model)
        log.info("kept the weights of step %d (best val_loss %.4f)", restored, state.best_val_loss)
    model.eval()
    model_dir = save_mixer(model, output_dir / MODEL_DIRNAME)
    (output_dir / HISTORY_FILENAME).write_text(json.dumps(state.history, indent=1))
    if state.history:
        plot_loss_curve(state.history, output_dir / LOSS_CURVE_FILENAME)
    return TrainingResult(
        model_dir=Path(model_dir),
        steps=state.step,
        start_step=start_step,
        epochs_completed=state.epoch,
        final_train_loss=state.last_train_loss,
        best_val_loss=state.best_val_loss,
        best_step=state.best_step,
        last_val_loss=state.last_val_loss,
        skipped_nonfinite_steps=state.skipped_nonfinite_steps,
        history=state.history,
        elapsed_s=time.perf_counter() - started,
    )
