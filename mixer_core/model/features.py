"""Signal features computed in torch, batched, on the audio's device.

Two consumers: the CLAP/HTSAT encoder needs the log-mel image its feature extractor
would produce (computing it here avoids a numpy round trip per example during
training), and the fusion MLP needs *absolute* level features. The latter matter
because a gain fix is only well-posed if the model sees the level, so
these are never normalised per example or per batch, only shifted and scaled by fixed
constants into roughly unit range.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank

from mixer_core.audio.loudness import lufs_torch
from mixer_core.language.registry import REGISTRY

_POWER_FLOOR = 1e-10
_EQ = REGISTRY["apply_eq"]
EQ_LOW_HZ = _EQ.defaults()["low_freq"]
EQ_HIGH_HZ = _EQ.defaults()["high_freq"]


def power_db(power: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(power.clamp_min(_POWER_FLOOR))


def fft_resample(audio: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling along the last axis by spectrum truncation/zero-padding.

    Used where features must follow the model's rate inside a batch on any device;
    the predictor resamples with soxr before it gets here.
    """
    if orig_rate == new_rate:
        return audio
    length = audio.shape[-1]
    new_length = max(1, round(length * new_rate / orig_rate))
    spectrum = torch.fft.rfft(audio.float(), n=length)
    bins = new_length // 2 + 1
    if bins <= spectrum.shape[-1]:
        spectrum = spectrum[..., :bins]
    else:
        spectrum = nn.functional.pad(spectrum, (0, bins - spectrum.shape[-1]))
    return torch.fft.irfft(spectrum, n=new_length) * (new_length / length)


def as_stereo(audio: torch.Tensor) -> torch.Tensor:
    """(B, C, T) with C in {1, 2} -> (B, 2, T); mono becomes dual mono.

    Mono and dual mono then give the model identical features, so one model serves
    mono and stereo data.
    """
    if audio.dim() != 3 or audio.shape[1] not in (1, 2):
        raise ValueError(
            f"audio must have shape (batch, 1 or 2 channels, samples), got {tuple(audio.shape)}"
        )
    return audio.expand(-1, 2, -1) if audio.shape[1] == 1 else audio


