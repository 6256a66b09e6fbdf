"""Reading, writing and converting audio files.

Every file the pipeline touches goes through here so that one place decides what a
readable file is, and every failure names the file: the raw-audio inventory reports
those messages instead of crashing a partition. Audio is always float32 shaped
``(channels, samples)``. libsndfile (through soundfile) reads WAV, FLAC, OGG and MP3;
pydub + ffmpeg, an optional extra, covers only what libsndfile lacks (M4A/AAC).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
PYDUB_SUFFIXES: tuple[str, ...] = (".m4a", ".aac")

_WRITE_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "FLOAT"),
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}
_MAX_CHANNELS = 16
_DECODE_ERRORS = (sf.SoundFileError, RuntimeError)


class AudioFileError(ValueError):
    """A file that cannot be used as audio; the message names the path and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class AudioInfo:
    """What the inventory records about a file without decoding all of it."""

    path: str
    format: str
    duration_s: float
    sample_rate: int
    channels: int
    frames: int
    size_bytes: int
    sha256: str


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in AUDIO_SUFFIXES + PYDUB_SUFFIXES:
        supported = ", ".join(AUDIO_SUFFIXES + PYDUB_SUFFIXES)
        raise AudioFileError(path, f"unsupported format {suffix or '(no suffix)'!r} ({supported})")
    return suffix


def _check_file(path: Path) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AudioFileError(path, "no such file") from None
    except OSError as exc:
        raise AudioFileError(path, f"unreadable ({exc.strerror or exc})") from None
    if not path.is_file():
        raise AudioFileError(path, "not a regular file")
    if size == 0:
        raise AudioFileError(path, "empty file (0 bytes)")
    return size


def _read_pydub(path: Path) -> tuple[np.ndarray, int]:
    try:
        from pydub import AudioSegment
        from pydub.utils import which
    except ImportError:
        raise AudioFileError(
            path, "reading M4A/AAC needs the optional extra 'pydub' (pip install mixer[pydub])"
        ) from None
    if which("ffmpeg") is None and which("avconv") is None:
        raise AudioFileError(path, "reading M4A/AAC needs ffmpeg on PATH (pydub decodes with it)")
    try:
        segment = AudioSegment.from_file(str(path))
    except Exception as exc:
        raise AudioFileError(path, f"not decodable audio ({exc})") from None
    samples = np.asarray(segment.get_array_of_samples(), dtype=np.float32)
    samples /= float(1 << (8 * segment.sample_width - 1))
    return samples.reshape(-1, segment.channels), int(segment.frame_rate)


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    try:
        frames, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except _DECODE_ERRORS as exc:
        raise AudioFileError(path, f"not readable as audio ({exc})") from None
    return frames, int(rate)


def read_audio(
    path: str | os.PathLike[str], sample_rate: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode a file to float32 ``(channels, samples)``, optionally resampled and remixed.

    The file is only ever opened for reading. Returns the audio and its (new) rate.
    Decoders give ``(samples, channels)``; resampling happens in that layout and the
    result is transposed once, so a long song is held at most twice over.
    """
    path = Path(path)
    suffix = _suffix(path)
    _check_file(path)
    frames, rate = _read_pydub(path) if suffix in PYDUB_SUFFIXES else _read_soundfile(path)
    if frames.shape[0] == 0:
        raise AudioFileError(path, "empty (no audio frames)")
    if not math.isfinite(float(np.sum(frames, dtype=np.float64))):
        raise AudioFileError(path, "contains NaN or infinite samples")
    if sample_rate is not None and sample_rate != rate:
        if sample_rate <= 0:
            raise ValueError(f"{path}: sample_rate must be positive, got {sample_rate}")
        frames = soxr.resample(frames, rate, sample_rate, quality="HQ")
        rate = sample_rate
    audio = np.ascontiguousarray(frames.T)
    del frames
    if channels is not None:
        audio = to_channels(audio, channels)
    return audio, rate


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header facts and the content hash; decodes fully only for pydub formats."""
    path = Path(path)
    suffix = _suffix(path)
    size = _check_file(path)
    if suffix in PYDUB_SUFFIXES:
        decoded, rate = _read_pydub(path)
        fmt, frames, channels = suffix[1:], decoded.shape[0], decoded.shape[1]
    else:
        try:
            info = sf.info(str(path))
        except _DECODE_ERRORS as exc:
            raise AudioFileError(path, f"not readable as audio ({exc})") from None
        fmt, rate = info.format.lower(), info.samplerate
        channels, frames = info.channels, info.frames
    if frames <= 0:
        raise AudioFileError(path, "empty (no audio frames)")
    return AudioInfo(
        path=str(path),
        format=fmt,
        duration_s=frames / rate,
        sample_rate=int(rate),
        channels=int(channels),
        frames=int(frames),
        size_bytes=size,
        sha256=_sha256(path),
    )


def _as_channels_first(audio: np.ndarray, what: str) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2:
        raise ValueError(f"{what}: expected audio shaped (channels, samples), got {audio.shape}")
    if audio.shape[0] > _MAX_CHANNELS:
        raise ValueError(
            f"{what}: {audio.shape[0]} channels; audio must be (channels, samples) "
            "— is it transposed?"
        )
    return audio


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    subtype: str | None = None,
) -> Path:
    """Write ``(channels, samples)`` audio, the format chosen by the suffix.

    The file appears complete or not at all (temp file in the same folder, then
    ``os.replace``), so a crash never leaves a truncated file under the final name.
    Default subtypes: WAV float32 (lossless for our float pipeline), FLAC 24-bit.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise ValueError(
            f"{path}: cannot write {suffix or '(no suffix)'!r} ({', '.join(_WRITE_FORMATS)})"
        )
    fmt, default_subtype = _WRITE_FORMATS[suffix]
    subtype = subtype or default_subtype
    if not sf.check_format(fmt, subtype):
        raise ValueError(f"{path}: subtype {subtype!r} is not valid for {fmt}")
    audio = _as_channels_first(audio, str(path))
    if audio.shape[1] == 0:
        raise ValueError(f"{path}: refusing to write empty audio")
    if not np.isfinite(audio).all():
        raise ValueError(f"{path}: audio contains NaN or infinite samples")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        sf.write(tmp_name, np.ascontiguousarray(audio.T), sample_rate, subtype=subtype, format=fmt)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """soxr high-quality resampling of ``(channels, samples)``; float32 out."""
    audio = _as_channels_first(audio, "resample")
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"resample: rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate:
        return audio.astype(np.float32, copy=False)
    out = soxr.resample(audio.T.astype(np.float32), from_rate, to_rate, quality="HQ")
    return np.ascontiguousarray(out.reshape(-1, audio.shape[0]).T)


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mono downmix by the channel mean, or mono duplicated to every channel."""
    audio = _as_channels_first(audio, "to_channels")
    have = audio.shape[0]
    if channels == have:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32).astype(np.float32)
    if have == 1 and channels > 1:
        return np.ascontiguousarray(np.repeat(audio, channels, axis=0))
    raise ValueError(
        f"to_channels: cannot map {have} channels to {channels} (only to 1, or 1 to N)"
    )
