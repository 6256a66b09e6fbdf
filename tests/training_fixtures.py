"""A processed folder and a tiny configuration for the training and model-asset tests.

``make_processed_tree`` lays out segments, the segment index and recipe manifests as
the data stages write them, from audio generated here; ``tiny_training_config`` keeps
the production schema with every size shrunk so a training step takes well under a
second on one CPU core.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from mixer_core.config import Config, load_config
from mixer_core.data.augmentation import sample_recipes
from mixer_core.model import MixerModel, save_mixer
from mixer_core.model.text_encoder import default_text_encoder_path
from pipelines.resources import MlflowResource
from pipelines.tracking import CHALLENGER
from tests.test_model import RATE, tiny_config
from tests.test_model_persistence import train_a_little

SONG_SPLITS = {"song_0": "train", "song_1": "train", "song_2": "val", "song_3": "test"}
SEGMENTS_PER_SONG = 3


@functools.cache
def tiny_text_encoder() -> Path:
    """A one-layer BERT with MiniLM's tokenizer: the real loading path, a fraction of the cost."""
    folder = Path(tempfile.mkdtemp(prefix="mixer-tiny-bert-"))
    atexit.register(shutil.rmtree, folder, True)
    tokenizer = AutoTokenizer.from_pretrained(default_text_encoder_path(), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_training_config() -> Config:
    """Small enough for a training step in well under a second on one CPU core."""
    cfg = load_config()
    cfg.mixer.text_encoder.path = str(tiny_text_encoder())
    cfg.mixer.text_encoder.max_length = 16
    cfg.data.sample_rate = 8000
    cfg.data.channels = 2
    cfg.data.segment_seconds = 1.0
    cfg.data.hop_seconds = 1.0
    cfg.augmentation.recipes_per_segment = 2
    cfg.mixer.audio_encoder.max_seconds = 1.0
    cfg.mixer.audio_encoder.small = {
        "num_mel_bins": 32,
        "spec_size": 64,
        "patch_size": 4,
        "patch_stride": [4, 4],
        "patch_embeds_hidden_size": 16,
        "hidden_size": 32,
        "depths": [1, 1],
        "num_attention_heads": [1, 2],
        "window_size": 4,
        "projection_dim": 32,
    }
    cfg.mixer.decoder.small = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 256,
        "sliding_window": None,
    }
    cfg.mixer.lora.r = 4
    cfg.mixer.lora.alpha = 8
    cfg.mixer.fusion.prefix_tokens = 2
    cfg.mixer.fusion.hidden_size = 64
    cfg.default.batch_size = 4
    cfg.default.device = "cpu"
    cfg.default.val_batches = 1
    return cfg


def promotion_config() -> Config:
    """The tiny config trained for four steps, split by song with a test minimum that two
    artists' test songs meet, so that ``mixer_evaluation`` may decide a promotion."""
    cfg = tiny_training_config()
    cfg.default.max_steps = 4
    cfg.default.eval_every_steps = 2
    cfg.default.log_every_steps = 2
    cfg.data.split.by = "song"
    cfg.data.split.min_test_songs = 1
    cfg.data.split.min_test_artists = 2
    return cfg


def _song(seed: int, seconds: float, sample_rate: int) -> np.ndarray:
    """Noise bursts and two tones per channel: broadband, with level changes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = 0.5 + 0.5 * (np.sin(2 * np.pi * (1.5 + seed) * t) > 0)
    channels = []
    for c in range(2):
        tones = 0.2 * np.sin(2 * np.pi * (110 * (seed + 1) + 30 * c) * t)
        tones += 0.1 * np.sin(2 * np.pi * (1500 + 200 * seed) * t)
        channels.append(tones + 0.05 * envelope * rng.standard_normal(t.size))
    return np.stack(channels).astype(np.float32)


def _dbfs(value: float) -> float:
    return float(20 * np.log10(max(value, 1e-12)))


def make_processed_tree(root: Path, cfg: Config, artist: str = "artist_a") -> Path:
    """``root/processed`` with segments, ``<artist>/segments.parquet`` and a manifest."""
    processed = root / "processed"
    sr = cfg.data.sample_rate
    seg_len = int(cfg.data.segment_seconds * sr)
    index_rows, manifest_rows = [], []
    for s, (song, split) in enumerate(SONG_SPLITS.items()):
        audio = _song(s, SEGMENTS_PER_SONG * cfg.data.segment_seconds, sr)
        for i in range(SEGMENTS_PER_SONG):
            segment = audio[:, i * seg_len : (i + 1) * seg_len]
            rel = f"{artist}/{song}/{i:04d}.wav"
            (processed / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(processed / rel, segment.T, sr, subtype="FLOAT")
            segment_id = f"{artist}/{song}/{i:04d}"
            index_rows.append(
                {
                    "segment_id": segment_id,
                    "artist": artist,
                    "song": song,
                    "source_path": f"raw/{artist}/{song}.wav",
                    "segment_path": rel,
                    "start_s": i * cfg.data.segment_seconds,
                    "duration_s": cfg.data.segment_seconds,
                    "sample_rate": sr,
                    "channels": 2,
                    "lufs": -20.0,
                    "peak_dbfs": _dbfs(float(np.abs(segment).max())),
                    "rms_dbfs": _dbfs(float(np.sqrt(np.mean(segment**2)))),
                }
            )
            for recipe in sample_recipes(segment_id, cfg.augmentation):
                manifest_rows.append(
                    {**recipe.to_row(), "split": split, "artist": artist, "song": song}
                )
    pd.DataFrame(index_rows).to_parquet(processed / artist / "segments.parquet", index=False)
    (processed / "_manifests").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(manifest_rows).to_parquet(
        processed / "_manifests" / f"{artist}.parquet", index=False
    )
    return processed


def registered_tiny_model(root: Path) -> tuple[MlflowResource, str]:
    """The tiny test model, trained a few steps, logged and registered as the challenger
    in a SQLite MLflow under ``root``; returns the tracking resource and its
    ``models:/<name>@challenger`` URI.

    For tests and benchmarks that need what the registry serves (``mlflow models serve``,
    loading by alias) in seconds: the training assets make the same registered model in
    minutes. Trained, not fresh, so the served weights are not the initialisation.
    """
    model = MixerModel.from_config(tiny_config(), RATE, seed=0)
    train_a_little(model)
    tracking = MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    run_id = tracking.start_run("tiny")
    logged = tracking.log_model(run_id, save_mixer(model, root / "model"), root / "staged")
    tracking.register(run_id, logged=logged)
    tracking.end_run(run_id)
    return tracking, f"models:/{tracking.registered_model}@{CHALLENGER}"
