"""Dagster assets and asset checks, one module per stage.

``DATA_ASSETS`` and ``DATA_CHECKS`` are the per-artist data stages in graph order;
`pipelines.definitions` and `mixer ingest` take them from here.
"""

from assets.augmentation_manifest import augmentation_manifest
from assets.data_checks import DATA_CHECKS
from assets.raw_audio import raw_audio
from assets.segments import segments

DATA_ASSETS = [raw_audio, segments, augmentation_manifest]

__all__ = ["DATA_ASSETS", "DATA_CHECKS", "augmentation_manifest", "raw_audio", "segments"]
