"""The three data stages and their checks, materialized for real on an ephemeral instance.

Layout of the raw folder: the two generated artists, ``mixed`` (one good song, a corrupt
file, a zero-length file, a text file named ``.wav`` and a ``.txt``) and ``broken``
(only bad files). Everything runs once per module; tests read the results.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetSelection,
    DagsterInstance,
    ExecuteInProcessResult,
    materialize,
)

from assets import DATA_ASSETS, DATA_CHECKS
from assets.data_checks import index_matches_files, one_split_per_song
from mixer_core.config import Config
from mixer_core.language.grammar import parse
from pipelines.ingest import embedded_instance, ingest
from pipelines.partitions import ARTIST_PARTITIONS_NAME
from pipelines.resources import MixerConfigResource, PathsResource
from tests.conftest import tree_snapshot

BAD_FILES = {
    "corrupt.wav": b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 4,
    "empty.flac": b"",
    "lyrics.wav": b"these are the lyrics, not audio\n",
}


def make_raw_tree(root: Path, sample_library: Path, artists: list[str]) -> Path:
    shutil.copytree(sample_library, root)
    mixed = root / "mixed"
    mixed.mkdir()
    shutil.copy(sorted((root / artists[0]).glob("*.wav"))[0], mixed / "good_song.wav")
    (mixed / "cover.txt").write_text("not a song")
    broken = root / "broken"
    broken.mkdir()
    for name, content in BAD_FILES.items():
        (mixed / name).write_bytes(content)
        (broken / name).write_bytes(content)
    return root


def file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@dataclass
class Ingested:
    raw: Path
    paths: PathsResource
    resources: dict[str, object]
    instance: DagsterInstance
    results: dict[str, ExecuteInProcessResult]
    raw_before: dict[str, tuple[int, int, bytes]]

    def run(self, artist: str, **kwargs: object) -> ExecuteInProcessResult:
        return materialize(
            [*DATA_ASSETS, *DATA_CHECKS],
            partition_key=artist,
            instance=self.instance,
            resources=self.resources,
            raise_on_error=False,
            **kwargs,
        )

    def metadata(self, artist: str, node: str) -> dict[str, object]:
        (event,) = self.results[artist].asset_materializations_for_node(node)
        return {key: value.value for key, value in event.metadata.items()}


@pytest.fixture(scope="module")
def ingested(
    tmp_path_factory: pytest.TempPathFactory,
    sample_library: Path,
    tiny_config_path: Path,
) -> Ingested:
    root = tmp_path_factory.mktemp("ingest")
    artists = sorted(p.name for p in sample_library.iterdir() if p.is_dir())
    raw = make_raw_tree(root / "raw", sample_library, artists)
    paths = PathsResource(raw_dir=str(raw), processed_dir=str(root / "processed"))
    resources = {"paths": paths, "mixer_config": MixerConfigResource(path=str(tiny_config_path))}
    instance = DagsterInstance.ephemeral()
    keys = [*artists, "mixed", "broken"]
    instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, keys)
    state = Ingested(raw, paths, resources, instance, {}, tree_snapshot(raw))
    state.results = {artist: state.run(artist) for artist in keys}
    return state


def test_generated_artists_pass_every_stage_and_check(
    ingested: Ingested, artists: list[str], tiny_config: Config
) -> None:
    for artist in artists:
        result = ingested.results[artist]
        assert result.success, artist
        checks = result.get_asset_check_evaluations()
        assert {c.check_name for c in checks} == {c.check_key.name for c in DATA_CHECKS}
        assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]

        raw = ingested.metadata(artist, "raw_audio")
        assert raw["songs"] == 2 and raw["skipped"] == 0
        assert raw["total_duration_s"] == pytest.approx(12.0, abs=0.01)

        index = pd.read_parquet(ingested.paths.segment_index_path(artist))
        seg = ingested.metadata(artist, "segments")
        assert seg["segments"] == len(index) > 0
        assert seg["lufs_histogram"].startswith("![segment loudness](data:image/png;base64,")
        assert set(index["artist"]) == {artist}
        assert (index["duration_s"] == tiny_config.data.segment_seconds).all()

        manifest = pd.read_parquet(ingested.paths.manifest_path(artist))
        recipes_per_segment = tiny_config.augmentation.recipes_per_segment
        assert len(manifest) == recipes_per_segment * len(index)
        assert ingested.metadata(artist, "augmentation_manifest")["recipes"] == len(manifest)
        assert set(manifest["segment_id"]) == set(index["segment_id"])
        assert set(manifest["split"]) <= {"train", "val", "test"}
        assert (manifest.groupby("song")["split"].nunique() == 1).all()
        for target in manifest["target"]:
            parse(target)
    # the last manifest shows the split of every artist materialized before it and its own
    last = ingested.metadata(artists[-1], "augmentation_manifest")
    assert last["corpus_split_by"] == "song"  # fewer artists than data.split.auto_artists
    sizes = last["corpus_split_sizes"]
    assert "| train" in sizes and "| test" in sizes and "artists" in sizes
    assert "songs of" in last["corpus_evidence"]


def test_bad_files_are_skipped_with_reasons(ingested: Ingested) -> None:
    result = ingested.results["mixed"]
    assert result.success
    assert ingested.metadata("mixed", "raw_audio")["songs"] == 1
    inventory = pd.read_parquet(ingested.paths.inventory_path("mixed"))
    reasons = dict(zip(inventory["file"], inventory["error"], strict=True))
    assert pd.isna(reasons["good_song.wav"])
    assert set(reasons) == {"good_song.wav", "cover.txt", *BAD_FILES}
    assert "not an audio file" in reasons["cover.txt"]
    for name in BAD_FILES:
        assert reasons[name], name
    assert "empty" in reasons["empty.flac"].lower()
    skipped_table = ingested.metadata("mixed", "raw_audio")["skipped_files"]
    for name in ("cover.txt", *BAD_FILES):
        assert name in skipped_table
    index = pd.read_parquet(ingested.paths.segment_index_path("mixed"))
    assert set(index["song"]) == {"good_song"}


def test_artist_with_only_bad_files_fails_naming_the_folder(ingested: Ingested) -> None:
    result = ingested.results["broken"]
    assert not result.success
    (failure,) = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert str(ingested.raw / "broken") in description
    assert "no readable song" in description
    assert not ingested.paths.inventory_path("broken").exists()
    assert not ingested.paths.artist_processed_dir("broken").exists()


def test_raw_tree_is_untouched(ingested: Ingested) -> None:
    assert tree_snapshot(ingested.raw) == ingested.raw_before


def test_rematerializing_one_artist_leaves_another_byte_identical(
    ingested: Ingested, artists: list[str]
) -> None:
    first, second = artists
    paths = ingested.paths
    folder = paths.artist_processed_dir(second)
    tables = [paths.inventory_path(second), paths.manifest_path(second)]
    watched = [folder, *folder.rglob("*"), *tables]
    hashes_before = {**file_hashes(folder), **{t.name: t.read_bytes() for t in tables}}
    mtimes_before = {p: p.stat().st_mtime_ns for p in watched}
    index_before = pd.read_parquet(paths.segment_index_path(first))

    assert ingested.run(first).success

    assert {**file_hashes(folder), **{t.name: t.read_bytes() for t in tables}} == hashes_before
    assert {p: p.stat().st_mtime_ns for p in watched} == mtimes_before
    pd.testing.assert_frame_equal(pd.read_parquet(paths.segment_index_path(first)), index_before)


def copy_processed(ingested: Ingested, tmp_path: Path) -> dict[str, object]:
    processed = Path(shutil.copytree(ingested.paths.processed_path, tmp_path / "processed"))
    paths = PathsResource(raw_dir=str(ingested.raw), processed_dir=str(processed))
    return {**ingested.resources, "paths": paths}


def run_check(ingested: Ingested, resources: dict[str, object], check, artist: str) -> bool:
    """Run one check alone for one partition, as the UI's "Execute check" does.

    A check-only selection has no asset to take the partitions from, so the partition
    travels as the run's ``dagster/partition`` tag.
    """
    result = materialize(
        [*DATA_ASSETS, *DATA_CHECKS],
        selection=AssetSelection.checks(check),
        instance=ingested.instance,
        resources=resources,
        tags={"dagster/partition": artist},
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.partition == artist
    return evaluation.passed


def test_index_check_fails_when_a_segment_file_is_deleted(
    ingested: Ingested, artists: list[str], tmp_path: Path
) -> None:
    resources = copy_processed(ingested, tmp_path)
    artist = artists[0]
    assert run_check(ingested, resources, index_matches_files, artist)
    paths = resources["paths"]
    index = pd.read_parquet(paths.segment_index_path(artist))
    (paths.processed_path / index["segment_path"].iloc[0]).unlink()
    assert not run_check(ingested, resources, index_matches_files, artist)


def test_split_check_fails_when_a_song_straddles_two_splits(
    ingested: Ingested, artists: list[str], tmp_path: Path
) -> None:
    resources = copy_processed(ingested, tmp_path)
    artist = artists[1]
    assert run_check(ingested, resources, one_split_per_song, artist)
    path = resources["paths"].manifest_path(artist)
    manifest = pd.read_parquet(path)
    row = manifest.index[0]
    manifest.loc[row, "split"] = "test" if manifest.loc[row, "split"] != "test" else "train"
    manifest.to_parquet(path, index=False)
    assert not run_check(ingested, resources, one_split_per_song, artist)


def test_ingest_materializes_each_artist_and_writes_the_dataset(
    tmp_path: Path, sample_library: Path, artists: list[str], tiny_config_path: Path
) -> None:
    raw = make_raw_tree(tmp_path / "raw", sample_library, artists)
    dataset_file = tmp_path / "out" / "dataset.parquet"
    instance = DagsterInstance.ephemeral()
    report = ingest(
        raw, tmp_path / "processed", dataset_file, tiny_config_path, limit=1, instance=instance
    )

    outcomes = {o.artist: o for o in report.artists}
    assert sorted(outcomes) == sorted([*artists, "mixed", "broken"])
    assert [o.artist for o in report.failures] == ["broken"]
    assert "no readable song" in outcomes["broken"].error
    for artist in artists:
        assert outcomes[artist].songs == 1 and outcomes[artist].skipped_files == 1
    assert set(instance.get_dynamic_partitions(ARTIST_PARTITIONS_NAME)) == set(outcomes)

    table = pd.read_parquet(dataset_file)
    assert report.dataset_rows == len(table) == sum(o.recipes for o in report.artists)
    assert {"recipe_id", "split", "segment_path", "target", "prompt"} <= set(table.columns)
    assert len(table[["artist", "song"]].drop_duplicates()) == 3
    for artist in artists:
        inventory = pd.read_parquet(tmp_path / "processed" / "_inventory" / f"{artist}.parquet")
        assert inventory["error"].str.contains("song limit").sum() == 1
    runs = instance.get_runs()
    assert len(runs) == len(outcomes)


def test_embedded_instance_is_persistent_under_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    instance = embedded_instance(tmp_path / "state")
    home = tmp_path / "state" / "dagster"
    assert os.environ["DAGSTER_HOME"] == str(home.resolve())
    assert (home / "dagster.yaml").is_file()
    assert instance.is_persistent
    instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, ["someone"])
    assert DagsterInstance.from_config(str(home)).get_dynamic_partitions(
        ARTIST_PARTITIONS_NAME
    ) == ["someone"]


def test_the_environment_set_by_one_test_is_gone_in_the_next() -> None:
    """``test_embedded_instance_is_persistent_under_the_state_dir`` set DAGSTER_HOME to its
    temp folder; the autouse fixture of conftest restores the environment after it."""
    assert "pytest-" not in os.environ.get("DAGSTER_HOME", "")
