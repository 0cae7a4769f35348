"""Stage-1 signal experts on numpy signals whose truth is known: sines, clicks at set times, coloured
noise, mains hum."""

import numpy as np
import pytest

from uas_audio.annotate.clip import Clip
from uas_audio.annotate.experts import (
    BackgroundExpert,
    LoudnessExpert,
    OnsetEventExpert,
    PitchExpert,
    SNRExpert,
    VoiceActivityExpert,
    build_expert,
    build_experts,
    describe,
    run_experts,
)
from uas_audio.annotate.experts.level import wada_snr
from uas_audio.annotate.experts.pitch import yin_track
from uas_audio.annotate.experts.rate import count_syllables, word_syllables

SR = 16000


def _harmonic(f0: float, seconds: float = 2.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t)
                   + 0.25 * np.sin(6 * np.pi * f0 * t))).astype(np.float32)


def _noise(seconds: float, exponent: float, rms: float, seed: int = 0) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ f^-exponent at the given RMS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spectrum[1:] *= freqs[1:] ** (-exponent / 2)
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return (x / np.sqrt(np.mean(x**2)) * rms).astype(np.float32)


def _clip(x: np.ndarray, transcript: str | None = None) -> Clip:
    return Clip("c", np.asarray(x, dtype=np.float32), SR, transcript)


@pytest.mark.parametrize("f0", [70.0, 110.0, 185.5, 260.0, 420.0])
def test_yin_recovers_the_f0_of_a_harmonic_tone(f0):
    track, _ = yin_track(_harmonic(f0), SR)
    assert np.isfinite(track).mean() > 0.95
    assert abs(np.nanmedian(track) - f0) / f0 < 0.005


def test_yin_leaves_white_noise_and_silence_unvoiced():
    assert np.isfinite(yin_track(_noise(1.0, 0.0, 0.1), SR)[0]).mean() < 0.05
    assert not np.isfinite(yin_track(np.zeros(SR, np.float32), SR)[0]).any()


def test_yin_follows_a_pitch_step():
    x = np.concatenate([_harmonic(120.0, 1.0), _harmonic(240.0, 1.0)])
    track, _ = yin_track(x, SR)
    assert abs(np.nanmedian(track[10:90]) - 120.0) < 1.0
    assert abs(np.nanmedian(track[110:190]) - 240.0) < 2.0


def test_pitch_expert_words_level_and_range_against_the_norms():
    low, high = PitchExpert()([_clip(_harmonic(100.0)), _clip(_harmonic(280.0))])
    assert low["pitch_level"] == "low" and high["pitch_level"] == "high"
    assert low["pitch_range"] == "narrow"  # a steady tone has no pitch movement
    assert abs(low["f0_median_hz"] - 100.0) < 0.5
    assert "100 Hz" in PitchExpert().describe(low)


