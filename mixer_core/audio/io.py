"""Reading, writing and converting audio files.

Every file the pipeline touches goes through here so that one place decides what a
readable file is, and every failure names the file: the raw-audio inventory reports
those messages instead of crashing a partition. Audio is always float32 shaped
``(channels, samples)``. libsndfile (through soundfile) reads WAV, FLAC, OGG and MP3;
pydub + ffmpeg, an optional extra, covers only what libsndfile lacks (M4A/AAC).

Files are decoded block by block (:func:`iter_blocks`): resampling and downmixing
happen per block, so reading a long file takes about twice the result, never the file
at its own rate and width (two hours of 192 kHz 7.1 read at the pipeline's 22.05 kHz
stereo: 2.5 GB, where decoding it whole took 44 GB). A caller that must not hold a
whole file at all (the CLI on very long files) iterates the blocks itself.

More than two channels become stereo by the ITU-R BS.775 rule of
:mod:`mixer_core.audio.channels` (3 to 8 channels; more are refused naming the file).

Writing (:class:`AudioWriter`, :func:`write_audio`) goes to a temp file renamed into
place, and the writer reports the sample peak it wrote, so a caller can refuse to keep
a fixed-point file that would have clipped (:data:`FLOAT_SUBTYPES` never clip).

The module is over 400 lines because reading, the inventory's header and writing share
one set of suffix tables, one error type and one decode-error handling.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf
import soxr

from mixer_core.audio.channels import fold_problem, remix

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
PYDUB_SUFFIXES: tuple[str, ...] = (".m4a", ".aac")

_WRITE_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "FLOAT"),
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}
FLOAT_SUBTYPES: frozenset[str] = frozenset({"FLOAT", "DOUBLE"})
_MAX_CHANNELS = 16
_DECODE_ERRORS = (sf.SoundFileError, RuntimeError)
READ_BLOCK_FRAMES = 1 << 18


class AudioFileError(ValueError):
    """A file that cannot be used as audio; the message names the path and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class AudioHeader:
    """What a file's header says, read without decoding (except for pydub formats)."""

    format: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


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


