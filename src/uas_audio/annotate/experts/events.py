"""Discrete sound events from onset detection, with times.

Onset strength per 10 ms frame: the log energy of 24 log-spaced bands (60 Hz - 7.9 kHz) is compared with
the maximum of the same band over the preceding 20-90 ms (its *novelty*); a band counts when its novelty
exceeds ``novelty_db`` *and* it reaches the band's own 95th-percentile level in the clip (an adaptive
threshold: a sound must be new and as loud as the loudest moments of that band, so steady beds, noise
fluctuations and ordinary syllables do not fire). A frame is an onset when at least ``min_bands`` bands
count and it is a local maximum of that count. Onsets closer than ``group_gap_s`` belong to one event
(a run of knocks, claps or beeps is one event, as in UAS). Each event is labelled from its spectrum and
decay.

Thresholds were chosen on a 200-clip synthetic corpus (seed 1) and checked on others; see docs/annotation.md.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d

from ..clip import Clip
from .analysis import HOP_S, frame_energy_db, power_spectrogram, spectrogram_freqs
from .base import Measurements

NOVELTY_DB = 12.0
MIN_BANDS = 6
GROUP_GAP_S = 0.6
BAND_RANGE_DB = 50.0
_BAND_EDGES_HZ = np.geomspace(60.0, 7900.0, 25)
_LOOKBACK = range(2, 10)  # frames: 20-90 ms before


def band_energies_db(clip: Clip) -> np.ndarray:
    """(T, 24) log band energies, floored 80 dB under the clip's loudest band."""

    def compute(c: Clip) -> np.ndarray:
        power = power_spectrogram(c)
        freqs = spectrogram_freqs(c)
        band = np.searchsorted(_BAND_EDGES_HZ, freqs) - 1
        bands = len(_BAND_EDGES_HZ) - 1
        valid = (band >= 0) & (band < bands)
        member = np.zeros((len(freqs), bands), dtype=np.float64)  # bin -> band, one-hot: a matmul sums the bands
        member[np.flatnonzero(valid), band[valid]] = 1.0
        sums = power.astype(np.float64) @ member
        levels = 10 * np.log10(sums + 1e-10)
        return np.maximum(levels, levels.max() - 80.0)

    return clip.analysis("band_energies_db", compute)


def onset_strength(clip: Clip, novelty_db: float = NOVELTY_DB) -> np.ndarray:
    """(T,) number of bands that are both novel and at their loud level (see module docstring)."""
    levels = band_energies_db(clip)
    past_max = np.full_like(levels, -np.inf)
    for k in _LOOKBACK:
        past_max[k:] = np.maximum(past_max[k:], levels[:-k])
    novel = levels - np.where(np.isfinite(past_max), past_max, levels) > novelty_db
    # At the band's own loud level, and not spectral leakage far under the clip's loudest band.
    loud = (levels >= np.percentile(levels, 95, axis=0)) & (levels > levels.max() - BAND_RANGE_DB)
    return (novel & loud).sum(axis=1)


def detect_events(clip: Clip, novelty_db: float = NOVELTY_DB, min_bands: int = MIN_BANDS,
                  group_gap_s: float = GROUP_GAP_S) -> list[list[int]]:
    """Events as lists of onset frame indices (onsets of one event are < ``group_gap_s`` apart)."""
    strength = onset_strength(clip, novelty_db)
    onsets = np.flatnonzero((strength >= min_bands) & (strength == maximum_filter1d(strength, 5)))
    events: list[list[int]] = []
    for idx in onsets.tolist():
        if events and (idx - events[-1][-1]) * HOP_S <= group_gap_s:
            events[-1].append(idx)
        else:
            events.append([idx])
    return events


def _label_event(clip: Clip, onsets: list[int]) -> tuple[str, str]:
    """A label and characteristic from the first onset's spectrum, its decay and the number of repeats."""
    energy = frame_energy_db(clip)
    power = power_spectrogram(clip)
    freqs = spectrogram_freqs(clip)
    idx = onsets[0]
    peak = idx + int(np.argmax(energy[idx: idx + 5]))
    floor = energy[max(0, idx - 5): idx + 1].min()
    tail = np.flatnonzero(energy[peak:] <= max(floor, energy[peak] - 20))
    decay_s = (tail[0] if tail.size else len(energy) - peak) * HOP_S
    spectrum = power[peak]
    centroid = float((spectrum * freqs).sum() / (spectrum.sum() + 1e-12))
    tonal = float(spectrum.max() / (spectrum.mean() + 1e-12)) > 40.0
    repeats = len(onsets)
    if tonal and centroid > 500:
        label = "chime" if decay_s > 0.4 else "beep"
    elif centroid < 500:
        label = "door slam" if decay_s > 0.25 and repeats == 1 else "knock"
    elif decay_s <= 0.04 and centroid > 2500:
        label = "click"
    else:
        label = "clap"
    brightness = "sharp" if centroid > 2500 else "dull" if centroid < 800 else "crisp"
    times = "once" if repeats == 1 else f"{repeats} times in a row"
    return label, f"{brightness} {'tonal' if tonal else 'percussive'} sound, {times}"


class OnsetEventExpert:
    """Discrete events: onset times, event count, and a label/characteristic per event."""

    name = "events"

    def __init__(self, novelty_db: float = NOVELTY_DB, min_bands: int = MIN_BANDS, group_gap_s: float = GROUP_GAP_S):
        self.novelty_db, self.min_bands, self.group_gap_s = novelty_db, min_bands, group_gap_s

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        out = []
        for clip in batch:
            events = detect_events(clip, self.novelty_db, self.min_bands, self.group_gap_s)
            labelled = [_label_event(clip, onsets) for onsets in events]
            out.append({
                "event_onsets_s": [round(onsets[0] * HOP_S, 2) for onsets in events],
                "event_count": len(events),
                "event_labels": [label for label, _ in labelled],
                "event_characteristics": [ch for _, ch in labelled],
            })
        return out

    def describe(self, m: Measurements) -> str:
        if not m.get("event_count"):
            return ""
        parts = [f"{label} at {t:.1f} s" for label, t in zip(m["event_labels"], m["event_onsets_s"])]
        return "transient sounds: " + ", ".join(parts)