def test_voice_activity_finds_the_voiced_bursts_and_not_the_pauses():
    burst = _harmonic(150.0, 0.5)
    x = np.concatenate([np.zeros(SR // 2), burst, np.zeros(SR // 2), burst, np.zeros(SR // 2)]).astype(np.float32)
    m = VoiceActivityExpert()([_clip(x)])[0]
    assert m["speech_segments"] == 2
    assert 0.8 <= m["speech_s"] <= 1.1
    assert 1.3 <= m["speech_span_s"] <= 1.6  # first to last speech frame: both bursts and the pause between


@pytest.mark.parametrize("word, syllables", [("hello", 2), ("the", 1), ("make", 1), ("table", 2),
                                               ("beautiful", 3), ("jumped", 1), ("started", 2), ("2024", 5)])
def test_syllable_counter_on_common_words(word, syllables):
    assert word_syllables(word) == syllables


def test_syllable_counter_sums_a_sentence():
    assert count_syllables("The quick brown fox jumped over the lazy dog.") == 11


def test_speaking_rate_is_syllables_per_voiced_second():
    x = np.concatenate([_harmonic(150.0, 2.0), np.zeros(SR, np.float32)])
    m = run_experts(build_experts(["voice_activity", "speaking_rate"]), [_clip(x, "hello there my good old friend")])[0]
    assert m["syllables"] == 7
    assert m["speaking_rate_syl_per_s"] == pytest.approx(7 / m["speech_s"], rel=0.01)
    assert m["speaking_rate"] == "moderate"


def test_loudness_of_a_full_scale_1khz_sine_is_about_minus_3_lufs():
    t = np.arange(2 * SR) / SR
    loud, quiet = LoudnessExpert()([_clip(np.sin(2 * np.pi * 1000 * t)), _clip(0.01 * np.sin(2 * np.pi * 1000 * t))])
    assert loud["loudness_lufs"] == pytest.approx(-3.0, abs=0.5)
    assert quiet["loudness_lufs"] == pytest.approx(-43.0, abs=0.5)
    assert loud["peak_dbfs"] == pytest.approx(0.0, abs=0.01)


def test_wada_snr_tracks_the_true_snr_of_gamma_speech_in_noise():
    rng = np.random.default_rng(3)
    speech = rng.gamma(0.4, 1.0, 4 * SR) * rng.choice([-1, 1], 4 * SR)
    speech /= np.sqrt(np.mean(speech**2))
    noise = rng.standard_normal(4 * SR)
    estimates = [wada_snr(speech + noise * 10 ** (-snr / 20)) for snr in (0.0, 10.0, 20.0)]
    assert estimates == sorted(estimates)
    assert np.allclose(estimates, [0.0, 10.0, 20.0], atol=2.0)
    assert SNRExpert()([_clip(np.zeros(SR))])[0]["snr_db"] is None


def test_onset_expert_finds_clicks_at_their_times():
    x = 0.001 * _noise(4.0, 0.0, 1.0)
    for at in (0.5, 1.7, 3.1):
        i = int(at * SR)
        x[i:i + 160] += (0.8 * np.random.default_rng(int(at * 10)).standard_normal(160) * np.exp(-np.arange(160) / 30))
    m = OnsetEventExpert()([_clip(x)])[0]
    assert m["event_count"] == 3
    assert np.allclose(m["event_onsets_s"], [0.5, 1.7, 3.1], atol=0.03)


def test_onset_expert_groups_a_run_of_knocks_into_one_event():
    x = np.zeros(3 * SR, np.float32)
    hit = (np.sin(2 * np.pi * 200 * np.arange(1440) / SR) * np.exp(-np.arange(1440) / 400)).astype(np.float32)
    for k in range(3):  # three knocks 0.2 s apart, then one more event 1.5 s later
        x[SR // 2 + k * 3200: SR // 2 + k * 3200 + 1440] += 0.5 * hit
    x[int(2.3 * SR): int(2.3 * SR) + 1440] += 0.5 * hit
    m = OnsetEventExpert()([_clip(x)])[0]
    assert m["event_count"] == 2
    assert m["event_onsets_s"][0] == pytest.approx(0.5, abs=0.03)


def test_onset_expert_ignores_steady_noise_and_a_steady_tone():
    for x in (_noise(3.0, 1.0, 0.05), _harmonic(440.0, 3.0)):
        assert OnsetEventExpert()([_clip(x)])[0]["event_count"] == 0


def test_background_detects_mains_hum_and_its_frequency():
    t = np.arange(3 * SR) / SR
    for mains in (50.0, 60.0):
        hum = sum(0.02 / k * np.sin(2 * np.pi * k * mains * t) for k in range(1, 5)).astype(np.float32)
        m = BackgroundExpert()([_clip(hum + _noise(3.0, 0.0, 0.0005))])[0]
        assert m["hum_hz"] == mains
        assert "mains hum" in m["background_labels"]


@pytest.mark.parametrize("exponent, colour", [(0.0, "white"), (1.0, "pink"), (2.0, "brown")])
def test_background_hiss_colour_follows_the_spectral_slope(exponent, colour):
    m = BackgroundExpert()([_clip(_noise(3.0, exponent, 0.02, seed=5))])[0]
    assert m["background_present"]
    assert m["hiss_colour"] == colour


def test_background_reports_low_rumble_and_nothing_on_silence():
    rumble = _noise(3.0, 1.0, 0.05)
    spectrum = np.fft.rfft(rumble)
    spectrum[np.fft.rfftfreq(len(rumble), 1 / SR) > 120] = 0
    m = BackgroundExpert()([_clip(np.fft.irfft(spectrum, len(rumble)))])[0]
    assert m["background_labels"] == ["rumble"]
    silent = BackgroundExpert()([_clip(np.zeros(3 * SR))])[0]
    assert silent["background_labels"] == [] and not silent["background_present"]


def test_background_hears_sustained_chords_as_music():
    t = np.arange(3 * SR) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0, 523.3)).astype(np.float32) * 0.1
    assert "music" in BackgroundExpert()([_clip(chord)])[0]["background_labels"]


def test_every_expert_describes_its_part_of_the_caption():
    experts = build_experts()
    x = _harmonic(130.0, 2.0) + _noise(2.0, 0.0, 0.01)
    m = run_experts(experts, [_clip(x, "a short sentence here")])[0]
    caption = describe(experts, m)
    assert "low-pitched voice" in caption and "LUFS" in caption and "noise hiss" in caption


def test_build_expert_rejects_unknown_types_and_missing_models():
    with pytest.raises(ValueError, match="unknown expert type 'pitchy'"):
        build_expert("pitchy")
    with pytest.raises(ValueError, match="needs a 'model'"):
        build_expert({"type": "audio-classification", "field": "emotion"})
    with pytest.raises(ValueError, match="needs 'field'"):
        build_expert({"type": "audio-classification", "model": "x"})
    with pytest.raises(ValueError, match="unique"):
        build_experts(["pitch", "pitch"])


def _vowel(f0, formants=(500.0, 1500.0, 2500.0, 3500.0), seconds=0.6, tremor_hz=0.0, tremor_depth=0.0):
    """A glottal pulse train (F0 optionally wobbling) through second-order resonators at ``formants``."""
    import scipy.signal

    n = int(seconds * SR)
    t = np.arange(n) / SR
    inst_f0 = f0 * (1.0 + tremor_depth * np.sin(2 * np.pi * tremor_hz * t))
    phase = np.cumsum(inst_f0) / SR
    source = np.diff(np.floor(phase), prepend=0.0)  # one impulse per period
    x = source
    for freq in formants:
        bandwidth = 80.0 + 0.04 * freq
        r = np.exp(-np.pi * bandwidth / SR)
        x = scipy.signal.lfilter([1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * freq / SR), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _spoken(*bursts: np.ndarray) -> np.ndarray:
    gap = np.zeros(SR // 4, np.float32)
    return np.concatenate([gap] + [part for burst in bursts for part in (burst, gap)])


def test_yin_reports_a_tone_above_the_voice_range_unless_overtones_are_rejected():
    t = np.arange(SR) / SR
    chime = (0.3 * np.sin(2 * np.pi * 820.0 * t)).astype(np.float32)
    plain, _ = yin_track(chime, SR)
    assert np.isfinite(plain).mean() > 0.9  # its period multiples read as a low "F0"
    assert abs(np.nanmedian(plain) - 410.0) < 5.0
    rejected, _ = yin_track(chime, SR, reject_overtones=True)
    assert np.isfinite(rejected).mean() < 0.05
    voice, _ = yin_track(_harmonic(150.0), SR, reject_overtones=True)
    assert np.isfinite(voice).mean() > 0.95  # a voice in range stays voiced


def test_formant_expert_recovers_four_resonances_and_the_speech_f0():
    from uas_audio.annotate.experts import FormantExpert

    x = _spoken(_vowel(120.0), _vowel(125.0), _vowel(118.0))
    m = FormantExpert()([_clip(x)])[0]
    for key, truth in zip(("f1_hz", "f2_hz", "f3_hz", "f4_hz"), (500.0, 1500.0, 2500.0, 3500.0)):
        assert abs(m[key] - truth) / truth < 0.1, (key, m[key])  # LPC on a 120 Hz harmonic comb
    assert 115.0 < m["speech_f0_hz"] < 126.0
    assert m["speech_voiced_fraction"] > 0.8
    assert "F4 3" in FormantExpert().describe(m)


def test_speech_f0_median_and_spread_follow_the_voice_and_ignore_octave_errors():
    from uas_audio.annotate.experts import FormantExpert

    steady = FormantExpert()([_clip(_spoken(_vowel(200.0), _vowel(200.0), _vowel(200.0)))])[0]
    assert abs(steady["speech_f0_median_hz"] - 200.0) < 4.0
    assert steady["speech_f0_spread_st"] < 0.5  # a monotone voice
    # three notes a major third apart (0, +4, +8 semitones): median on the middle one, spread about 8 st
    moving = FormantExpert()([_clip(_spoken(_vowel(125.0), _vowel(157.5), _vowel(198.4)))])[0]
    assert abs(moving["speech_f0_median_hz"] - 157.5) < 5.0
    assert 6.5 < moving["speech_f0_spread_st"] < 9.0
    # a burst an octave down is outside the window around the median: it does not widen the spread
    octave = FormantExpert()([_clip(_spoken(_vowel(200.0), _vowel(200.0), _vowel(200.0), _vowel(200.0),
                                            _vowel(100.0)))])[0]
    assert abs(octave["speech_f0_median_hz"] - 200.0) < 4.0
    assert octave["speech_f0_spread_st"] < 0.5


def test_tremor_expert_finds_a_5_hz_wobble_and_not_a_steady_voice():
    from uas_audio.annotate.experts import TremorExpert

    shaking = _spoken(_vowel(120.0, seconds=2.0, tremor_hz=5.0, tremor_depth=0.03))
    steady = _spoken(_vowel(120.0, seconds=2.0))
    wobble, calm = TremorExpert()([_clip(shaking), _clip(steady)])
    assert wobble["tremor_ratio"] > 12.0 and abs(wobble["tremor_hz"] - 5.0) < 0.3
    assert calm["tremor_ratio"] is None or calm["tremor_ratio"] < 12.0
    assert "5.0 Hz tremor" in TremorExpert().describe(wobble)


def _textbook_yin_difference(frames: np.ndarray, window: int, tau_max: int) -> np.ndarray:
    """The cumulative-mean-normalised difference written plainly (the form ``_yin`` computes in buffers)."""
    import scipy.fft

    num_frames = frames.shape[0]
    nfft = 1 << int(np.ceil(np.log2(frames.shape[1] + window)))
    spectrum = scipy.fft.rfft(frames, n=nfft, axis=1)
    spectrum *= np.conj(scipy.fft.rfft(frames[:, :window], n=nfft, axis=1))
    corr = scipy.fft.irfft(spectrum, n=nfft, axis=1)[:, : tau_max + 1].astype(np.float64)
    cum = np.concatenate([np.zeros((num_frames, 1)), np.cumsum(np.square(frames, dtype=np.float64), axis=1)], axis=1)
    taus = np.arange(tau_max + 1)
    energy_at_lag = cum[:, taus + window] - cum[:, taus]
    diff = energy_at_lag[:, :1] + energy_at_lag - 2.0 * corr
    diff[:, 0] = 0.0
    np.maximum(diff, 0.0, out=diff)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    return cmnd


def test_buffered_yin_gives_exactly_the_textbook_normalised_difference():
    # _normalised_difference computes in place for speed; its result must not move by one bit
    from uas_audio.annotate.experts.pitch import _normalised_difference, frame_signal

    t = np.arange(int(2.3 * SR)) / SR
    rng = np.random.default_rng(7)
    voice = sum(np.sin(2 * np.pi * k * (120 + 30 * t) * t) / k for k in range(1, 8)) * 0.2
    tau_max = int(np.ceil(SR / 60.0))
    window = tau_max + 1
    for x in (voice + 0.02 * rng.standard_normal(t.size), 0.1 * rng.standard_normal(t.size), np.zeros(t.size)):
        frames = frame_signal(x.astype(np.float32), window + tau_max + 1, 160)
        cmnd, energy_at_lag = _normalised_difference(frames, window, tau_max)
        assert cmnd.dtype == np.float64 and cmnd.shape == (frames.shape[0], tau_max + 1)
        assert np.array_equal(cmnd, _textbook_yin_difference(frames, window, tau_max))
    assert np.isfinite(yin_track(voice.astype(np.float32), SR)[0]).mean() > 0.8
