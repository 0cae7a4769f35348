"""Mel-cepstral distortion: zero for the same features, blind to overall level (c0), symmetric, growing with the
difference in spectral shape."""

import torch

from uas_audio.evaluation.speech_quality import mel_cepstral_distortion


def _features(seed: int, frames: int = 50) -> torch.Tensor:
    return torch.rand(128, frames, generator=torch.Generator().manual_seed(seed)) * 0.5


def test_same_features_give_zero():
    x = _features(0)
    assert mel_cepstral_distortion(x, x) == 0.0


def test_a_level_change_is_not_a_distortion():
    x = _features(0)
    assert mel_cepstral_distortion(x, x + 0.1) < 1e-3  # a constant moves c0 only (float32 rounding aside)


def test_symmetric_and_grows_with_the_shape_difference():
    x, y = _features(0), _features(1)
    assert abs(mel_cepstral_distortion(x, y) - mel_cepstral_distortion(y, x)) < 1e-9
    tilt = torch.linspace(0, 1, 128)[:, None]
    small, large = mel_cepstral_distortion(x, x + 0.05 * tilt), mel_cepstral_distortion(x, x + 0.2 * tilt)
    assert 0 < small < large