def _opened(path: Path) -> tuple[int, int, Iterator[np.ndarray]]:
    """The rate, the channel count and the decoded blocks ``(frames, channels)`` of a file."""
    suffix = _suffix(path)
    _check_file(path)
    if suffix in PYDUB_SUFFIXES:
        decoded, rate = _read_pydub(path)
        blocks = (
            decoded[start : start + READ_BLOCK_FRAMES]
            for start in range(0, decoded.shape[0], READ_BLOCK_FRAMES)
        )
        return rate, decoded.shape[1], blocks
    try:
        handle = sf.SoundFile(str(path))
    except _DECODE_ERRORS as exc:
        raise AudioFileError(path, f"not readable as audio ({exc})") from None

    def blocks() -> Iterator[np.ndarray]:
        with handle:
            while True:
                try:
                    block = handle.read(READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
                except _DECODE_ERRORS as exc:
                    raise AudioFileError(path, f"not readable as audio ({exc})") from None
                if block.shape[0] == 0:
                    return
                yield block

    return int(handle.samplerate), int(handle.channels), blocks()


def _checked(path: Path, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """The blocks, refusing non-finite samples and a file without frames."""
    frames = 0
    for block in blocks:
        if not math.isfinite(float(np.sum(block, dtype=np.float64))):
            raise AudioFileError(path, "contains NaN or infinite samples")
        frames += block.shape[0]
        yield block
    if frames == 0:
        raise AudioFileError(path, "empty (no audio frames)")


def _folding(path: Path, have: int, channels: int | None) -> bool:
    """Whether blocks are folded to ``channels`` as they are decoded (more than 2 in)."""
    if channels is None or have <= 2 or channels == have:
        return False
    if channels == 2 and (problem := fold_problem(have)):
        raise AudioFileError(path, problem)
    if channels not in (1, 2):
        raise AudioFileError(path, f"cannot map {have} channels to {channels}")
    return True


def iter_blocks(
    path: str | os.PathLike[str], block_frames: int, channels: int | None = None
) -> Iterator[np.ndarray]:
    """The file as consecutive float32 ``(channels, block_frames)`` blocks (the last shorter).

    Memory is one block whatever the file's length. ``channels`` 1 or 2 downmixes a
    file with more channels (see the module docstring); fewer are left as they are.
    Raises :class:`AudioFileError` naming the file, before the first block where the
    header already says what is wrong.
    """
    path = Path(path)
    _, have, blocks = _opened(path)
    fold = _folding(path, have, channels)
    pending = np.empty((0, have), dtype=np.float32)
    for block in _checked(path, blocks):
        pending = np.concatenate([pending, block]) if pending.shape[0] else block
        while pending.shape[0] >= block_frames:
            out, pending = pending[:block_frames], pending[block_frames:]
            yield _channels_first(out, channels if fold else None)
    if pending.shape[0]:
        yield _channels_first(pending, channels if fold else None)


def _channels_first(block: np.ndarray, channels: int | None) -> np.ndarray:
    audio = np.ascontiguousarray(block.T)
    return audio if channels is None else remix(audio, channels)


def read_frames(
    path: str | os.PathLike[str], start: int, stop: int, channels: int | None = None
) -> np.ndarray:
    """Frames ``[start, stop)`` of a file as float32 ``(channels, frames)``, by seeking.

    For an excerpt of a file too long to decode whole; ``channels`` as in
    :func:`iter_blocks`.
    """
    path = Path(path)
    if _suffix(path) in PYDUB_SUFFIXES:
        audio, _ = read_audio(path, channels=channels)
        return np.ascontiguousarray(audio[:, start:stop])
    _check_file(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            fold = _folding(path, handle.channels, channels)
            handle.seek(max(0, start))
            block = handle.read(max(0, stop - max(0, start)), dtype="float32", always_2d=True)
    except _DECODE_ERRORS as exc:
        raise AudioFileError(path, f"not readable as audio ({exc})") from None
    if not np.isfinite(block).all():
        raise AudioFileError(path, "contains NaN or infinite samples")
    return _channels_first(block, channels if fold else None)


def read_audio(
    path: str | os.PathLike[str], sample_rate: int | None = None, channels: int | None = None
) -> tuple[np.ndarray, int]:
    """Decode a file to float32 ``(channels, samples)``, optionally resampled and remixed.

    The file is only ever opened for reading. Returns the audio and its (new) rate.
    Blocks are resampled as they are decoded (soxr's stream gives the same samples as
    one call on the whole file) and more than two channels are folded first, so the
    memory needed is about twice the result, whatever the file's own rate and width.
    """
    path = Path(path)
    rate, have, blocks = _opened(path)
    fold = _folding(path, have, channels)
    out_channels = channels if fold else have
    resampler = None
    if sample_rate is not None and sample_rate != rate:
        if sample_rate <= 0:
            raise ValueError(f"{path}: sample_rate must be positive, got {sample_rate}")
        resampler = soxr.ResampleStream(
            rate, sample_rate, out_channels, dtype="float32", quality="HQ"
        )
        rate = sample_rate
    parts = []
    for block in _checked(path, blocks):
        if fold:
            block = np.ascontiguousarray(remix(block.T, channels).T)
        parts.append(block if resampler is None else resampler.resample_chunk(block))
    if resampler is not None:
        parts.append(resampler.resample_chunk(np.empty((0, out_channels), np.float32), last=True))
    audio = np.empty((out_channels, sum(part.shape[0] for part in parts)), dtype=np.float32)
    position = 0
    while parts:
        part = parts.pop(0)
        audio[:, position : position + part.shape[0]] = part.T
        position += part.shape[0]
    if channels is not None and not fold:
        audio = to_channels(audio, channels)
    return audio, rate


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _header(path: Path) -> tuple[AudioHeader, int]:
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
    return AudioHeader(fmt, int(rate), int(channels), int(frames)), size


def audio_header(path: str | os.PathLike[str]) -> AudioHeader:
    """Format, rate, channels and length from the header; decodes only pydub formats."""
    return _header(Path(path))[0]


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header facts and the content hash; decodes fully only for pydub formats."""
    path = Path(path)
    header, size = _header(path)
    return AudioInfo(
        path=str(path),
        format=header.format,
        duration_s=header.duration_s,
        sample_rate=header.sample_rate,
        channels=header.channels,
        frames=header.frames,
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


def output_format(path: str | os.PathLike[str], subtype: str | None = None) -> tuple[str, str]:
    """The (format, subtype) a file of this name is written as: the suffix decides."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise AudioFileError(
            path, f"cannot write {suffix or '(no suffix)'!r} ({', '.join(_WRITE_FORMATS)})"
        )
    fmt, default_subtype = _WRITE_FORMATS[suffix]
    subtype = subtype or default_subtype
    if not sf.check_format(fmt, subtype):
        raise AudioFileError(path, f"subtype {subtype!r} is not valid for {fmt}")
    return fmt, subtype


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AudioWriter:
    """A file written block by block that appears complete or not at all.

    Blocks go to a temp file in the target's folder; :meth:`commit` renames it into
    place, and leaving the ``with`` block without committing removes it, so a crash or
    a refusal never leaves a truncated file, nor replaces an existing one. ``peak`` is
    the largest absolute sample written, for a caller that keeps only files that did not
    clip (fixed-point subtypes clip above 1.0, :data:`FLOAT_SUBTYPES` do not).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        channels: int,
        subtype: str | None = None,
    ) -> None:
        self.path = Path(path)
        fmt, self.subtype = output_format(self.path, subtype)
        self.channels = channels
        self.peak = 0.0
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.close(fd)
        try:
            self._file = sf.SoundFile(
                self._tmp, "w", sample_rate, channels, self.subtype, format=fmt
            )
        except BaseException:
            os.unlink(self._tmp)
            raise

    def write(self, audio: np.ndarray) -> None:
        """Append ``(channels, samples)`` audio."""
        audio = _as_channels_first(audio, str(self.path))
        if audio.shape[0] != self.channels:
            raise ValueError(f"{self.path}: got {audio.shape[0]} channels, writing {self.channels}")
        if not np.isfinite(audio).all():
            raise ValueError(f"{self.path}: audio contains NaN or infinite samples")
        if audio.shape[1]:
            self.peak = max(self.peak, float(np.abs(audio).max()))
        self._file.write(np.ascontiguousarray(audio.T))
        self.frames += audio.shape[1]

    def commit(self) -> Path:
        """Close the file and move it to its name."""
        if self.frames == 0:
            raise ValueError(f"{self.path}: refusing to write empty audio")
        self._file.close()
        os.chmod(self._tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for the temp file only
        os.replace(self._tmp, self.path)
        return self.path

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._file.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    subtype: str | None = None,
) -> Path:
    """Write ``(channels, samples)`` audio, the format chosen by the suffix.

    The file appears complete or not at all (:class:`AudioWriter`), so a crash never
    leaves a truncated file under the final name. Default subtypes: WAV float32
    (lossless for our float pipeline), FLAC 24-bit.
    """
    path = Path(path)
    output_format(path, subtype)
    audio = _as_channels_first(audio, str(path))
    if audio.shape[1] == 0:
        raise ValueError(f"{path}: refusing to write empty audio")
    if not np.isfinite(audio).all():
        raise ValueError(f"{path}: audio contains NaN or infinite samples")
    with AudioWriter(path, sample_rate, audio.shape[0], subtype) as writer:
        writer.write(audio)
        return writer.commit()


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
    """Mono downmix by the channel mean, mono duplicated to every channel, or 3 to 8
    channels folded to stereo (:func:`fold_to_stereo`)."""
    return remix(_as_channels_first(audio, "to_channels"), channels)
