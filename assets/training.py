"""``mixer_lora``: train the model on every materialized artist, track it in MLflow, register it.

The artists are the ``augmentation_manifest`` partitions materialized on the instance so
far, so each (scheduled) retraining picks up every artist added since the last one; a
manifest left on disk by a partition that no longer exists is not trained on. Runs in
the ``gpu`` concurrency pool (one training per GPU). The run folder is keyed by
Dagster's root run id, so a retry after a worker crash resumes from the last checkpoint
instead of starting over.

A tracking server that cannot be reached at the start fails the run before any training;
one that goes away mid-run does not stop the training: the model folder is written
first, the metrics MLflow missed are sent from the history at the end, and a tracking
failure then names the kept folder, which a retry (``mixer train --resume``, or a
re-execution of the run) logs and registers.
"""

import json
import shutil
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from mlflow.exceptions import MlflowException

from assets.augmentation_manifest import augmentation_manifest
from assets.metadata import image_markdown, markdown_table
from mixer_core.data.generator import is_generated_artist
from mixer_core.data.splits import resolve_splits
from mixer_core.model.parts import training_kind
from mixer_core.model.persistence import write_training_data
from mixer_core.progress import throttled
from mixer_core.training import TrainingCallbacks, load_training_table, train, write_dataset_file
from mixer_core.training.data import DatasetError
from mixer_core.training.loop import HISTORY_FILENAME, LOSS_CURVE_FILENAME
from pipelines.resources import MixerConfigResource, MlflowResource, PathsResource

LATEST_POINTER = "latest.json"


def _float(value: float | None) -> MetadataValue:
    return MetadataValue.float(float("nan") if value is None else float(value))


def _root_run_id(context: AssetExecutionContext) -> str:
    return context.run.tags.get("dagster/root_run_id") or context.run_id


class _LiveMetrics:
    """Training metrics sent to MLflow as the loop reports them.

    A server that stops answering must not cost the training, so the first failure is
    logged and nothing more is sent live; :meth:`send_missed` sends, once the model
    folder is written, every history entry this run did not receive (also the steps
    before a resume, which an earlier attempt logged to its own run).
    """

    def __init__(self, mlflow: MlflowResource, run_id: str, warn: Callable[[str], None]) -> None:
        self._mlflow, self._run_id, self._warn = mlflow, run_id, warn
        self._sent: set[tuple[int, str]] = set()
        self._failed = False

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        if self._failed:
            return
        try:
            self._mlflow.log_metrics(self._run_id, metrics, step)
        except MlflowException as exc:
            self._failed = True
            self._warn(f"{exc.message}; training goes on, its metrics are sent when it ends")
            return
        self._sent.update((step, name) for name in metrics)

    def send_missed(self, history: list[dict[str, float]]) -> None:
        for entry in history:
            step = int(entry["step"])
            missed = {k: v for k, v in entry.items() if k != "step" and (step, k) not in self._sent}
            if missed:
                self._mlflow.log_metrics(self._run_id, missed, step)


