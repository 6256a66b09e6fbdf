"""The artist folder sensor against real folders, a real (ephemeral) instance and cursor."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, DefaultSensorStatus, SensorResult, build_sensor_context
from hypothesis import given
from hypothesis import strategies as st

from assets.raw_audio import build_inventory
from mixer_core.data.tables import write_parquet_atomic
from pipelines.partitions import ARTIST_PARTITIONS_NAME, is_artist_name
from pipelines.resources import PathsResource
from pipelines.sensors import (
    SENSOR_STATUS_ENV,
    artist_folder_sensor,
    default_sensor_status,
    fingerprint,
)


class SensorHarness:
    """Evaluates the sensor tick after tick, carrying the cursor and applying partition adds
    the way the daemon does."""

    def __init__(self, raw_dir: Path, processed_dir: Path) -> None:
        self.instance = DagsterInstance.ephemeral()
        self.paths = PathsResource(raw_dir=str(raw_dir), processed_dir=str(processed_dir))
        self.cursor: str | None = None

    def tick(self) -> SensorResult:
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"paths": self.paths}
        )
        result = artist_folder_sensor(context)
        assert isinstance(result, SensorResult)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, request.partition_keys
            )
        self.cursor = result.cursor
        return result


def requested(result: SensorResult) -> list[str]:
    return sorted(request.partition_key for request in result.run_requests or [])


def added(result: SensorResult) -> list[str]:
    return sorted(key for r in result.dynamic_partitions_requests or [] for key in r.partition_keys)


@pytest.fixture
def harness(raw_library: Path, tmp_path: Path) -> SensorHarness:
    return SensorHarness(raw_library, tmp_path / "processed")


def first_song(folder: Path) -> Path:
    return sorted(folder.glob("*.wav"))[0]


def test_new_artists_get_a_partition_and_a_run(harness: SensorHarness, artists: list[str]) -> None:
    result = harness.tick()
    assert added(result) == artists
    assert requested(result) == artists
    assert artist_folder_sensor.job_name == "ingest"
    assert harness.instance.get_dynamic_partitions(ARTIST_PARTITIONS_NAME) == artists


@pytest.mark.reliability(
    case="the artist folder sensor evaluated twice on the same folders",
    outcome="the second tick requests no run and adds no partition (skipped, with the reason)",
)
def test_unchanged_tree_requests_nothing(harness: SensorHarness) -> None:
    harness.tick()
    again = harness.tick()
    assert requested(again) == [] and added(again) == []
    assert again.skip_reason is not None


def test_changed_song_requests_only_its_artist(
    harness: SensorHarness, raw_library: Path, artists: list[str]
) -> None:
    harness.tick()
    song = first_song(raw_library / artists[0])
    data = bytearray(song.read_bytes())
    data[-1] ^= 0xFF
    song.write_bytes(bytes(data))
    result = harness.tick()
    assert requested(result) == [artists[0]]
    assert added(result) == []


def test_touched_but_identical_song_requests_nothing(
    harness: SensorHarness, raw_library: Path, artists: list[str]
) -> None:
    harness.tick()
    song = first_song(raw_library / artists[1])
    stat = song.stat()
    os.utime(song, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert requested(harness.tick()) == []


def test_added_and_removed_songs_request_their_artist(
    harness: SensorHarness, raw_library: Path, artists: list[str]
) -> None:
    harness.tick()
    first, second = (raw_library / a for a in artists)
    first_song(first).unlink()
    assert requested(harness.tick()) == [artists[0]]
    shutil.copy(first_song(first), second / "a_new_song.wav")
    assert requested(harness.tick()) == [artists[1]]
    assert requested(harness.tick()) == []


def test_reserved_hidden_and_songless_folders_are_ignored_until_they_hold_a_song(
    harness: SensorHarness, raw_library: Path, artists: list[str]
) -> None:
    song = first_song(raw_library / artists[0])
    for reserved in ("_inventory", ".cache"):
        (raw_library / reserved).mkdir()
        shutil.copy(song, raw_library / reserved / "x.wav")
    newcomer = raw_library / "newcomer"
    newcomer.mkdir()
    (newcomer / "notes.txt").write_text("lyrics")
    assert requested(harness.tick()) == artists

    shutil.copy(song, newcomer / "first.wav")
    result = harness.tick()
    assert added(result) == ["newcomer"]
    assert requested(result) == ["newcomer"]


def test_folders_already_ingested_are_recognised_from_their_inventory(
    harness: SensorHarness, raw_library: Path, artists: list[str]
) -> None:
    """A fresh cursor (first tick, or a reset) must not re-ingest an unchanged artist."""
    done, pending = artists
    harness.instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, artists)
    inventory = build_inventory(raw_library / done, done)
    write_parquet_atomic(inventory, harness.paths.inventory_path(done))
    result = harness.tick()
    assert requested(result) == [pending]
    assert added(result) == []


def test_missing_raw_folder_is_a_skip(tmp_path: Path) -> None:
    harness = SensorHarness(tmp_path / "nowhere", tmp_path / "processed")
    result = harness.tick()
    assert requested(result) == []
    assert "nowhere" in (result.skip_reason.skip_message or "")


def test_default_status_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SENSOR_STATUS_ENV, raising=False)
    assert default_sensor_status() is DefaultSensorStatus.RUNNING
    monkeypatch.setenv(SENSOR_STATUS_ENV, "stopped")
    assert default_sensor_status() is DefaultSensorStatus.STOPPED
    monkeypatch.setenv(SENSOR_STATUS_ENV, "paused")
    with pytest.raises(ValueError, match=SENSOR_STATUS_ENV):
        default_sensor_status()


shas = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
folders = st.dictionaries(st.text(min_size=1, max_size=12), shas, min_size=1, max_size=8)


@given(files=folders, data=st.data())
def test_fingerprint_ignores_listing_order_and_sees_any_change(
    files: dict[str, str], data: st.DataObject
) -> None:
    shuffled = dict(data.draw(st.permutations(list(files.items()))))
    assert fingerprint(shuffled) == fingerprint(files)
    name = data.draw(st.sampled_from(sorted(files)))
    edited = {**files, name: data.draw(shas.filter(lambda sha: sha != files[name]))}
    assert fingerprint(edited) != fingerprint(files)
    removed = {k: v for k, v in files.items() if k != name}
    assert fingerprint(removed) != fingerprint(files)
    renamed = {**removed, name + "_2": files[name]}
    assert fingerprint(renamed) != fingerprint(files)


@pytest.mark.parametrize("name", ["_inventory", ".git", "a...b", "tab\tname", ""])
def test_reserved_or_invalid_folder_names_are_not_artists(name: str) -> None:
    assert not is_artist_name(name)
