"""F0 with a YIN tracker vectorised over frames (FFT difference function), and the pitch expert.

YIN (de Cheveigné & Kawahara, 2002): the squared-difference function of each frame is computed for every
lag at once from an FFT cross-correlation and cumulative energies, normalised by its cumulative mean, and
the first dip under a threshold gives the period, refined by parabolic interpolation.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..clip import Clip
from .analysis import frame_signal
from .base import Measurements

# Documented speaking-F0 norms used to word pitch level (Titze, "Principles of Voice Production"; Baken &
# Orlikoff): adult male speaking F0 typically 85-180 Hz, adult female 165-255 Hz, children above ~250 Hz.
MALE_F0_HZ = (85.0, 180.0)
FEMALE_F0_HZ = (165.0, 255.0)
#: Median F0 below which a voice is read as male (the boundary between the two bands' centres).
GENDER_F0_BOUNDARY_HZ = 165.0
#: Pitch range (5th-95th percentile of voiced F0) in semitones: under 4 reads monotone, over 10 wide.
NARROW_RANGE_ST, WIDE_RANGE_ST = 4.0, 10.0


#: A frame whose normalised difference also dips under this at a half or a third of the found period holds a
#: tone above the voice range (its true period is shorter than sr/fmax, e.g. a chime's partial), whose period
#: multiples YIN would otherwise report as a low F0.
OVERTONE_DIP = 0.3


def yin_track(
    x: np.ndarray,
    sampling_rate: int = 16000,
    fmin: float = 60.0,
    fmax: float = 500.0,
    hop_s: float = 0.010,
    threshold: float = 0.15,
    silence_db: float = -50.0,
    reject_overtones: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """F0 per frame (Hz, NaN where unvoiced) and the aperiodicity (min normalised difference) per frame.

    Frames are ``ceil(sr/fmin)`` long windows with a 10 ms hop; a frame is voiced when its normalised
    difference dips under ``threshold`` inside [sr/fmax, sr/fmin] and its level is above ``silence_db`` dBFS.
    With ``reject_overtones``, frames holding a tone above ``fmax`` (see ``OVERTONE_DIP``) are unvoiced too.
    """
    f0, aperiodicity, overtone = _yin(x, sampling_rate, fmin, fmax, hop_s, threshold, silence_db)
    if reject_overtones:
        f0 = np.where(overtone, np.float32(np.nan), f0)
    return f0, aperiodicity


def _normalised_difference(frames: np.ndarray, window: int, tau_max: int) -> tuple[np.ndarray, np.ndarray]:
    """YIN's cumulative-mean-normalised difference (T, tau_max + 1) and the frames' energy at each lag.

    The squared difference d(tau) = e(0) + e(tau) - 2 r(tau) takes r from an FFT cross-correlation of each frame
    with its head and e from cumulative energies. The arithmetic is the textbook form's, step for step, in
    preallocated buffers and slices (no fancy indexing, no temporaries): this is the largest share of the signal
    experts' time, and ``tests/test_annotate_experts.py`` checks the result is bit-identical to the plain form.
    """
    num_frames = frames.shape[0]
    nfft = 1 << int(np.ceil(np.log2(frames.shape[1] + window)))
    spectrum = scipy.fft.rfft(frames, n=nfft, axis=1)  # float32 transforms: half the cost of float64
    head = scipy.fft.rfft(frames[:, :window], n=nfft, axis=1)
    spectrum *= np.conj(head)
    corr = scipy.fft.irfft(spectrum, n=nfft, axis=1)[:, : tau_max + 1].astype(np.float64)  # r(tau) = sum x_j x_{j+tau}

    squares = np.square(frames, dtype=np.float64)
    cum = np.empty((num_frames, squares.shape[1] + 1))
    cum[:, 0] = 0.0
    np.cumsum(squares, axis=1, out=cum[:, 1:])
    taus = np.arange(tau_max + 1)
    energy_at_lag = cum[:, window : window + tau_max + 1] - cum[:, : tau_max + 1]  # sum_{j=tau}^{tau+W-1} x_j^2
    diff = np.add(energy_at_lag[:, :1], energy_at_lag)
    corr *= 2.0
    diff -= corr
    diff[:, 0] = 0.0
    np.maximum(diff, 0.0, out=diff)

    running = np.cumsum(diff[:, 1:], axis=1)
    np.maximum(running, 1e-12, out=running)
    cmnd = diff  # diff is not read again: the normalised difference overwrites it
    cmnd[:, 1:] *= taus[1:]
    cmnd[:, 1:] /= running
    cmnd[:, 0] = 1.0
    return cmnd, energy_at_lag


def _yin(x, sampling_rate, fmin, fmax, hop_s, threshold, silence_db) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YIN F0, aperiodicity and the overtone mask (frames whose true period is shorter than sr/fmax)."""
    x = np.asarray(x, dtype=np.float32)
    tau_min = max(2, int(np.floor(sampling_rate / fmax)))
    tau_max = int(np.ceil(sampling_rate / fmin))
    window = tau_max + 1  # integration window: one longest period
    hop = max(1, int(round(hop_s * sampling_rate)))
    frames = frame_signal(x, window + tau_max + 1, hop)  # (T, W + tau_max + 1) float32
    num_frames = frames.shape[0]

    cmnd, energy_at_lag = _normalised_difference(frames, window, tau_max)

    search = cmnd[:, tau_min : tau_max + 1]
    local_min = np.zeros_like(search, dtype=bool)
    local_min[:, 1:-1] = (search[:, 1:-1] <= search[:, :-2]) & (search[:, 1:-1] <= search[:, 2:])
    candidates = (search < threshold) & local_min
    has_candidate = candidates.any(axis=1)
    first = np.argmax(candidates, axis=1)
    aperiodicity = search.min(axis=1)

    # Parabolic interpolation of the dip on the normalised difference.
    idx = np.clip(first, 1, search.shape[1] - 2)
    rows = np.arange(num_frames)
    left, mid, right = search[rows, idx - 1], search[rows, idx], search[rows, idx + 1]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    period = tau_min + idx + np.clip(shift, -1, 1)

    level_db = 10 * np.log10(energy_at_lag[:, 0] / window + 1e-12) + 3.01  # sine peak ~ 0 dBFS
    voiced = has_candidate & (level_db > silence_db)
    overtone = np.zeros(num_frames, dtype=bool)
    lag = tau_min + idx
    for divisor in (2, 3):
        sub = np.maximum(1, np.round(lag / divisor).astype(int))
        # the dip may fall between integer lags: take the smaller neighbour
        dip = np.minimum(cmnd[rows, sub], cmnd[rows, np.minimum(sub + 1, tau_max)])
        overtone |= (sub >= 2) & (dip < OVERTONE_DIP)
    f0 = np.where(voiced, sampling_rate / period, np.nan)
    return f0.astype(np.float32), aperiodicity.astype(np.float32), voiced & overtone


