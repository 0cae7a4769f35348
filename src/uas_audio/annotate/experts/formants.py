"""Vocal-tract cues of the voice: formants F1-F4 by linear prediction, and the speech F0 the gender and age
rules pair them with.

Formants: voiced, louder-than-median speech frames (all speech frames when fewer than 5 are voiced, as in
whispers: the formants are still there without F0) are resampled to 11.025 kHz, pre-emphasised and
Hamming-windowed (25 ms); an order-12 LPC polynomial's roots with bandwidth under 500 Hz between 200 Hz and
5.2 kHz are the formant candidates, the lowest four of a frame are its F1-F4, and the clip's formants are the
medians over up to 60 frames. Longer vocal tracts (adult male) have lower formants: on the synthetic
corpus F4 sits near 3.1-3.7 kHz for adult male voices and 3.5-4.4 kHz for adult female ones.

Speech F0: the F0 of voiced speech frames, with frames that hold a tone above the voice range removed
(``pitch.clip_voice_f0``), summarised three ways: the 25th percentile (``speech_f0_hz``: background tones and
events that overlap speech push F0 estimates up far more often than down), the median
(``speech_f0_median_hz``: the speaker's pitch height, which the voice rules compare with the calm F0 of each
gender, age and emotion) and the spread (``speech_f0_spread_st``: 10th to 90th percentile in semitones of the
frames within half a natural-log unit, about an octave down or up, of the median, so octave errors do not
count as intonation). A flat, narrow spread is what sad and angry voices have in common; calm and happy
voices move more.
"""

from __future__ import annotations

import numpy as np
import soxr

from ..clip import Clip
from .analysis import HOP_S, frame_energy_db, frame_signal
from .base import Measurements
from .pitch import clip_f0, clip_voice_f0
from .voice import voice_activity

_LPC_RATE = 11_025
_ORDER = 12
_NUM_FORMANTS = 4
_FRAME = int(0.025 * _LPC_RATE)
_MAX_FRAMES = 60
_MIN_FRAMES = 5
SPEECH_F0_PERCENTILE = 25.0
#: Spread of the speech F0: these percentiles, over the frames within this many natural-log units of the median.
SPREAD_PERCENTILES, SPREAD_WINDOW = (10.0, 90.0), 0.5


def estimate_formants(clip: Clip) -> tuple[float, float, float, float] | None:
    """(F1, F2, F3, F4) in Hz, or None when the clip has too little speech."""
    f0, energy, active = clip_f0(clip), frame_energy_db(clip), voice_activity(clip)
    n = min(len(f0), len(energy), len(active))
    voiced = np.isfinite(f0[:n]) & active[:n]
    if voiced.sum() < _MIN_FRAMES:
        voiced = active[:n]  # whispered speech: no F0, formants are still there
    if voiced.sum() < _MIN_FRAMES:
        return None
    loud = voiced & (energy[:n] >= np.median(energy[:n][voiced]))
    x = soxr.resample(clip.waveform, clip.sampling_rate, _LPC_RATE)
    frames = frame_signal(x, _FRAME, int(round(HOP_S * _LPC_RATE)))
    chosen = np.flatnonzero(loud)
    chosen = chosen[chosen < len(frames)]
    if chosen.size == 0:
        return None
    chosen = chosen[np.linspace(0, len(chosen) - 1, min(_MAX_FRAMES, len(chosen))).astype(int)]
    found = _frame_formants(frames[chosen].astype(np.float64))
    if len(found) < 3:
        return None
    f1, f2, f3, f4 = np.median(np.asarray(found), axis=0)
    return float(f1), float(f2), float(f3), float(f4)


