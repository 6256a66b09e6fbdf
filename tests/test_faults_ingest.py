"""Faults of the data stages, done for real: a killed ingest, corrupt tables, a race.

- ``mixer ingest`` runs as a real process on a persistent Dagster instance (SQLite in a
  temp ``MIXER_STATE_DIR``) and is SIGKILLed while it writes an artist's segments;
- a stage's parquet table (segment index, manifest, inventory) is truncated or
  overwritten with garbage, and the stage that reads it runs for real;
- two processes materialize ``segments`` of one partition at once, released together
  from a barrier, each with its own configuration so that their versions differ.

The artist of the kill and race tests has long songs, so that its segments take a few
seconds to write: long enough to be caught in the middle.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from dagster import (
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    ExecuteInProcessResult,
    materialize,
)

from assets import DATA_ASSETS, DATA_CHECKS
from mixer_core.audio.io import read_audio, write_audio
from mixer_core.config import load_config
from mixer_core.data import atomic
from mixer_core.data.segmenting import INDEX_NAME, write_artist_segments
from mixer_core.data.tables import StageTableError
from mixer_core.training.data import load_training_table
from pipelines.ingest import IngestReport, embedded_instance, failure_message, ingest
from pipelines.partitions import ARTIST_PARTITIONS_NAME
from pipelines.resources import MixerConfigResource, PathsResource
from tests.conftest import TINY_OVERRIDES, write_config
from tests.test_sensor import SensorHarness, requested

LONG_ARTIST = "long_player"
LONG_SONGS = 8
LONG_SONG_SECONDS = 40.0
PROCESS_TIMEOUT_S = 300.0
KILL_WAIT_S = 240.0

CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: random.Random(len(data)).randbytes(len(data)),
}


def corrupt(path: Path, how: str) -> None:
    path.write_bytes(CORRUPTIONS[how](path.read_bytes()))


def file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def audio_digests(root: Path) -> dict[str, str]:
    """Decoded samples of each WAV under ``root``: libsndfile stamps the write time into
    float WAV headers, so equal audio written at another second has other bytes."""
    digests = {}
    for path in sorted(root.rglob("*.wav")):
        samples, rate = soundfile.read(str(path), dtype="float32")
        digest = hashlib.sha256(samples.tobytes())
        digest.update(str(rate).encode())
        digests[path.relative_to(root).as_posix()] = digest.hexdigest()
    return digests


def assert_consistent(processed: Path, artist: str) -> pd.DataFrame:
    """The artist's index reads, and it and the audio files on disk are one version:
    the same set of files, each readable, at the indexed rate and length."""
    index = pd.read_parquet(processed / artist / INDEX_NAME)
    on_disk = {p.relative_to(processed).as_posix() for p in (processed / artist).rglob("*.wav")}
    assert set(index["segment_path"]) == on_disk
    for row in index.itertuples(index=False):
        info = soundfile.info(str(processed / row.segment_path))
        assert info.samplerate == row.sample_rate
        assert info.frames == round(row.duration_s * row.sample_rate)
    return index


def leftovers(processed: Path) -> list[str]:
    """Entries a writer leaves only when it dies mid-way: hidden staging, aside and lock
    names, and temporary files of the atomic table writes."""
    return sorted(
        path.relative_to(processed).as_posix()
        for path in processed.rglob("*")
        if path.name.startswith(".") or path.suffix == ".tmp"
    )


def test_without_an_atomic_exchange_two_renames_replace_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_library: Path, tiny_config_path: Path
) -> None:
    """Where ``renameat2`` cannot exchange (macOS, NFS), the fallback swap still leaves
    one whole version and nothing aside."""
    monkeypatch.setattr(atomic, "exchange", lambda first, second: False)
    data_cfg = load_config(tiny_config_path).data
    folder = min(p for p in sample_library.iterdir() if p.is_dir())
    songs = [(p.stem, p) for p in sorted(folder.glob("*.wav"))]
    processed = tmp_path / "processed"
    write_artist_segments(songs, "someone", processed, data_cfg)
    frame = write_artist_segments(songs[:1], "someone", processed, data_cfg)

    pd.testing.assert_frame_equal(assert_consistent(processed, "someone"), frame)
    assert set(frame["song"]) == {songs[0][0]}
    assert sorted(p.name for p in processed.iterdir()) == ["someone"]


# ---------------------------------------------------------------- corrupt stage tables


@dataclass
class Corpus:
    """Two generated artists ingested once on an ephemeral instance; tests corrupt a copy."""

    raw: Path
    processed: Path
    config: Path
    artists: list[str]
    instance: DagsterInstance

    def copy(self, tmp_path: Path) -> tuple[PathsResource, dict[str, object]]:
        processed = shutil.copytree(self.processed, tmp_path / "processed")
        paths = PathsResource(raw_dir=str(self.raw), processed_dir=str(processed))
        return paths, {"paths": paths, "mixer_config": MixerConfigResource(path=str(self.config))}

    def run(
        self, resources: dict[str, object], artist: str, *assets: str
    ) -> ExecuteInProcessResult:
        """Materialize ``assets`` (default: every data stage and check) of one partition."""
        return materialize(
            [*DATA_ASSETS, *DATA_CHECKS],
            selection=AssetSelection.assets(*assets) if assets else None,
            partition_key=artist,
            instance=self.instance,
            resources=resources,
            raise_on_error=False,
        )


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory, sample_library: Path, tiny_config_path: Path
) -> Corpus:
    root = tmp_path_factory.mktemp("corpus")
    artists = sorted(p.name for p in sample_library.iterdir() if p.is_dir())
    instance = DagsterInstance.ephemeral()
    report = ingest(
        sample_library,
        root / "processed",
        root / "dataset.parquet",
        tiny_config_path,
        instance=instance,
    )
    assert report.ok, report
    return Corpus(sample_library, root / "processed", tiny_config_path, artists, instance)


@pytest.mark.reliability(
    case="segment index (`<artist>/segments.parquet`) truncated or overwritten with garbage "
    "(both tried)",
    outcome="`augmentation_manifest` and the training table fail naming the file and "
    "`segments`; the manifest is kept; re-materializing `segments` repairs it",
)
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_segment_index_is_named_and_rematerializing_segments_repairs_it(
    corpus: Corpus, tmp_path: Path, how: str
) -> None:
    paths, resources = corpus.copy(tmp_path)
    artist = corpus.artists[0]
    index_path = paths.segment_index_path(artist)
    index_before = pd.read_parquet(index_path)
    manifest_before = paths.manifest_path(artist).read_bytes()
    corrupt(index_path, how)

    result = corpus.run(resources, artist, "augmentation_manifest")
    assert not result.success
    message = failure_message(result)
    assert str(index_path) in message, message
    assert f"re-materialize segments for artist '{artist}'" in message, message
    assert paths.manifest_path(artist).read_bytes() == manifest_before
    with pytest.raises(StageTableError, match="re-materialize segments for artist") as caught:
        load_training_table(paths.processed_path)
    assert caught.value.path == index_path

    assert corpus.run(resources, artist, "segments", "augmentation_manifest").success
    pd.testing.assert_frame_equal(assert_consistent(paths.processed_path, artist), index_before)
    assert set(load_training_table(paths.processed_path)["artist"]) == set(corpus.artists)


@pytest.mark.reliability(
    case="recipe manifest (`_manifests/<artist>.parquet`) truncated or overwritten with "
    "garbage (both tried)",
    outcome="`mixer ingest` of another artist reports the file and `augmentation_manifest`, "
    "writes no dataset file; `mixer ingest --artist` of its artist repairs it",
)
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_manifest_is_named_and_ingesting_its_artist_repairs_it(
    corpus: Corpus, tmp_path: Path, how: str
) -> None:
    paths, _ = corpus.copy(tmp_path)
    broken, other = corpus.artists
    manifest_path = paths.manifest_path(broken)
    manifest_before = pd.read_parquet(manifest_path)
    corrupt(manifest_path, how)
    dataset = tmp_path / "dataset.parquet"

    def ingest_one(artist: str) -> IngestReport:
        processed, instance = paths.processed_path, corpus.instance
        return ingest(corpus.raw, processed, dataset, corpus.config, [artist], None, instance)

    report = ingest_one(other)
    assert not report.failures
    assert report.dataset_error is not None and str(manifest_path) in report.dataset_error
    assert f"re-materialize augmentation_manifest for artist '{broken}'" in report.dataset_error
    assert not dataset.exists()

    report = ingest_one(broken)
    assert report.ok
    pd.testing.assert_frame_equal(pd.read_parquet(manifest_path), manifest_before)
    assert report.dataset_rows == len(pd.read_parquet(dataset)) > 0


@pytest.mark.reliability(
    case="raw inventory (`_inventory/<artist>.parquet`) truncated or overwritten with "
    "garbage (both tried)",
    outcome="`segments` fails naming the file and `raw_audio`, the segments kept; the sensor "
    "requests a run for that artist, which repairs it",
)
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupt_inventory_is_named_and_the_sensor_requests_the_run_that_repairs_it(
    corpus: Corpus, tmp_path: Path, how: str
) -> None:
    paths, resources = corpus.copy(tmp_path)
    broken = corpus.artists[0]
    inventory_path = paths.inventory_path(broken)
    inventory_before = pd.read_parquet(inventory_path)
    segments_before = file_hashes(paths.artist_processed_dir(broken))
    audio_before = audio_digests(paths.artist_processed_dir(broken))
    corrupt(inventory_path, how)

    result = corpus.run(resources, broken, "segments")
    assert not result.success
    message = failure_message(result)
    assert str(inventory_path) in message, message
    assert f"re-materialize raw_audio for artist '{broken}'" in message, message
    assert file_hashes(paths.artist_processed_dir(broken)) == segments_before

    def fresh_sensor_tick() -> list[str]:
        harness = SensorHarness(corpus.raw, paths.processed_path)
        harness.instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, corpus.artists)
        result = harness.tick()
        assert not result.dynamic_partitions_requests
        triggers = {r.partition_key: r.tags["mixer/trigger"] for r in result.run_requests or []}
        assert set(triggers.values()) <= {"inventory unreadable"}, triggers
        return requested(result)

    assert fresh_sensor_tick() == [broken]
    assert corpus.run(resources, broken).success
    pd.testing.assert_frame_equal(pd.read_parquet(inventory_path), inventory_before)
    assert audio_digests(paths.artist_processed_dir(broken)) == audio_before
    assert fresh_sensor_tick() == []


# ------------------------------------------------------- killed and racing processes


@pytest.fixture(scope="module")
def long_raw(tmp_path_factory: pytest.TempPathFactory, sample_library: Path) -> Path:
    """``<raw>/long_player/`` with songs long enough that segmenting takes seconds."""
    raw = tmp_path_factory.mktemp("long_raw")
    folder = raw / LONG_ARTIST
    folder.mkdir()
    sources = sorted(sample_library.glob("*/*.wav"))
    for number in range(LONG_SONGS):
        audio, rate = read_audio(sources[number % len(sources)])
        repeats = int(np.ceil(LONG_SONG_SECONDS * rate / audio.shape[1]))
        long = np.tile(audio, repeats)[:, : round(LONG_SONG_SECONDS * rate)]
        write_audio(folder / f"song_{number:02d}.wav", long, rate, subtype="PCM_16")
    return raw


def mixer_ingest(state: Path, raw: Path, processed: Path, config: Path) -> list[str]:
    exe = shutil.which("mixer", path=str(Path(sys.executable).parent)) or "mixer"
    return [
        exe,
        "ingest",
        "--data_dir",
        str(raw),
        "--processed_dir",
        str(processed),
        "--dataset_file",
        str(state / "dataset.parquet"),
        "--artist",
        LONG_ARTIST,
        "--config",
        str(config),
    ]


def environment(state: Path) -> dict[str, str]:
    """The state folder's persistent instance (not the tests' ``DAGSTER_HOME``, if any)."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {**env, "MIXER_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1"}


