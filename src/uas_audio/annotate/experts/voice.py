"""Voice activity from frame energy and spectral cues, and the voice-activity expert.

A frame is speech-like when it is well above the clip's noise floor, most of its energy lies in the
speech band (150 Hz - 4 kHz) and it is periodic (YIN) or spectrally peaky; short gaps are bridged and
short blips dropped, so the result follows syllables and words rather than single frames.
"""

from __future__ import annotations

import numpy as np

from ..clip import Clip
from .analysis import HOP_S, frame_energy_db, power_spectrogram, spectrogram_freqs
from .base import Measurements
from .pitch import clip_f0

SPEECH_BAND_HZ = (150.0, 4000.0)
#: Level above the noise floor (10th percentile of frame energy) a frame must reach to count.
FLOOR_MARGIN_DB = 9.0
#: Frames more than this below the loudest frame are never speech.
DYNAMIC_RANGE_DB = 40.0
MIN_GAP_S, MIN_SEGMENT_S = 0.20, 0.08


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the True runs of a boolean vector."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _voice_activity(clip: Clip) -> np.ndarray:
    energy = frame_energy_db(clip)
    power = power_spectrogram(clip)
    freqs = spectrogram_freqs(clip)
    band = (freqs >= SPEECH_BAND_HZ[0]) & (freqs <= SPEECH_BAND_HZ[1])
    band_ratio = power[:, band].sum(axis=1) / (power.sum(axis=1) + 1e-12)
    # Spectral flatness (geometric / arithmetic mean): low for voiced or formant-shaped frames, high for hiss.
    log_mean = np.mean(np.log(power[:, band] + 1e-12), axis=1)
    flatness = np.exp(log_mean) / (power[:, band].mean(axis=1) + 1e-12)
    f0 = clip_f0(clip)
    periodic = np.zeros(len(energy), dtype=bool)
    n = min(len(energy), len(f0))
    periodic[:n] = np.isfinite(f0[:n])

    floor = np.percentile(energy, 10)
    loud = (energy > floor + FLOOR_MARGIN_DB) & (energy > energy.max() - DYNAMIC_RANGE_DB) & (energy > -60)
    active = loud & (band_ratio > 0.5) & (periodic | (flatness < 0.25))

    # Bridge short gaps, then drop short segments.
    min_gap, min_seg = int(MIN_GAP_S / HOP_S), int(MIN_SEGMENT_S / HOP_S)
    for start, end in _runs(~active):
        if start > 0 and end < len(active) and end - start < min_gap:
            active[start:end] = True
    for start, end in _runs(active):
        if end - start < min_seg:
            active[start:end] = False
    return active


def voice_activity(clip: Clip) -> np.ndarray:
    """(T,) boolean speech mask on the shared 10 ms frame grid."""
    return clip.analysis("voice_activity", _voice_activity)


def _centroid(clip: Clip, active: np.ndarray) -> float | None:
    """Mean spectral centroid (Hz) of the speech frames: how bright the voice sounds."""
    if not active.any():
        return None
    power = power_spectrogram(clip)[: len(active)][active[: len(power_spectrogram(clip))]]
    freqs = spectrogram_freqs(clip)
    centroids = (power * freqs).sum(axis=1) / (power.sum(axis=1) + 1e-12)
    return round(float(centroids.mean()), 1)


class VoiceActivityExpert:
    """How much of the clip is speech, in how many segments, over what span (first speech frame to last: the
    time a sentence takes, pauses included, which the voice rules divide its syllables by to read the pace),
    and how bright the voice is."""

    name = "voice_activity"

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        out = []
        for clip in batch:
            active = voice_activity(clip)
            segments = _runs(active)
            out.append({
                "voice_centroid_hz": _centroid(clip, active),
                "speech_s": round(float(active.sum() * HOP_S), 3),
                "speech_fraction": round(float(active.mean()) if active.size else 0.0, 4),
                "speech_segments": len(segments),
                "speech_span_s": round((segments[-1][1] - segments[0][0]) * HOP_S, 3) if segments else 0.0,
            })
        return out

    def describe(self, m: Measurements) -> str:
        if not m.get("speech_segments"):
            return "no speech"
        return f"speech in {m['speech_segments']} segment(s), {m['speech_s']:.1f} s in total"