def _frame_formants(frames: np.ndarray) -> list[np.ndarray]:
    """The lowest ``_NUM_FORMANTS`` LPC formant candidates of each frame (frames with fewer are skipped),
    vectorised over frames: FFT autocorrelation, Levinson-Durbin, batched companion-matrix eigenvalues."""
    emphasised = np.concatenate([frames[:, :1], frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    windowed = emphasised * np.hamming(_FRAME)
    nfft = 1 << int(np.ceil(np.log2(2 * _FRAME)))
    spectrum = np.fft.rfft(windowed, nfft, axis=1)
    r = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, nfft, axis=1)[:, : _ORDER + 1]
    r = r[r[:, 0] > 0]
    if len(r) == 0:
        return []
    r[:, 1:] *= 1.0 - 1e-9  # keeps the Toeplitz system positive definite on exactly periodic frames
    # Levinson-Durbin for all frames at once: a[:, :k+1] are the order-k predictor coefficients (a0 = 1).
    a = np.zeros((len(r), _ORDER + 1))
    a[:, 0] = 1.0
    error = r[:, 0].copy()
    for k in range(1, _ORDER + 1):
        reflection = -(a[:, :k] * r[:, k:0:-1]).sum(axis=1) / error
        a[:, 1: k + 1] = a[:, 1: k + 1] + reflection[:, None] * a[:, k - 1:: -1][:, :k]
        error *= 1.0 - reflection**2
    companion = np.zeros((len(r), _ORDER, _ORDER))
    companion[:, 0, :] = -a[:, 1:]
    companion[:, np.arange(1, _ORDER), np.arange(_ORDER - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    found = []
    for frame_roots in roots:
        frame_roots = frame_roots[np.imag(frame_roots) > 0.01]
        freqs = np.angle(frame_roots) * _LPC_RATE / (2 * np.pi)
        bandwidths = -_LPC_RATE / np.pi * np.log(np.abs(frame_roots))
        candidates = np.sort(freqs[(freqs > 200) & (freqs < _LPC_RATE / 2 - 300) & (bandwidths < 500)])
        if len(candidates) >= _NUM_FORMANTS:
            found.append(candidates[:_NUM_FORMANTS])
    return found


def speech_f0(clip: Clip) -> tuple[float | None, float]:
    """(lower-quartile F0 of voiced speech frames in Hz or None, fraction of speech frames that are voiced)."""
    profile = speech_f0_profile(clip)
    return profile["speech_f0_hz"], profile["speech_voiced_fraction"]


def speech_f0_profile(clip: Clip) -> dict[str, float | None]:
    """Lower-quartile and median F0 (Hz) of the voiced speech frames, their spread in semitones (frames more
    than ``SPREAD_WINDOW`` natural-log units from the median left out), and the voiced fraction of the speech
    frames; Nones when under ``_MIN_FRAMES`` frames are voiced."""
    f0, active = clip_voice_f0(clip), voice_activity(clip)
    n = min(len(f0), len(active))
    voiced = np.isfinite(f0[:n]) & active[:n]
    fraction = float(voiced.sum() / max(1, active[:n].sum()))
    out: dict[str, float | None] = {"speech_f0_hz": None, "speech_f0_median_hz": None, "speech_f0_spread_st": None,
                                    "speech_voiced_fraction": fraction}
    if voiced.sum() < _MIN_FRAMES:
        return out
    log_f0 = np.log(f0[:n][voiced].astype(np.float64))
    median = float(np.median(log_f0))
    near = log_f0[np.abs(log_f0 - median) < SPREAD_WINDOW]
    if near.size == 0:  # an even count split into two clusters (octave jumps) leaves the median between them
        near = log_f0
    low, high = np.percentile(near, SPREAD_PERCENTILES)
    out.update(speech_f0_hz=float(np.percentile(f0[:n][voiced], SPEECH_F0_PERCENTILE)),
               speech_f0_median_hz=float(np.exp(median)), speech_f0_spread_st=float(12.0 / np.log(2) * (high - low)))
    return out


class FormantExpert:
    """Median F1-F4 of the speech, and the speech F0 (lower quartile, median, spread) with its voiced fraction."""

    name = "formants"

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        out = []
        for clip in batch:
            formants = estimate_formants(clip)
            values = [round(f, 1) for f in formants] if formants else [None] * _NUM_FORMANTS
            row = dict(zip(("f1_hz", "f2_hz", "f3_hz", "f4_hz"), values))
            profile = speech_f0_profile(clip)
            for key in ("speech_f0_hz", "speech_f0_median_hz", "speech_f0_spread_st"):
                row[key] = round(profile[key], 2) if profile[key] is not None else None
            row["speech_voiced_fraction"] = round(profile["speech_voiced_fraction"], 4)
            out.append(row)
        return out

    def describe(self, m: Measurements) -> str:
        if m.get("f4_hz") is None:
            return ""
        return (f"formants F1 {m['f1_hz']:.0f} / F2 {m['f2_hz']:.0f} / F3 {m['f3_hz']:.0f} / "
                f"F4 {m['f4_hz']:.0f} Hz")
