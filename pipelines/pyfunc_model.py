"""The code of the registered model (MLflow *models from code*): a pyfunc that writes
programs.

``pipelines.pyfunc.save_pyfunc`` logs this file as the model's code and ``mixer_core``
beside it (``code_paths``), so ``mlflow.pyfunc.load_model("models:/mixer@champion")``
works in an environment with only the model's declared requirements: nothing is
pickled, and the weights are the model folder's safetensors (artifact ``mixer``). It
imports nothing of ``pipelines``, which is not shipped.

``predict`` takes a DataFrame with a ``prompt`` column and either ``audio_path`` or
``audio`` (a ``(channels, samples)`` array) with ``sample_rate``, and returns one
canonical program string per row.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import set_model


def _given(value: Any) -> bool:
    """A cell that holds a value: pandas fills a mixed column's gaps with None or NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


class MixerPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from mixer_core.model import MixerPredictor

        (folder,) = context.artifacts.values()  # the one artifact: the model folder
        self.predictor = MixerPredictor.from_folder(folder)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> list[str]:
        from mixer_core.audio.io import read_audio
        from mixer_core.language.grammar import format as format_program

        frame = pd.DataFrame(model_input)
        if "prompt" not in frame:
            raise ValueError("model input needs a 'prompt' column")
        programs = []
        for row in frame.to_dict("records"):
            if _given(row.get("audio_path")):
                audio, rate = read_audio(Path(row["audio_path"]))
            elif _given(row.get("audio")) and _given(row.get("sample_rate")):
                audio, rate = np.asarray(row["audio"], dtype=np.float32), int(row["sample_rate"])
            else:
                raise ValueError("each row needs 'audio_path', or 'audio' and 'sample_rate'")
            calls = self.predictor.predict(np.atleast_2d(audio), rate, str(row["prompt"]))
            programs.append(format_program(calls))
        return programs


set_model(MixerPyfunc())
