"""The code of the registered model (MLflow *models from code*): a pyfunc that writes
programs.

``pipelines.pyfunc.save_pyfunc`` logs this file as the model's code and ``mixer_core``
beside it (``code_paths``), so ``mlflow.pyfunc.load_model("models:/mixer@champion")``
works in an environment with only the model's declared requirements: nothing is
pickled, and the weights are the model folder's safetensors (artifact ``mixer``). It
imports nothing of ``pipelines``, which is not shipped.

``predict`` takes a DataFrame with a ``prompt`` column and either ``audio_path`` or
``audio`` (a ``(channels, samples)`` array) with ``sample_rate``, and returns one
canonical program string per row. Served by ``mlflow models serve``, a request carries
the same columns as JSON, e.g. ``{"dataframe_records": [{"prompt": "...", "audio":
[[...], [...]], "sample_rate": 44100}]}``.

Input that cannot be predicted on is an ``MlflowException`` naming the row and the
problem: the scoring server answers it with HTTP 400 and that message alone, where any
other exception becomes a 400 carrying a Python traceback and no word on what was wrong.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model


def _given(value: Any) -> bool:
    """A cell that holds a value: pandas fills a mixed column's gaps with None or NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _bad_input(row: int, problem: str) -> MlflowException:
    return MlflowException.invalid_parameter_value(f"row {row}: {problem}")


def _sample_rate(row: int, value: Any) -> int:
    """A positive whole number of Hz; pandas turns an int column with gaps into floats."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise _bad_input(row, f"'sample_rate' must be a number of Hz, got {value!r}")
    if not math.isfinite(value) or value <= 0 or value != int(value):
        raise _bad_input(row, f"'sample_rate' must be a positive whole number of Hz, got {value}")
    return int(value)


def _audio_array(row: int, value: Any) -> np.ndarray:
    try:
        audio = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise _bad_input(row, "'audio' must be a (channels, samples) array of numbers") from None
    if not np.isfinite(audio).all():
        raise _bad_input(row, "'audio' contains NaN or infinite samples")
    return audio


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
            raise MlflowException.invalid_parameter_value(
                f"model input needs a 'prompt' column; got columns {list(frame.columns)}"
            )
        programs = []
        for index, row in enumerate(frame.to_dict("records")):
            prompt = row["prompt"]
            if not _given(prompt):
                raise _bad_input(index, "'prompt' is missing")
            if not isinstance(prompt, str):
                raise _bad_input(index, f"'prompt' must be text, got {prompt!r}")
            if _given(row.get("audio_path")):
                try:
                    audio, rate = read_audio(Path(row["audio_path"]))
                except ValueError as exc:  # AudioFileError: names the path and the problem
                    raise _bad_input(index, f"audio_path {exc}") from None
            elif _given(row.get("audio")) and _given(row.get("sample_rate")):
                audio = _audio_array(index, row["audio"])
                rate = _sample_rate(index, row["sample_rate"])
            else:
                raise _bad_input(index, "needs 'audio_path', or 'audio' and 'sample_rate'")
            try:
                calls = self.predictor.predict(np.atleast_2d(audio), rate, prompt)
            except ValueError as exc:  # the predictor's word on a shape it cannot take
                raise _bad_input(index, str(exc)) from None
            programs.append(format_program(calls))
        return programs


set_model(MixerPyfunc())
