"""Training: the recipe dataset, the training loop and its resumable checkpoints.

``train(cfg, table, processed_dir, output_dir)`` is the one entry point; the Dagster
asset and the CLI call it and plug tracking in through :class:`TrainingCallbacks`.
"""

from mixer_core.training.checkpoint import CheckpointError, TrainingState
from mixer_core.training.data import (
    DatasetError,
    RecipeDataset,
    collate,
    load_training_table,
    write_dataset_file,
)
from mixer_core.training.device import TrainingError, resolve_device
from mixer_core.training.loop import TrainingCallbacks, TrainingResult, train
from mixer_core.training.reporting import plot_loss_curve
from mixer_core.training.schedule import LearningRateSchedule

__all__ = [
    "CheckpointError",
    "DatasetError",
    "LearningRateSchedule",
    "RecipeDataset",
    "TrainingCallbacks",
    "TrainingError",
    "TrainingResult",
    "TrainingState",
    "collate",
    "load_training_table",
    "plot_loss_curve",
    "resolve_device",
    "train",
    "write_dataset_file",
]
