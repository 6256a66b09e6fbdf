"""``mixer_evaluation``: score the new version against no-op, oracle, the tuned heuristic
and the current champion on the held-out songs, log it to MLflow, and promote or not.

The version under test is the ``mixer_lora`` materialization of this run (else the
newest one), read from Dagster's event log, so the model, its MLflow run and the artists
it was trained on travel together. Every predictor runs on the same rendered test
recipes of those artists, so the figures compare. The heuristic is fitted on the whole
train split (never on the test songs).
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
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
from assets.listening import listening_sample, write_listening_examples
from assets.metadata import markdown_table
from assets.training import mixer_lora
from mixer_core.data.splits import resolve_splits
from mixer_core.evaluation.baselines import DEFAULT_MAX_FIT_EXAMPLES, NoOpBaseline, OracleBaseline
from mixer_core.evaluation.promotion import Lead, Scores, already_champion, decide
from mixer_core.evaluation.report import EvaluationReport
from mixer_core.evaluation.runner import build_examples, evaluate, fit_heuristic_on_split
from mixer_core.model import MixerPredictor
from mixer_core.training import load_training_table
from pipelines.resources import CHAMPION, MixerConfigResource, MlflowResource, PathsResource

REPORT_FILENAME = "evaluation.json"
MODEL = "model"
_RECENT_TRAININGS = 20


class EvaluationConfig(Config):
    max_test_examples: int | None = Field(
        None, description="evaluate at most this many test recipes (None: all)"
    )
    heuristic_fit_examples: int = Field(
        DEFAULT_MAX_FIT_EXAMPLES,
        description=(
            "train 'fix' recipes, evenly spaced over the split, the heuristic's shrinkage "
            "is fitted on (its loudness and band statistics use every train segment)"
        ),
    )
    promotion_margin: float = Field(
        0.0,
        description=(
            "the lower end of the paired lead's 95% interval (over the champion, or over "
            "no-op for the first version) must exceed this for a promotion"
        ),
    )
    listening_examples: int = Field(
        4,
        ge=0,
        description=(
            "test recipes, spread over modes and songs, whose audio and spectrograms are "
            "logged (0: none)"
        ),
    )


@dataclass(frozen=True)
class TrainedVersion:
    """What ``mixer_lora`` recorded of the version it registered."""

    version: str
    run_id: str
    model_dir: Path
    artists: list[str] | None
    logged_model: str | None

    @classmethod
    def from_metadata(cls, metadata: dict) -> "TrainedVersion":
        artists = metadata.get("artists")
        logged = metadata.get("mlflow_logged_model")
        return cls(
            version=str(metadata["model_version"].value),
            run_id=str(metadata["mlflow_run_id"].value),
            model_dir=Path(metadata["model_dir"].value),
            artists=list(artists.value) if artists is not None else None,
            logged_model=str(logged.value) if logged is not None else None,
        )


def evaluation_dir(model_dir: Path) -> Path:
    """Where the evaluation of a trained model folder is written."""
    return Path(model_dir).parent / "evaluation"


def _trained_version(context: AssetExecutionContext) -> TrainedVersion:
    records = context.instance.fetch_materializations(mixer_lora.key, limit=_RECENT_TRAININGS)
    if not records.records:
        raise Failure("mixer_lora has never been materialized: train a model first")
    record = next((r for r in records.records if r.run_id == context.run_id), records.records[0])
    return TrainedVersion.from_metadata(record.asset_materialization.metadata)


GROUP_METRICS = (
    "recovery_pooled",
    "recovery_median",
    "worse_than_noop",
    "worst_vs_noop",
    "valid_call_rate",
    "tool_order_accuracy",
    "exact_value_rate",
)


def _rate(value: float, undefined: str) -> MetadataValue:
    """A rate as float metadata, or why it is undefined (no example it applies to)."""
    return MetadataValue.float(value) if math.isfinite(value) else MetadataValue.text(undefined)


def _interval(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]"


def _scores(report_scores: dict[str, float]) -> Scores:
    return Scores(
        report_scores["recovery_pooled"],
        report_scores["valid_call_rate"],
        report_scores["worse_than_noop"],
    )


def _log_report(
    mlflow: MlflowResource,
    trained: TrainedVersion,
    report: EvaluationReport,
    out_dir: Path,
) -> None:
    """Metrics per predictor, per mode, prompt kind and family, the leads, and the tables.

    MLflow metric names allow no spaces, so "named fix" is logged as ``named_fix``."""
    for name in report.predictors:
        mlflow.log_metrics(
            trained.run_id,
            {f"eval.{name}.{k}": v for k, v in report.scores(name).items()},
            model_id=trained.logged_model,
        )
    groups = (
        (report.by_mode, "mode"),
        (report.by_prompt_kind, "prompt_kind"),
        (report.by_family, "family"),
    )
    for group, column in groups:
        mlflow.log_metrics(
            trained.run_id,
            {
                f"eval.{row['predictor']}.{column}.{str(row[column]).replace(' ', '_')}.{metric}": (
                    row[metric]
                )
                for row in group.to_dict("records")
                for metric in GROUP_METRICS
            },
        )
    for lead in report.leads.to_dict("records"):
        scope = "" if lead["mode"] == "all" else f"mode.{lead['mode']}."
        prefix = f"eval.{MODEL}.{scope}lead_over_{lead['over']}"
        mlflow.log_metrics(
            trained.run_id,
            {
                prefix: lead["lead"],
                f"{prefix}.ci_low": lead["lead_ci_low"],
                f"{prefix}.ci_high": lead["lead_ci_high"],
            },
        )
    for name, frame in (
        ("summary", report.summary),
        ("by_mode", report.by_mode),
        ("by_prompt_kind", report.by_prompt_kind),
        ("by_family", report.by_family),
        ("leads", report.leads),
    ):
        mlflow.log_table(trained.run_id, frame, f"evaluation/tables/{name}.json")
    mlflow.log_artifacts(trained.run_id, out_dir, "evaluation")


@asset(
    deps=[mixer_lora, augmentation_manifest],
    group_name="model",
    kinds={"pytorch", "mlflow"},
    description=(
        "Held-out evaluation of the version mixer_lora trained, beside no-op, oracle, the "
        "tuned heuristic and the champion; promotes it to `champion` when it wins."
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
    trained = _trained_version(context)
    rate = cfg.data.sample_rate

    table, plan = resolve_splits(
        load_training_table(paths.processed_path, trained.artists), cfg.data.split
    )
    context.log.info(plan.reason)
    progress = context.log.info  # lines in the run's log, at most one per LOG_EVERY_S
    test = build_examples(
        table,
        paths.processed_path,
        cfg.data,
        split="test",
        limit=config.max_test_examples,
        progress=progress,
    )
    heuristic = fit_heuristic_on_split(
        table,
        paths.processed_path,
        cfg.data,
        max_fit_examples=config.heuristic_fit_examples,
        progress=progress,
    )
    predictors = {
        MODEL: MixerPredictor.from_folder(trained.model_dir),
        "noop": NoOpBaseline(),
        "oracle": OracleBaseline(),
        "heuristic": heuristic,
    }
    champion = mlflow.version_by_alias(CHAMPION)
    is_champion = champion is not None and str(champion.version) == trained.version
    if champion is not None and not is_champion:
        predictors[CHAMPION] = mlflow.load_predictor(
            f"models:/{mlflow.registered_model}/{champion.version}"
        )
    context.log.info("evaluating %d test recipes with %s", len(test), ", ".join(predictors))
    report = evaluate(test, predictors, rate, progress=progress)

    model_scores = report.scores(MODEL)
    if is_champion:
        decision = already_champion(trained.version)
    else:
        has_champion = CHAMPION in predictors
        champion_scores = _scores(report.scores(CHAMPION)) if has_champion else None
        over = report.leads.set_index(["over", "mode"]).loc[
            (CHAMPION if has_champion else "noop", "all")
        ]
        decision = decide(
            _scores(model_scores),
            champion_scores,
            Lead(float(over["lead"]), float(over["lead_ci_low"]), float(over["lead_ci_high"])),
            enough_evidence=plan.enough,
            evidence=plan.reason,
            margin=config.promotion_margin,
        )
    mlflow.record_promotion(trained.version, decision)
    context.log.info("version %s: %s", trained.version, decision.reason)

    out_dir = evaluation_dir(trained.model_dir)
    heuristic_fit = heuristic.to_dict()
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "version": trained.version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "heuristic": heuristic_fit,
        "split": {"by": plan.by, "enough_evidence": plan.enough, "sizes": plan.sizes},
        "report": report.to_dict(),
    }
    report_file = out_dir / REPORT_FILENAME
    report_file.write_text(json.dumps(summary, indent=2, allow_nan=False))
    split_section = (
        f"## Split\n\nBy {plan.by}; {plan.reason}. Promotion: {decision.reason}.\n\n"
        f"{plan.table().to_markdown(index=False)}\n\n"
    )
    (out_dir / "evaluation.md").write_text(split_section + report.to_markdown())
    report.by_family.to_csv(out_dir / "by_family.csv", index=False)
    report.examples.to_csv(out_dir / "examples.csv", index=False)
    write_listening_examples(
        listening_sample(test, config.listening_examples),
        predictors[MODEL],
        rate,
        out_dir / "listening",
    )
    _log_report(mlflow, trained, report, out_dir)
    mlflow.client().set_tag(trained.run_id, "promoted_to_champion", str(decision.promote).lower())

    leads = report.leads.set_index(["over", "mode"])
    heuristic_lead = leads.loc[("heuristic", "all")]
    return MaterializeResult(
        metadata={
            "model_version": MetadataValue.int(int(trained.version)),
            "promoted_to_champion": MetadataValue.bool(decision.promote),
            "promotion_reason": MetadataValue.text(decision.reason),
            "recovery_pooled": MetadataValue.float(model_scores["recovery_pooled"]),
            "recovery_median": MetadataValue.float(model_scores["recovery_median"]),
            "recovery_ci95": MetadataValue.text(
                _interval(model_scores["recovery_ci_low"], model_scores["recovery_ci_high"])
            ),
            "lead_over_heuristic": MetadataValue.float(float(heuristic_lead["lead"])),
            "lead_over_heuristic_ci95": MetadataValue.text(
                _interval(heuristic_lead["lead_ci_low"], heuristic_lead["lead_ci_high"])
            ),
            "valid_call_rate": MetadataValue.float(model_scores["valid_call_rate"]),
            "worse_than_noop": MetadataValue.float(model_scores["worse_than_noop"]),
            "worst_vs_noop": MetadataValue.float(model_scores["worst_vs_noop"]),
            "exact_value_rate": _rate(
                model_scores["exact_value_rate"], "n/a: no test prompt states a value"
            ),
            "tool_order_accuracy": MetadataValue.float(model_scores["tool_order_accuracy"]),
            "test_recipes": MetadataValue.int(len(test)),
            "split_by": MetadataValue.text(plan.by),
            "split_sizes": markdown_table(plan.table(), max_rows=3),
            "enough_evidence": MetadataValue.bool(plan.enough),
            "evidence": MetadataValue.text(plan.reason),
            "heuristic_fit": MetadataValue.json(
                {k: heuristic_fit[k] for k in ("target_lufs", "band_levels_db", "shrinkage")}
            ),
            "summary": markdown_table(report.summary, max_rows=len(report.summary)),
            "by_mode": markdown_table(report.by_mode, max_rows=len(report.by_mode)),
            "by_prompt_kind": markdown_table(
                report.by_prompt_kind, max_rows=len(report.by_prompt_kind)
            ),
            "by_family": markdown_table(report.by_family, max_rows=len(report.by_family)),
            "leads": markdown_table(report.leads, max_rows=len(report.leads)),
            "report": MetadataValue.path(str(report_file)),
            "mlflow_run": MetadataValue.url(mlflow.run_url(trained.run_id)),
        }
    )


@asset_check(
    asset=mixer_evaluation,
    description="The evaluated model beats doing nothing (pooled MR-STFT recovery > 0).",
)
def model_beats_noop(context: AssetCheckExecutionContext) -> AssetCheckResult:
    event = context.instance.get_latest_materialization_event(mixer_evaluation.key)
    if event is None or event.asset_materialization is None:
        return AssetCheckResult(passed=False, metadata={"problem": "mixer_evaluation never ran"})
    metadata = event.asset_materialization.metadata
    recovery = metadata["recovery_pooled"].value
    return AssetCheckResult(
        passed=recovery is not None and recovery > 0.0,
        metadata={"recovery_pooled": recovery, "version": metadata["model_version"].value},
    )


@asset_check(
    asset=mixer_evaluation,
    description=(
        "The test split holds the configured minimum of songs and artists "
        "(data.split.min_test_songs / min_test_artists); a warning, not a failure."
    ),
)
def test_split_is_large_enough(context: AssetCheckExecutionContext) -> AssetCheckResult:
    event = context.instance.get_latest_materialization_event(mixer_evaluation.key)
    if event is None or event.asset_materialization is None:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={"problem": "mixer_evaluation never ran"},
        )
    metadata = event.asset_materialization.metadata
    return AssetCheckResult(
        passed=bool(metadata["enough_evidence"].value),
        severity=AssetCheckSeverity.WARN,
        metadata={"evidence": metadata["evidence"].value},
    )
