"""How a channel count becomes another: the mono mean, mono duplicated, surround folded.

More than two channels become stereo by a fixed rule (:func:`fold_to_stereo`): the
ITU-R BS.775 downmix, centre and surrounds at -3 dB into their side, LFE dropped,
reading the channels in the default order of WAV and FFmpeg layouts for the count:
3 = L R C, 4 = L R Ls Rs (quad), 5 = L R C Ls Rs, 6 = L R C LFE Ls Rs (5.1),
7 = L R C LFE Cs Ls Rs (6.1; back centre at -6 dB into each side),
8 = L R C LFE Ls Rs Lss Rss (7.1). The fold is not normalised: a surround file whose
only content is in L and R folds to exactly that stereo, and full-scale content in
several channels can sum above 0 dBFS, which float audio keeps. More than eight
channels (stems, ambisonics) have no layout to assume: :func:`fold_problem` says so,
and readers refuse the file naming it; a mono downmix (the mean) works for any count.
"""

from __future__ import annotations

import math

import numpy as np

_SIDE = math.sqrt(0.5)  # -3 dB: ITU-R BS.775 centre and surround level
# (into left, into right) per speaker; the back centre feeds both surrounds at -3 dB.
_SPEAKERS: dict[str, tuple[float, float]] = {
    "L": (1.0, 0.0),
    "R": (0.0, 1.0),
    "C": (_SIDE, _SIDE),
    "LFE": (0.0, 0.0),
    "Ls": (_SIDE, 0.0),
    "Rs": (0.0, _SIDE),
    "Cs": (0.5, 0.5),
    "Lss": (_SIDE, 0.0),
    "Rss": (0.0, _SIDE),
}
LAYOUTS: dict[int, tuple[str, ...]] = {
    3: ("L", "R", "C"),
    4: ("L", "R", "Ls", "Rs"),
    5: ("L", "R", "C", "Ls", "Rs"),
    6: ("L", "R", "C", "LFE", "Ls", "Rs"),
    7: ("L", "R", "C", "LFE", "Cs", "Ls", "Rs"),
    8: ("L", "R", "C", "LFE", "Ls", "Rs", "Lss", "Rss"),
}
MAX_FOLD_CHANNELS = max(LAYOUTS)


def fold_problem(channels: int) -> str | None:
    """Why ``channels`` cannot be folded to stereo, or None when it can."""
    if channels <= MAX_FOLD_CHANNELS:
        return None
    return (
        f"{channels} channels: no standard layout to fold to stereo (at most "
        f"{MAX_FOLD_CHANNELS}, 7.1); mix it down to stereo or mono first"
    )


def fold_to_stereo(audio: np.ndarray) -> np.ndarray:
    """Fold 3 to 8 channels ``(channels, samples)`` to stereo by the module's ITU rule."""
    audio = np.asarray(audio)
    problem = fold_problem(audio.shape[0])
    if audio.ndim != 2 or audio.shape[0] < 3 or problem:
        raise ValueError(problem or f"fold_to_stereo: expected 3 to 8 channels, got {audio.shape}")
    matrix = np.array([_SPEAKERS[name] for name in LAYOUTS[audio.shape[0]]], dtype=np.float32)
    return np.ascontiguousarray(matrix.T @ audio.astype(np.float32, copy=False))


def remix(audio: np.ndarray, channels: int) -> np.ndarray:
    """``(have, samples)`` to ``(channels, samples)``: the mean to mono, mono repeated to
    every channel, 3 to 8 folded to stereo; any other mapping would be a guess and raises."""
    have = audio.shape[0]
    if channels == have:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32).astype(np.float32)
    if have == 1 and channels > 1:
        return np.ascontiguousarray(np.repeat(audio, channels, axis=0))
    if channels == 2 and have > 2:
        return fold_to_stereo(audio)
    raise ValueError(
        f"to_channels: cannot map {have} channels to {channels} (only to 1, 1 to N, or 3-8 to 2)"
    )
