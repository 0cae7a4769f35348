"""Scores of synthesized speech against the clip it resynthesizes: mel L1 and mel-cepstral distortion against the
clip's own log-mel, Griffin-Lim as the vocoder-free peer, and PocketSphinx's transcript for a word error rate.

Used by ``benchmarks/speech_head.py`` (many clips) and the quickstart's "Speech out" step (one held-out clip).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..audio.mel import N_FFT, mel_filters
from ..modeling.speech.mel import speech_log_mel

GRIFFIN_LIM_ITERATIONS = 32
NUM_CEPSTRA = 24
#: PocketSphinx's front end fails on digital silence (espeak-ng pads with exact zeros: WER 84 % instead of 55 % on
#: six en-us sentences), so every clip, of every system alike, gets Gaussian dither of this RMS (-60 dBFS) first.
ASR_DITHER = 1e-3


def _features_to_ln_power(mel: torch.Tensor) -> torch.Tensor:
    return (mel * 4.0 - 4.0) * math.log(10.0)  # features are (log10(power) + 4) / 4


def mel_cepstral_distortion(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Mean over frames of (10 / ln 10) · sqrt(2 · Σ_{k=1..24} (c_k − c'_k)²), cepstra by DCT-II of the natural-log
    mel amplitude (half the ln power). A mel-filterbank approximation of the usual SPTK mel-cepstra: compare values
    measured this way with each other, not with published MCDs."""
    per_frame = (10.0 / math.log(10.0)) * np.sqrt(2.0 * ((_cepstra(reference) - _cepstra(other)) ** 2).sum(axis=0))
    return float(per_frame.mean())


def _cepstra(features: torch.Tensor) -> np.ndarray:
    """c1 … c24 per frame (24, frames): DCT-II (orthonormal) of the natural-log mel amplitude."""
    from scipy.fft import dct

    return dct(0.5 * _features_to_ln_power(features).numpy(), type=2, norm="ortho", axis=0)[1 : NUM_CEPSTRA + 1]


def griffin_lim(mel: torch.Tensor, iterations: int = GRIFFIN_LIM_ITERATIONS) -> torch.Tensor:
    """Waveform (frames × 160,) from a log-mel (128, frames): pseudo-inverse of the mel filters, then Griffin-Lim."""
    filters = mel_filters()  # (201, 128)
    power = torch.linalg.pinv(filters.T) @ torch.exp(_features_to_ln_power(mel))
    magnitude = power.clamp(min=0).sqrt()  # (201, frames)
    magnitude = torch.cat([magnitude, magnitude[:, -1:]], dim=1)  # the centred STFT has one more frame
    window = torch.hann_window(N_FFT)
    length = mel.shape[-1] * 160
    phase = torch.exp(2j * math.pi * torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(0)))
    for _ in range(iterations):
        wav = torch.istft(magnitude * phase, N_FFT, 160, window=window, length=length)
        spec = torch.stft(wav, N_FFT, 160, window=window, return_complex=True)
        phase = torch.exp(1j * torch.angle(spec))
    return torch.istft(magnitude * phase, N_FFT, 160, window=window, length=length)


def mel_scores(reference_mel: torch.Tensor, wav: torch.Tensor) -> tuple[float, float]:
    """(mel L1 in feature units, MCD in dB) of a waveform against a reference log-mel (128, frames)."""
    frames = reference_mel.shape[-1]
    mel = speech_log_mel(wav[None])[0][0][:, :frames]
    return float((mel - reference_mel).abs().mean()), mel_cepstral_distortion(reference_mel, mel)


def pocketsphinx_available() -> bool:
    """Whether the recogniser of :func:`recognise` is installed (``uas-audio[experts]``)."""
    from importlib.util import find_spec

    return find_spec("pocketsphinx") is not None


def recognise(wav: torch.Tensor | np.ndarray, rng: np.random.Generator) -> str:
    """PocketSphinx's transcript of one 16 kHz clip (after :data:`ASR_DITHER`), by a fresh decoder: one decoder
    carries adaptive state (noise and cepstral-mean estimates) from utterance to utterance, which made the original
    clips' WER depend on what the decoder had heard before them (56.6 % and 61.3 % in two runs on the same clips)."""
    from ..annotate.experts.pocketsphinx_asr import PocketsphinxASRExpert

    wav = np.asarray(wav, dtype=np.float32)
    noise = ASR_DITHER * rng.standard_normal(wav.size).astype(np.float32)
    text, _ = PocketsphinxASRExpert().transcribe(wav + noise, 16_000)
    return text


def word_errors(reference: str, hypothesis: str) -> int:
    """Substitutions + deletions + insertions of ``hypothesis`` against ``reference`` (both already normalised); an
    empty hypothesis deletes every reference word."""
    import jiwer

    if not hypothesis.split():
        return len(reference.split())
    measured = jiwer.process_words(reference, hypothesis)
    return measured.substitutions + measured.deletions + measured.insertions
