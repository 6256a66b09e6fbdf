"""``mixer_evaluation``: score the new version against no-op, oracle, the tuned heuristic
and the current champion on the held-out songs, log it to MLflow, and promote or not.

Every predictor runs on the same rendered test recipes, so the figures compare. The
heuristic is fitted on the train split (never on the test songs).
"""

import json
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from pydantic import Field

from assets.augmentation_manifest import augmentation_manifest
from assets.listening import write_listening_examples
from assets.metadata import markdown_table
from assets.training import LATEST_POINTER, mixer_lora
from mixer_core.baselines import NoOpBaseline, OracleBaseline
from mixer_core.evaluation import build_examples, evaluate, fit_heuristic
from mixer_core.model import MixerPredictor
from mixer_core.training import load_training_table
from pipelines.promotion import Scores, decide
from pipelines.pyfunc import load_predictor
from pipelines.resources import MixerConfigResource, PathsResource
from pipelines.tracking import CHAMPION, MlflowResource

REPORT_FILENAME = "evaluation.json"
MODEL = "model"


class EvaluationConfig(Config):
    max_test_examples: int | None = Field(
        None, description="evaluate at most this many test recipes (None: all)"
    )
    heuristic_fit_examples: int = Field(
        32, description="train recipes the heuristic's statistics and shrinkage are fitted on"
    )
    listening_examples: int = Field(
        3, description="test recipes whose clean/distorted/corrected audio is logged"
    )


def evaluation_dir(pointer: dict) -> Path:
    """Where the evaluation of the model named by a training pointer is written."""
    return Path(pointer["model_dir"]).parent / "evaluation"


def _interval(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]"


def _scores(report_scores: dict[str, float]) -> Scores:
    return Scores(report_scores["recovery_pooled"], report_scores["valid_call_rate"])


@asset(
    deps=[mixer_lora, augmentation_manifest],
    group_name="model",
    kinds={"pytorch", "mlflow"},
    description=(
        "Held-out evaluation of the newest version beside no-op, oracle, the tuned "
        "heuristic and the champion; promotes the version to `champion` when it wins."
    ),
)
def mixer_evaluation(
    context: AssetExecutionContext,
    config: EvaluationConfig,
    paths: PathsResource,
    mixer_config: MixerConfigResource,
    mlflow: MlflowResource,
) -> MaterializeResult:
    cfg = mixer_config.load()
    pointer_file = paths.models_path / LATEST_POINTER
    if not pointer_file.exists():
        raise Failure(f"{pointer_file}: no trained model; materialize mixer_lora first")
    pointer = json.loads(pointer_file.read_text())
    rate = cfg.data.sample_rate

    table = load_training_table(paths.processed_path)
    test = build_examples(
        table, paths.processed_path, cfg.data, split="test", limit=config.max_test_examples
    )
    train_examples = build_examples(
        table, paths.processed_path, cfg.data, split="train", limit=config.heuristic_fit_examples
    )
    predictors = {
        MODEL: MixerPredictor.from_folder(pointer["model_dir"]),
        "noop": NoOpBaseline(),
        "oracle": OracleBaseline(),
        "heuristic": fit_heuristic(train_examples, rate, config.heuristic_fit_examples),
    }
    champion = mlflow.version_by_alias(CHAMPION)
    if champion is not None and champion.version != pointer["version"]:
        predictors[CHAMPION] = load_predictor(
            f"models:/{mlflow.registered_model}/{champion.version}", mlflow.tracking_uri
        )
    context.log.info("evaluating %d test recipes with %s", len(test), ", ".join(predictors))
    report = evaluate(test, predictors, rate)

    model_scores = report.scores(MODEL)
    champion_scores = _scores(report.scores(CHAMPION)) if CHAMPION in predictors else None
    decision = decide(_scores(model_scores), champion_scores)
    if decision.promote:
        mlflow.set_alias(CHAMPION, pointer["version"])
    context.log.info("version %s: %s", pointer["version"], decision.reason)

    run_id = pointer["run_id"]
    out_dir = evaluation_dir(pointer)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "version": pointer["version"],
        "promoted": decision.promote,
        "reason": decision.reason,
        "report": report.to_dict(),
    }
    (out_dir / REPORT_FILENAME).write_text(json.dumps(summary, indent=2, allow_nan=False))
    (out_dir / "evaluation.md").write_text(report.to_markdown())
    report.by_family.to_csv(out_dir / "by_family.csv", index=False)
    report.examples.to_csv(out_dir / "examples.csv", index=False)
    for name in report.predictors:
        metrics = {f"eval.{name}.{k}": v for k, v in report.scores(name).items()}
        mlflow.log_metrics(run_id, metrics)
    for lead in report.leads.to_dict("records"):
        prefix = f"eval.{MODEL}.lead_over_{lead['over']}"
        mlflow.log_metrics(
            run_id,
            {
                prefix: lead["lead"],
                f"{prefix}.ci_low": lead["lead_ci_low"],
                f"{prefix}.ci_high": lead["lead_ci_high"],
            },
        )
    write_listening_examples(
        test[: config.listening_examples], predictors[MODEL], rate, out_dir / "listening"
    )
    mlflow.log_artifacts(run_id, out_dir, "evaluation")
    mlflow.client().set_tag(run_id, "promoted_to_champion", str(decision.promote).lower())

    heuristic = report.leads.set_index("over").loc["heuristic"]
    return MaterializeResult(
        metadata={
            "model_version": MetadataValue.int(int(pointer["version"])),
            "promoted_to_champion": MetadataValue.bool(decision.promote),
            "promotion_reason": MetadataValue.text(decision.reason),
            "recovery_pooled": MetadataValue.float(model_scores["recovery_pooled"]),
            "recovery_median": MetadataValue.float(model_scores["recovery_median"]),
            "recovery_ci95": MetadataValue.text(
                _interval(model_scores["recovery_ci_low"], model_scores["recovery_ci_high"])
            ),
            "lead_over_heuristic": MetadataValue.float(float(heuristic["lead"])),
            "lead_over_heuristic_ci95": MetadataValue.text(
                _interval(heuristic["lead_ci_low"], heuristic["lead_ci_high"])
            ),
            "valid_call_rate": MetadataValue.float(model_scores["valid_call_rate"]),
            "test_recipes": MetadataValue.int(len(test)),
            "summary": markdown_table(report.summary, max_rows=len(report.summary)),
            "by_mode": markdown_table(report.by_mode, max_rows=len(report.by_mode)),
            "by_family": markdown_table(report.by_family, max_rows=len(report.by_family)),
            "leads": markdown_table(report.leads, max_rows=len(report.leads)),
            "report": MetadataValue.path(str(out_dir / REPORT_FILENAME)),
            "mlflow_run": MetadataValue.url(mlflow.run_url(run_id)),
        }
    )


@asset_check(
    asset=mixer_evaluation,
    description="The evaluated model beats doing nothing (pooled MR-STFT recovery > 0).",
)
def model_beats_noop(paths: PathsResource) -> AssetCheckResult:
    pointer = json.loads((paths.models_path / LATEST_POINTER).read_text())
    report_file = evaluation_dir(pointer) / REPORT_FILENAME
    summary = json.loads(report_file.read_text())["report"]["summary"]
    row = next(r for r in summary if r["predictor"] == MODEL)
    recovery = row["recovery_pooled"]
    return AssetCheckResult(
        passed=recovery is not None and recovery > 0.0,
        metadata={"recovery_pooled": recovery, "version": pointer["version"]},
    )
