"""In-process ingest: what `mixer ingest` runs.

It materializes ``raw_audio → segments → augmentation_manifest`` (with their checks) for
each artist folder, one Dagster run per artist partition, on the persistent embedded
instance, so these runs appear in `dagster dev` started on the same ``DAGSTER_HOME``.
Then it writes the combined recipes table (every artist's manifest joined with the
segment index) to the dataset file.

One artist failing (no readable song, a failed check) is reported in the
``IngestReport`` and does not stop the others; so is a dataset file that cannot be
built (e.g. another artist's truncated index or manifest, named with the asset that
rewrites it). ``limit`` keeps at most N readable songs per artist, the first in
file-name order; the rest appear as skipped in the inventory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult, materialize
from tqdm import tqdm

from assets import DATA_ASSETS, DATA_CHECKS
from assets.raw_audio import folder_entries, is_song_file
from mixer_core.data.tables import StageTableError
from mixer_core.training.data import DatasetError, load_training_table, write_dataset_file
from pipelines.partitions import ARTIST_PARTITIONS_NAME, is_artist_name
from pipelines.resources import MixerConfigResource, PathsResource
from pipelines.state import state_dir

DAGSTER_YAML = """\
# Embedded Dagster instance for mixer: SQLite storage under this folder (the default).
# `mixer ingest` and `dagster dev` share it through DAGSTER_HOME.
telemetry:
  enabled: false
"""


@dataclass(frozen=True)
class ArtistOutcome:
    """What one artist's run produced, or why it failed."""

    artist: str
    songs: int = 0
    skipped_files: int = 0
    segments: int = 0
    recipes: int = 0
    failed_checks: tuple[str, ...] = ()
    error: str | None = None
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed_checks


@dataclass(frozen=True)
class IngestReport:
    artists: list[ArtistOutcome]
    dataset_file: Path | None
    dataset_rows: int = 0
    dataset_error: str | None = None
    skipped_folders: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[ArtistOutcome]:
        return [outcome for outcome in self.artists if not outcome.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and self.dataset_error is None


def embedded_instance(state_dir: Path) -> DagsterInstance:
    """The persistent SQLite instance under ``state_dir/dagster`` (made on first use).

    Sets ``DAGSTER_HOME`` for this process, so that everything Dagster starts from here
    (and `dagster dev` pointed at the same folder) sees the same runs and partitions.
    """
    home = (Path(state_dir) / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def default_instance() -> DagsterInstance:
    """The instance the CLI works on: ``$DAGSTER_HOME``'s when set, else the embedded one.

    One function for every command, so ingest, training and evaluation of one CLI call
    always land in the same instance.
    """
    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    return embedded_instance(state_dir())


def discover_artists(data_dir: Path) -> tuple[list[str], list[str]]:
    """(artist folders holding at least one song file, other folders that were passed over)."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: raw data folder does not exist")
    artists, passed_over = [], []
    for folder in folder_entries(data_dir):
        if not folder.is_dir():
            continue
        if is_artist_name(folder.name) and any(map(is_song_file, folder.iterdir())):
            artists.append(folder.name)
        else:
            passed_over.append(folder.name)
    return artists, passed_over


def _metadata_value(result: ExecuteInProcessResult, node: str, key: str) -> int:
    materializations = result.asset_materializations_for_node(node)
    if not materializations:
        return 0
    entry = materializations[-1].metadata.get(key)
    return int(entry.value) if entry is not None else 0


def failure_message(result: ExecuteInProcessResult) -> str:
    """The failing steps' own messages (a ``Failure``'s description, else the root cause)."""
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data if data else None
        if user is not None and user.description:
            messages.append(f"{event.step_key}: {user.description}")
        elif data is not None and data.error is not None:
            error = data.error
            while error.cause is not None:
                error = error.cause
            messages.append(f"{event.step_key}: {error.message.strip()}")
    return "; ".join(messages) or f"run {result.run_id} failed"


def _outcome(artist: str, result: ExecuteInProcessResult) -> ArtistOutcome:
    failed = tuple(
        sorted(
            f"{e.asset_key.to_user_string()}:{e.check_name}"
            for e in result.get_asset_check_evaluations()
            if not e.passed
        )
    )
    return ArtistOutcome(
        artist=artist,
        songs=_metadata_value(result, "raw_audio", "songs"),
        skipped_files=_metadata_value(result, "raw_audio", "skipped"),
        segments=_metadata_value(result, "segments", "segments"),
        recipes=_metadata_value(result, "augmentation_manifest", "recipes"),
        failed_checks=failed,
        error=None if result.success else failure_message(result),
        run_id=result.run_id,
    )


def _run_config(limit: int | None) -> dict[str, object]:
    return {
        "ops": {"raw_audio": {"config": {"max_songs": limit}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }


def ingest(
    data_dir: Path,
    processed_dir: Path,
    dataset_file: Path,
    config_path: Path | None,
    artists: Sequence[str] | None = None,
    limit: int | None = None,
    instance: DagsterInstance | None = None,
) -> IngestReport:
    """Materialize the data stages per artist, then write the combined dataset file.

    ``artists`` defaults to every folder of ``data_dir`` holding a song file; a named
    artist without such a folder is reported as failed. ``instance`` defaults to
    :func:`default_instance`.
    """
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be a positive number of songs per artist, got {limit}")
    data_dir, processed_dir, dataset_file = Path(data_dir), Path(processed_dir), Path(dataset_file)
    found, passed_over = discover_artists(data_dir)
    selected = list(artists) if artists is not None else found
    instance = instance or default_instance()
    existing = set(instance.get_dynamic_partitions(ARTIST_PARTITIONS_NAME))
    to_add = [a for a in selected if a not in existing and is_artist_name(a)]
    if to_add:
        instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, to_add)

    resources = {
        "paths": PathsResource(
            raw_dir=str(data_dir), processed_dir=str(processed_dir), dataset_file=str(dataset_file)
        ),
        "mixer_config": (
            MixerConfigResource(path=str(config_path)) if config_path else MixerConfigResource()
        ),
    }
    outcomes: list[ArtistOutcome] = []
    progress = tqdm(selected, desc="ingest", unit="artist")
    for artist in progress:
        progress.set_postfix_str(artist)
        if not is_artist_name(artist):
            outcomes.append(ArtistOutcome(artist, error=f"'{artist}' is not a valid artist name"))
            continue
        result = materialize(
            [*DATA_ASSETS, *DATA_CHECKS],
            partition_key=artist,
            instance=instance,
            resources=resources,
            run_config=_run_config(limit),
            raise_on_error=False,
            tags={"mixer/trigger": "mixer ingest"},
        )
        outcomes.append(_outcome(artist, result))

    try:
        table = load_training_table(processed_dir)
    except (DatasetError, StageTableError) as exc:
        return IngestReport(outcomes, None, dataset_error=str(exc), skipped_folders=passed_over)
    write_dataset_file(table, dataset_file)
    return IngestReport(outcomes, dataset_file, len(table), skipped_folders=passed_over)
