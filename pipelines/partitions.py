"""The artist partitions shared by every data stage.

Artists come and go with folders under the raw data directory, so the partition set is
dynamic: the sensor (`pipelines.sensors`) and `mixer ingest` add a key per artist folder.
Folder names that Dagster cannot use as keys, or that are reserved (leading ``_`` or
``.``), are never turned into partitions.
"""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition

ARTIST_PARTITIONS_NAME = "artist"

artist_partitions = DynamicPartitionsDefinition(name=ARTIST_PARTITIONS_NAME)


def is_artist_name(name: str) -> bool:
    """Whether a folder name can be an artist partition key.

    Names starting with ``_`` are reserved for stage folders (``_inventory``,
    ``_manifests``) and ``.`` for hidden ones; Dagster rejects partition keys containing
    control characters or ``...``.
    """
    return (
        bool(name) and not name.startswith(("_", ".")) and "..." not in name and name.isprintable()
    )