@asset(
    deps=[augmentation_manifest],
    pool="gpu",
    group_name="model",
    kinds={"pytorch", "mlflow"},
    description=(
        "Trains the mixer model on all artists' train/val recipes: with the default small "
        "decoder a full training (its base is random), with a pretrained decoder LoRA "
        "adapters on the frozen base (metadata `training_kind`); logs to MLflow and "
        "registers a new `challenger` version."
    ),
)
def mixer_lora(
    context: AssetExecutionContext,
    paths: PathsResource,
    mixer_config: MixerConfigResource,
    mlflow: MlflowResource,
) -> MaterializeResult:
    cfg = mixer_config.load()
    processed_dir = paths.processed_path
    artists = sorted(context.instance.get_materialized_partitions(augmentation_manifest.key))
    if not artists:
        raise Failure("no artist has a materialized augmentation_manifest: run ingest first")
    try:
        table, plan = resolve_splits(load_training_table(processed_dir, artists), cfg.data.split)
    except DatasetError as exc:
        raise Failure(str(exc)) from exc
    context.log.info(plan.reason)
    if not (table["split"] == "train").any():
        raise Failure(
            f"no training recipes under {processed_dir} for {', '.join(artists)}: "
            "every song of these artists is in the val or test split"
        )
    context.log.info("training on %d artist(s): %s", len(artists), ", ".join(artists))
    write_dataset_file(table, paths.dataset_path)

    run_name = f"mixer-{_root_run_id(context)[:8]}"
    output_dir = paths.models_path / run_name
    try:
        run_id = mlflow.start_run(
            run_name,
            tags={
                "dagster.run_id": context.run_id,
                "dagster.asset": "mixer_lora",
                "training_kind": training_kind(cfg.mixer),
            },
        )
        mlflow.log_params(run_id, cfg.model_dump(mode="json"))
        mlflow.log_params(
            run_id,
            {
                "data.recipes": len(table),
                "data.artists": len(artists),
                "data.songs": table["song"].nunique(),
            },
        )
    except MlflowException as exc:
        raise Failure(f"{exc.message}; nothing was trained") from None
    live = _LiveMetrics(mlflow, run_id, context.log.warning)
    callbacks = TrainingCallbacks(
        on_log=live, on_eval=live, on_progress=throttled(context.log.info)
    )
    try:
        result = train(cfg, table, processed_dir, output_dir, resume=True, callbacks=callbacks)
    except BaseException:
        with suppress(MlflowException):  # the training's error is the one to report
            mlflow.end_run(run_id, status="FAILED")
        raise

    generated = [a for a in artists if is_generated_artist(paths.artist_raw_dir(a))]
    write_training_data(result.model_dir, artists, generated)
    curve = output_dir / LOSS_CURVE_FILENAME
    curve_metadata = {}
    try:
        live.send_missed(result.history)
        if curve.exists():  # absent only when the run stopped before its first logged step
            mlflow.log_artifact(run_id, curve)
            curve_metadata["loss_curve"] = MetadataValue.md(image_markdown(curve, "loss curve"))
        mlflow.log_artifact(run_id, output_dir / HISTORY_FILENAME)
        staging = output_dir / "mlflow_model"
        shutil.rmtree(staging, ignore_errors=True)  # left by an attempt the server failed
        logged = mlflow.log_model(run_id, result.model_dir, staging)
        final = {
            "best_val_loss": result.best_val_loss,
            "final_train_loss": result.final_train_loss,
        }
        mlflow.log_metrics(
            run_id, {k: v for k, v in final.items() if v is not None}, result.steps, logged.model_id
        )
        version = mlflow.register(run_id, description=f"trained by {run_name}", logged=logged)
        mlflow.end_run(run_id)
        run_url = mlflow.run_url(run_id)
    except MlflowException as exc:
        raise Failure(
            f"{exc.message}. The trained model is kept in {result.model_dir}; "
            "`mixer train --resume` (or re-executing this run) logs and registers it "
            "once the tracking server answers"
        ) from None

    pointer = {
        "run_id": run_id,
        "version": version.version,
        "model_dir": str(Path(result.model_dir).resolve()),
    }
    (paths.models_path / LATEST_POINTER).write_text(json.dumps(pointer, indent=2))
    context.log.info("registered %s version %s", mlflow.registered_model, version.version)
    return MaterializeResult(
        metadata={
            "mlflow_run": MetadataValue.url(run_url),
            "mlflow_run_id": run_id,
            "mlflow_logged_model": logged.model_id,
            "model_version": MetadataValue.int(int(version.version)),
            "model_dir": MetadataValue.path(pointer["model_dir"]),
            "steps": MetadataValue.int(result.steps),
            "final_train_loss": _float(result.final_train_loss),
            "last_val_loss": _float(result.last_val_loss),
            "best_val_loss": _float(result.best_val_loss),
            "kept_weights_of_step": MetadataValue.int(int(result.best_step or result.steps)),
            "skipped_nonfinite_steps": MetadataValue.int(result.skipped_nonfinite_steps),
            "elapsed_s": MetadataValue.float(float(result.elapsed_s)),
            "train_recipes": MetadataValue.int(int((table["split"] == "train").sum())),
            "artists": MetadataValue.json(artists),
            "training_kind": MetadataValue.text(training_kind(cfg.mixer)),
            "split_by": MetadataValue.text(plan.by),
            "split_sizes": markdown_table(plan.table(), max_rows=3),
            "generated_artists": MetadataValue.int(len(generated)),
            **curve_metadata,
        }
    )
