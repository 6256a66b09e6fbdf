"""``artist_folder_sensor``: turns changes under the raw data folder into ingest runs.

Every tick it scans ``<raw_dir>/*/`` (the paths resource's ``raw_dir``):

- a folder is an artist once it holds at least one song file (see
  ``assets.raw_audio.is_song_file``); folders starting with ``_`` or ``.`` are ignored;
- a new artist gets a dynamic partition and an ``ingest`` run for that partition;
- an artist whose songs were added, removed or changed gets an ``ingest`` run for that
  partition only; other artists are left alone;
- an unchanged tree requests nothing (the tick is skipped with a reason).

Change detection is by content: the cursor keeps, per artist, each song's size, mtime and
sha256, and a fingerprint (sha256 over the sorted ``name``/``sha256`` pairs). A file is
re-hashed only when its size or mtime moved, so a steady tree costs one ``stat`` per song;
a file that was only touched hashes the same and triggers nothing. For an artist the
cursor has never seen (first tick, or after a cursor reset) the fingerprint is compared
with the sha256 column of the artist's ``raw_audio`` inventory, so folders already
ingested (e.g. by ``mixer ingest``, whose ``--limit`` is thereby respected) do not run
again; an inventory that cannot be read (truncated, overwritten) gets a run, which
writes it again. Evaluating a tick twice on the same tree requests nothing the second
time. Hashing stops after ``SCAN_BUDGET_S`` seconds in one tick and resumes on the next,
so a first scan of a large library never hits the sensor timeout. A removed artist folder
is dropped from the cursor; its partition and processed files are kept.

Default status: the environment variable ``MIXER_SENSOR_DEFAULT_STATUS`` (``RUNNING`` or
``STOPPED``, read when the definitions load) sets whether the sensor starts running in a
fresh Dagster instance; unset means ``RUNNING``, so `dagster dev` reacts to new folders
out of the box. The status can always be toggled in the UI, which then takes precedence.
"""

import hashlib
import json
import os
import time
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.raw_audio import file_sha256, folder_entries, has_song_suffix, is_song_file
from mixer_core.data.tables import StageTableError, read_stage_table
from pipelines.jobs import ingest_job
from pipelines.partitions import ARTIST_PARTITIONS_NAME, artist_partitions, is_artist_name
from pipelines.resources import PathsResource

SENSOR_STATUS_ENV = "MIXER_SENSOR_DEFAULT_STATUS"
SCAN_BUDGET_S = 40.0
CURSOR_VERSION = 1

# name -> [size_bytes, mtime_ns, sha256]
FileStamps = dict[str, list]


def default_sensor_status() -> DefaultSensorStatus:
    """The status named by ``MIXER_SENSOR_DEFAULT_STATUS`` (default ``RUNNING``)."""
    value = os.environ.get(SENSOR_STATUS_ENV, "RUNNING").strip().upper()
    try:
        return DefaultSensorStatus(value)
    except ValueError:
        raise ValueError(f"{SENSOR_STATUS_ENV}={value!r}: expected RUNNING or STOPPED") from None


def scan_artist(folder: Path, previous: FileStamps) -> FileStamps:
    """Size, mtime and sha256 of each song in ``folder``, reusing hashes of unmoved files."""
    stamps: FileStamps = {}
    for path in folder_entries(folder):
        if not is_song_file(path):
            continue
        stat = path.stat()
        known = previous.get(path.name)
        if known is not None and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            sha = known[2]
        else:
            sha = file_sha256(path)
        stamps[path.name] = [stat.st_size, stat.st_mtime_ns, sha]
    return stamps


def fingerprint(shas: dict[str, str]) -> str:
    """One hash for a folder's songs: changes when a song is added, removed or edited."""
    digest = hashlib.sha256()
    for name in sorted(shas):
        digest.update(f"{name}\0{shas[name]}\n".encode())
    return digest.hexdigest()


def inventory_fingerprint(paths: PathsResource, artist: str) -> str | None:
    """The fingerprint of the songs the last ``raw_audio`` run of ``artist`` saw, if any.

    An inventory that cannot be read is a ``StageTableError``: the sensor then requests a
    run, whose ``raw_audio`` writes the inventory again.
    """
    path = paths.inventory_path(artist)
    if not path.is_file():
        return None
    inventory = read_stage_table(path, "raw_audio", artist, ["file", "sha256"])
    songs = inventory[inventory["file"].map(has_song_suffix)]
    if songs["sha256"].isna().any():
        return None
    return fingerprint(dict(zip(songs["file"], songs["sha256"], strict=True)))


def _load_cursor(cursor: str | None) -> dict[str, dict]:
    if not cursor:
        return {}
    state = json.loads(cursor)
    if state.get("version") != CURSOR_VERSION:
        return {}
    return state["artists"]


def _artist_folders(raw_dir: Path) -> list[Path]:
    return [p for p in folder_entries(raw_dir) if p.is_dir() and is_artist_name(p.name)]


@sensor(
    job=ingest_job,
    minimum_interval_seconds=30,
    default_status=default_sensor_status(),
    description=(
        "Adds an artist partition per new folder under the raw data dir and requests an "
        "ingest run for each new or changed artist (content fingerprints in the cursor)."
    ),
)
def artist_folder_sensor(context: SensorEvaluationContext, paths: PathsResource) -> SensorResult:
    raw_dir = paths.raw_path
    if not raw_dir.is_dir():
        return SensorResult(skip_reason=f"raw data folder {raw_dir} does not exist")

    previous = _load_cursor(context.cursor)
    known = set(context.instance.get_dynamic_partitions(ARTIST_PARTITIONS_NAME))
    deadline = time.monotonic() + SCAN_BUDGET_S
    state: dict[str, dict] = {}
    new_artists: list[str] = []
    run_requests: list[RunRequest] = []
    deferred: list[str] = []
    for folder in _artist_folders(raw_dir):
        artist = folder.name
        before = previous.get(artist)
        if time.monotonic() > deadline:
            deferred.append(artist)
            if before is not None:
                state[artist] = before
            continue
        stamps = scan_artist(folder, before["files"] if before else {})
        if not stamps:
            continue
        current = fingerprint({name: stamp[2] for name, stamp in stamps.items()})
        state[artist] = {"fingerprint": current, "files": stamps}
        is_new = artist not in known
        if is_new:
            new_artists.append(artist)
        reason = "new artist" if is_new else "songs changed"
        try:
            last = before["fingerprint"] if before else inventory_fingerprint(paths, artist)
        except StageTableError as exc:
            context.log.warning(str(exc))
            last = None
            if not is_new:
                reason = "inventory unreadable"
        if is_new or current != last:
            context.log.info(f"{artist}: {reason}, requesting an ingest run")
            run_requests.append(
                RunRequest(
                    partition_key=artist,
                    tags={"mixer/trigger": reason, "mixer/fingerprint": current[:16]},
                )
            )
    for artist in sorted(set(previous) - set(state) - set(deferred)):
        context.log.info(f"{artist}: folder gone or without songs; no longer watched")
    if deferred:
        context.log.info(f"scan budget spent; {len(deferred)} artists wait for the next tick")

    cursor = json.dumps({"version": CURSOR_VERSION, "artists": state}, sort_keys=True)
    if not run_requests:
        return SensorResult(skip_reason="no new or changed artist folders", cursor=cursor)
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [artist_partitions.build_add_request(new_artists)] if new_artists else []
        ),
        cursor=cursor,
    )