def _clip_yin(clip: Clip, fmin: float, fmax: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    def compute(c: Clip) -> tuple[np.ndarray, np.ndarray]:
        f0, _, overtone = _yin(c.waveform, c.sampling_rate, fmin, fmax, 0.010, threshold, -50.0)
        return f0, overtone

    return clip.analysis(f"f0:{fmin}:{fmax}:{threshold}", compute)


def clip_f0(clip: Clip, fmin: float = 60.0, fmax: float = 500.0, threshold: float = 0.15) -> np.ndarray:
    """The clip's F0 track, computed once per clip and parameter set."""
    return _clip_yin(clip, fmin, fmax, threshold)[0]


def clip_voice_f0(clip: Clip) -> np.ndarray:
    """The default F0 track without the frames that hold a tone above the voice range (``OVERTONE_DIP``):
    the track gender and age cues read, free of chimes' and beeps' subharmonics."""
    f0, overtone = _clip_yin(clip, 60.0, 500.0, 0.15)
    return np.where(overtone, np.float32(np.nan), f0)


def f0_statistics(f0: np.ndarray) -> dict[str, float | None]:
    """Summary of a track: mean, median, 5th/95th percentile and range in semitones over voiced frames."""
    voiced = f0[np.isfinite(f0)]
    if voiced.size < 3:
        return {"f0_mean_hz": None, "f0_median_hz": None, "f0_low_hz": None, "f0_high_hz": None,
                "f0_range_st": None, "voiced_fraction": float(voiced.size / max(1, f0.size))}
    low, high = np.percentile(voiced, [5, 95])
    return {
        "f0_mean_hz": round(float(voiced.mean()), 2),
        "f0_median_hz": round(float(np.median(voiced)), 2),
        "f0_low_hz": round(float(low), 2),
        "f0_high_hz": round(float(high), 2),
        "f0_range_st": round(float(12 * np.log2(high / low)), 2),
        "voiced_fraction": round(float(voiced.size / f0.size), 4),
    }


def pitch_level(median_hz: float | None) -> str | None:
    """"low" / "medium" / "high" against the male and female bands (below the male centre is low, above the
    female centre high)."""
    if median_hz is None:
        return None
    if median_hz < sum(MALE_F0_HZ) / 2:
        return "low"
    if median_hz > sum(FEMALE_F0_HZ) / 2:
        return "high"
    return "medium"


def pitch_range(range_st: float | None) -> str | None:
    if range_st is None:
        return None
    if range_st < NARROW_RANGE_ST:
        return "narrow"
    if range_st > WIDE_RANGE_ST:
        return "wide"
    return "moderate"


class PitchExpert:
    """F0 statistics and worded pitch level / range of the voice in a clip."""

    name = "pitch"

    def __init__(self, fmin: float = 60.0, fmax: float = 500.0, threshold: float = 0.15):
        self.fmin, self.fmax, self.threshold = fmin, fmax, threshold

    def track(self, clip: Clip) -> np.ndarray:
        return clip_f0(clip, self.fmin, self.fmax, self.threshold)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        out = []
        for clip in batch:
            stats = f0_statistics(self.track(clip))
            stats["pitch_level"] = pitch_level(stats["f0_median_hz"])
            stats["pitch_range"] = pitch_range(stats["f0_range_st"])
            out.append(stats)
        return out

    def describe(self, m: Measurements) -> str:
        if m.get("f0_median_hz") is None:
            return ""
        return (f"{m['pitch_level']}-pitched voice (median F0 {m['f0_median_hz']:.0f} Hz) "
                f"with a {m['pitch_range']} pitch range")