def run_to_end(command: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def wait_for_segments_being_written(process: subprocess.Popen, staging: Path) -> None:
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ingest ended ({process.returncode}) before it wrote a segment")
        if staging.is_dir() and any(staging.rglob("*.wav")):
            return
        time.sleep(0.005)
    pytest.fail(f"no segment appeared in {staging} within {KILL_WAIT_S} s")


@pytest.mark.slow
@pytest.mark.reliability(
    case="`mixer ingest` SIGKILLed while it writes an artist's segments",
    outcome="the previous version of the partition (index and files) is intact; the next "
    "run completes it and clears what the killed run left",
)
def test_ingest_killed_mid_partition_keeps_the_previous_version_and_the_next_run_completes(
    tmp_path: Path, long_raw: Path, tiny_config_path: Path
) -> None:
    state, processed = tmp_path / "state", tmp_path / "processed"
    songs = sorted((long_raw / LONG_ARTIST).glob("*.wav"))
    command = mixer_ingest(state, long_raw, processed, tiny_config_path)
    env = environment(state)

    instance = embedded_instance(state)
    dataset = state / "dataset.parquet"
    report = ingest(long_raw, processed, dataset, tiny_config_path, limit=2, instance=instance)
    assert report.ok, report
    previous = file_hashes(processed / LONG_ARTIST)
    previous_index = assert_consistent(processed, LONG_ARTIST)
    assert set(previous_index["song"]) == {song.stem for song in songs[:2]}

    process = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_segments_being_written(process, processed / f".{LONG_ARTIST}.staging")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    assert file_hashes(processed / LONG_ARTIST) == previous
    pd.testing.assert_frame_equal(assert_consistent(processed, LONG_ARTIST), previous_index)
    assert f".{LONG_ARTIST}.staging" in leftovers(processed)

    run_to_end(command, env, tmp_path)
    index = assert_consistent(processed, LONG_ARTIST)
    assert set(index["song"]) == {song.stem for song in songs}
    assert leftovers(processed) == []
    assert len(instance.get_runs()) == 3


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from dagster import AssetSelection, DagsterInstance, materialize

    from assets import DATA_ASSETS, DATA_CHECKS
    from pipelines.resources import MixerConfigResource, PathsResource

    raw, processed, config, artist, ready, go = sys.argv[1:]
    instance = DagsterInstance.get()
    resources = {
        "paths": PathsResource(raw_dir=raw, processed_dir=processed),
        "mixer_config": MixerConfigResource(path=config),
    }
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.002)
    result = materialize(
        [*DATA_ASSETS, *DATA_CHECKS],
        selection=AssetSelection.assets("segments"),
        partition_key=artist,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    print(result.run_id)
    sys.exit(0 if result.success else 1)
    """
)


def step_span(instance: DagsterInstance, run_id: str) -> tuple[float, float]:
    """When the run's ``segments`` step started and succeeded (event-log timestamps)."""

    def at(kind: DagsterEventType) -> float:
        (record,) = [
            r
            for r in instance.all_logs(run_id, of_type=kind)
            if r.dagster_event is not None and r.dagster_event.step_key == "segments"
        ]
        return record.timestamp

    return at(DagsterEventType.STEP_START), at(DagsterEventType.STEP_SUCCESS)


@pytest.mark.slow
@pytest.mark.reliability(
    case="two processes materialize `segments` of the same partition at once",
    outcome="both succeed, one after the other; the index and files are exactly the later "
    "one's complete version, never a mix; no half-written file is left",
)
def test_two_materializations_of_one_partition_at_once_leave_exactly_one_version(
    tmp_path: Path, long_raw: Path, tiny_config_path: Path
) -> None:
    processed = tmp_path / "processed"
    hop = {"coarse": tiny_config_path}
    fine_overrides = {**TINY_OVERRIDES, "data": {**TINY_OVERRIDES["data"], "hop_seconds": 1.0}}
    hop["fine"] = write_config(tmp_path / "fine.yaml", fine_overrides)

    instance = embedded_instance(tmp_path / "state")
    instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, [LONG_ARTIST])
    paths = PathsResource(raw_dir=str(long_raw), processed_dir=str(processed))
    resources = {"paths": paths, "mixer_config": MixerConfigResource(path=str(tiny_config_path))}
    first = materialize(
        [*DATA_ASSETS, *DATA_CHECKS],
        selection=AssetSelection.assets("raw_audio"),
        partition_key=LONG_ARTIST,
        instance=instance,
        resources=resources,
    )
    assert first.success

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    go = tmp_path / "go"
    racers = {}
    for name, config in hop.items():
        ready = tmp_path / f"{name}.ready"
        arguments = [str(long_raw), str(processed), str(config), LONG_ARTIST, str(ready), str(go)]
        racers[name] = (
            subprocess.Popen(
                [sys.executable, "-c", RACER, *arguments],
                env=env,
                cwd=Path(__file__).resolve().parents[1],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            ),
            ready,
        )
    try:
        deadline = time.monotonic() + PROCESS_TIMEOUT_S
        while not all(ready.exists() for _, ready in racers.values()):
            for process, _ in racers.values():
                assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the racers did not get ready"
            time.sleep(0.01)
        go.touch()
        outputs = {
            name: p.communicate(timeout=PROCESS_TIMEOUT_S) for name, (p, _) in racers.items()
        }
    finally:
        for process, _ in racers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
    for name, (process, _) in racers.items():
        assert process.returncode == 0, outputs[name][1][-4000:]
    spans = {name: step_span(instance, out.split()[-1]) for name, (out, _) in outputs.items()}
    (start_a, end_a), (start_b, end_b) = spans.values()
    assert start_a < end_b and start_b < end_a, f"the two steps did not overlap: {spans}"

    later = max(spans, key=lambda name: spans[name][1])
    reference = tmp_path / "reference"
    songs = [(p.stem, p) for p in sorted((long_raw / LONG_ARTIST).glob("*.wav"))]
    expected = write_artist_segments(songs, LONG_ARTIST, reference, load_config(hop[later]).data)
    pd.testing.assert_frame_equal(assert_consistent(processed, LONG_ARTIST), expected)
    assert audio_digests(processed / LONG_ARTIST) == audio_digests(reference / LONG_ARTIST)
    assert leftovers(processed) == []
