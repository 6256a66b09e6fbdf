"""The mixer model: text + audio encoders -> fusion prefix -> LoRA decoder -> program text.

``MixerModel`` trains and generates, ``load_mixer`` restores a saved folder,
``MixerPredictor`` turns (audio, prompt) into tool calls.
"""

from mixer_core.model.errors import ModelConfigError, ModelLoadError
from mixer_core.model.mixer_model import MixerModel
from mixer_core.model.parts import format_trainable_summary
from mixer_core.model.persistence import load_mixer, read_saved_config, save_mixer
from mixer_core.model.predictor import MixerPredictor
from mixer_core.model.tokenizer import build_domain_tokenizer

__all__ = [
    "MixerModel",
    "MixerPredictor",
    "ModelConfigError",
    "ModelLoadError",
    "build_domain_tokenizer",
    "format_trainable_summary",
    "load_mixer",
    "read_saved_config",
    "save_mixer",
]