def repeat_pad(audio: torch.Tensor, length: int) -> torch.Tensor:
    """CLAP's ``repeatpad``: tile shorter audio, zero-pad the rest; centre-crop longer audio."""
    samples = audio.shape[-1]
    if samples > length:
        start = (samples - length) // 2
        return audio[..., start : start + length]
    if samples < length:
        audio = audio.tile(length // samples)
        audio = nn.functional.pad(audio, (0, length - audio.shape[-1]))
    return audio


def _biquad_power_response(
    b: np.ndarray, a: np.ndarray, freqs: np.ndarray, rate: int
) -> np.ndarray:
    z = np.exp(-1j * 2 * np.pi * freqs / rate)
    num = b[0] + b[1] * z + b[2] * z**2
    den = a[0] + a[1] * z + a[2] * z**2
    return np.abs(num / den) ** 2


def k_weighting_power(freqs: np.ndarray, rate: int) -> np.ndarray:
    """|H(f)|² of the ITU-R BS.1770 K filter (shelf + RLB high-pass) designed at ``rate``.

    Coefficients follow pyloudnorm's RBJ designs, so the result matches what
    ``pyloudnorm`` measures at any sample rate, applied in the frequency domain.
    """
    gain_db, q_shelf, fc_shelf = 4.0, 1 / math.sqrt(2), 1500.0
    amp = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * fc_shelf / rate
    alpha = math.sin(w0) / (2 * q_shelf)
    cos, sq = math.cos(w0), 2 * math.sqrt(amp) * alpha
    shelf_b = np.array(
        [
            amp * ((amp + 1) + (amp - 1) * cos + sq),
            -2 * amp * ((amp - 1) + (amp + 1) * cos),
            amp * ((amp + 1) + (amp - 1) * cos - sq),
        ]
    )
    shelf_a = np.array(
        [
            (amp + 1) - (amp - 1) * cos + sq,
            2 * ((amp - 1) - (amp + 1) * cos),
            (amp + 1) - (amp - 1) * cos - sq,
        ]
    )
    w0 = 2 * math.pi * 38.0 / rate
    alpha = math.sin(w0) / (2 * 0.5)
    cos = math.cos(w0)
    hp_b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
    hp_a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return _biquad_power_response(shelf_b, shelf_a, freqs, rate) * _biquad_power_response(
        hp_b, hp_a, freqs, rate
    )


class LevelFeatures(nn.Module):
    """Absolute level: K-weighted loudness, peak, crest, balance, width and band levels.

    Output layout (``names``): loudness (ungated BS.1770, LUFS), gated loudness
    (integrated BS.1770-4, the measure a fix's reference is normalised to), peak dBFS,
    crest dB, left-right balance dB, side-to-mid dB, three band levels split at the EQ's
    default shelf corners, then ``bands`` mel-band levels (dB, power summed per band,
    mean over time and channels). Each group is shifted and scaled by fixed constants
    only.
    """

    n_fft = 2048
    hop = 512
    # (offset, scale) per group: value -> (value - offset) / scale
    _LOUDNESS = (-20.0, 10.0)
    _PEAK = (-10.0, 10.0)
    _CREST = (12.0, 6.0)
    _BALANCE = (0.0, 6.0)
    _SIDE = (-20.0, 10.0)
    _BAND = (-40.0, 20.0)
    _SIDE_FLOOR_DB = -60.0

    def __init__(self, sample_rate: int, bands: int = 32) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.bands = bands
        freqs = np.fft.rfftfreq(self.n_fft, 1 / sample_rate)
        window = torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64)
        # one-sided Parseval: interior bins count twice; the window's energy divides out
        bin_weight = np.full(freqs.shape, 2.0)
        bin_weight[0] = bin_weight[-1] = 1.0
        scale = bin_weight / (self.n_fft * float((window**2).sum()))
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer(
            "bin_scale", torch.tensor(scale, dtype=torch.float32), persistent=False
        )
        self.register_buffer(
            "k_weight",
            torch.tensor(k_weighting_power(freqs, sample_rate), dtype=torch.float32),
            persistent=False,
        )
        mel = mel_filter_bank(
            num_frequency_bins=len(freqs),
            num_mel_filters=bands,
            min_frequency=20.0,
            max_frequency=sample_rate / 2,
            sampling_rate=sample_rate,
            norm=None,
            mel_scale="slaney",
        )
        self.register_buffer("mel", torch.tensor(mel.T, dtype=torch.float32), persistent=False)
        coarse = np.stack(
            [freqs < EQ_LOW_HZ, (freqs >= EQ_LOW_HZ) & (freqs < EQ_HIGH_HZ), freqs >= EQ_HIGH_HZ]
        ).astype(np.float32)
        self.register_buffer("coarse", torch.tensor(coarse), persistent=False)

    @staticmethod
    def feature_size(bands: int) -> int:
        return 9 + bands

    @property
    def names(self) -> list[str]:
        fixed = [
            "loudness",
            "gated_loudness",
            "peak",
            "crest",
            "balance",
            "side_to_mid",
            "band_low",
            "band_mid",
            "band_high",
        ]
        return [*fixed, *(f"mel_{i}" for i in range(self.bands))]

    @classmethod
    def gated_loudness(cls, features: torch.Tensor) -> torch.Tensor:
        """The integrated loudness (LUFS) a feature vector holds (its ``gated_loudness``)."""
        offset, scale = cls._LOUDNESS
        return features[..., 1] * scale + offset

    @staticmethod
    def _scaled(value: torch.Tensor, constants: tuple[float, float]) -> torch.Tensor:
        offset, scale = constants
        return (value - offset) / scale

    def raw(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unscaled features in dB from (B, C, T) audio at ``sample_rate``, C in {1, 2}."""
        with torch.autocast(device_type=audio.device.type, enabled=False):
            stereo = as_stereo(audio.float())
            batch = stereo.shape[0]
            spec = torch.stft(
                stereo.reshape(batch * 2, -1),
                self.n_fft,
                self.hop,
                window=self.window,
                center=True,
                pad_mode="reflect",
                return_complex=True,
            )
            # mean power per bin, calibrated so that summing over bins gives the mean square
            power = spec.abs().square().mean(dim=-1) * self.bin_scale
            power = power.reshape(batch, 2, -1)
            channel_ms = power.sum(dim=-1)
            mean_power = power.mean(dim=1)
            rms_db = power_db(channel_ms.mean(dim=1))
            peak_db = 20.0 * torch.log10(stereo.abs().amax(dim=(1, 2)).clamp_min(1e-5))
            mid = 0.5 * (stereo[:, 0] + stereo[:, 1])
            side = 0.5 * (stereo[:, 0] - stereo[:, 1])
            side_to_mid = (
                power_db(side.square().mean(dim=-1)) - power_db(mid.square().mean(dim=-1))
            ).clamp_min(self._SIDE_FLOOR_DB)
            return {
                # dual mono would read 3 dB louder than BS.1770's mono; both are measured as stereo
                "loudness": -0.691 + power_db((power * self.k_weight).sum(dim=(1, 2))),
                "gated_loudness": lufs_torch(stereo, self.sample_rate).to(stereo.dtype),
                "peak": peak_db,
                "crest": peak_db - rms_db,
                "balance": power_db(channel_ms[:, 0]) - power_db(channel_ms[:, 1]),
                "side_to_mid": side_to_mid,
                "coarse": power_db(mean_power @ self.coarse.T),
                "mel": power_db(mean_power @ self.mel.T),
            }

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        raw = self.raw(audio)
        columns = [
            self._scaled(raw["loudness"], self._LOUDNESS)[:, None],
            self._scaled(raw["gated_loudness"], self._LOUDNESS)[:, None],
            self._scaled(raw["peak"], self._PEAK)[:, None],
            self._scaled(raw["crest"], self._CREST)[:, None],
            self._scaled(raw["balance"], self._BALANCE)[:, None],
            self._scaled(raw["side_to_mid"], self._SIDE)[:, None],
            self._scaled(raw["coarse"], self._BAND),
            self._scaled(raw["mel"], self._BAND),
        ]
        return torch.cat(columns, dim=1)


class ClapLogMel(nn.Module):
    """The log-mel image ``ClapFeatureExtractor`` makes, in torch and batched.

    Matches the extractor's ``rand_trunc`` path (slaney mel filters, one channel) or,
    for a fused checkpoint, its ``fusion`` path for audio no longer than
    ``max_samples`` (HTK filters, the mel repeated four times). Audio is repeat-padded
    to ``max_samples`` as with ``padding="repeatpad"``; longer audio is centre-cropped
    so inference is deterministic.
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int,
        n_fft: int,
        hop_length: int,
        max_samples: int,
        f_min: float,
        f_max: float,
        fused: bool = False,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.max_samples = max_samples
        self.fused = fused
        mel = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=n_mels,
            min_frequency=f_min,
            max_frequency=f_max,
            sampling_rate=sample_rate,
            norm=None if fused else "slaney",
            mel_scale="htk" if fused else "slaney",
        )
        self.register_buffer("mel", torch.tensor(mel.T, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    @property
    def frames(self) -> int:
        return self.max_samples // self.hop_length + 1

    def forward(self, mono: torch.Tensor) -> torch.Tensor:
        """(B, T) mono at ``sample_rate`` -> (B, 1 or 4, frames, n_mels) in dB."""
        with torch.autocast(device_type=mono.device.type, enabled=False):
            audio = repeat_pad(mono.float(), self.max_samples)
            spec = torch.stft(
                audio,
                self.n_fft,
                self.hop_length,
                window=self.window,
                center=True,
                pad_mode="reflect",
                return_complex=True,
            )
            mel = self.mel @ spec.abs().square()
            log_mel = power_db(mel).transpose(1, 2)[:, None]
            return log_mel.expand(-1, 4, -1, -1).contiguous() if self.fused else log_mel
