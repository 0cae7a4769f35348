"""The iSTFT-head vocoder: exact output length, config checks, save/load round trips (alone and inside the speech
head), its reconstruction loss falling on a fixed batch, and training from the CLI as the tiny preset's default."""

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from uas_audio.cli import main as cli_main
from uas_audio.modeling.speech import (
    UASISTFTVocoder,
    UASSpeechHead,
    UASSpeechHeadConfig,
    UASVocoder,
    UASVocoderConfig,
    build_vocoder,
    load_vocoder,
    speech_configs,
)
from uas_audio.modeling.speech.mel import speech_log_mel
from uas_audio.modeling.speech.modeling_istft_vocoder import istft_vocoder_loss, multi_resolution_stft_loss

TINY = dict(vocoder_type="istft", istft_hidden_size=32, istft_num_layers=2, istft_intermediate_size=64)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _vocoder(**overrides) -> UASISTFTVocoder:
    torch.manual_seed(0)
    return UASISTFTVocoder(UASVocoderConfig(**{**TINY, **overrides}))


def _speech_like(seconds: float = 0.4) -> torch.Tensor:
    """A modulated chirp over a -40 dB noise floor (like a recording, unlike digital silence, every STFT bin has
    energy, so the log-magnitude loss has a finite target everywhere)."""
    t = torch.arange(int(16_000 * seconds)) / 16_000
    chirp = 0.4 * torch.sin(2 * math.pi * 220 * t * (1 + 0.5 * t)) * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t))
    return chirp + 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("frames", [1, 2, 17, 50])
@pytest.mark.parametrize("n_fft", [400, 640])
def test_output_length_is_frames_times_hop(frames, n_fft):
    wav = _vocoder(istft_n_fft=n_fft).eval()(torch.randn(2, 128, frames))
    assert wav.shape == (2, frames * 160)
    assert wav.abs().max() <= 1.0 and torch.isfinite(wav).all()


def test_config_rejects_an_unknown_family_and_a_bad_fft_size():
    with pytest.raises(ValueError, match="vocoder_type must be one of"):
        UASVocoderConfig(vocoder_type="wavenet")
    with pytest.raises(ValueError, match="istft_n_fft must be even and >= hop_length"):
        UASVocoderConfig(vocoder_type="istft", istft_n_fft=100)


def test_each_family_class_refuses_the_other_config_and_build_vocoder_dispatches():
    with pytest.raises(ValueError, match="HiFi-GAN vocoder"):
        UASVocoder(UASVocoderConfig(**TINY))
    with pytest.raises(ValueError, match="needs vocoder_type 'istft'"):
        UASISTFTVocoder(UASVocoderConfig())
    assert isinstance(build_vocoder(UASVocoderConfig(**TINY)), UASISTFTVocoder)
    assert isinstance(build_vocoder({"upsample_initial_channel": 32}), UASVocoder)


def test_presets_pick_istft_for_tiny_and_hifigan_for_base_with_an_override():
    assert speech_configs("tiny")["vocoder"].vocoder_type == "istft"
    assert speech_configs("base")["vocoder"].vocoder_type == "hifigan"
    assert speech_configs("tiny", vocoder_type="hifigan")["vocoder"].vocoder_type == "hifigan"


def test_save_pretrained_and_load_vocoder_round_trip(tmp_path):
    vocoder = _vocoder().eval()
    vocoder.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = load_vocoder(tmp_path)
    assert isinstance(loaded, UASISTFTVocoder)
    mel = torch.randn(1, 128, 7)
    assert torch.equal(loaded(mel), vocoder(mel))


def test_speech_head_holds_the_istft_vocoder_through_save_and_load(tmp_path):
    configs = speech_configs("tiny")
    torch.manual_seed(0)
    head = UASSpeechHead(UASSpeechHeadConfig(flow_config=configs["flow"].to_dict(), vocoder_config=configs["vocoder"].to_dict()))
    assert isinstance(head.vocoder, UASISTFTVocoder)
    head.save_pretrained(tmp_path)
    loaded = UASSpeechHead.from_pretrained(tmp_path)
    codes = torch.tensor([3, 14, 15, 92])
    wav, rate = loaded.codes_to_waveform(codes, generator=torch.Generator().manual_seed(0))
    expected, _ = head.codes_to_waveform(codes, generator=torch.Generator().manual_seed(0))
    assert rate == 16_000 and wav.shape == (4 * 640,)
    assert torch.allclose(wav, expected, atol=1e-6)


def test_stft_loss_is_zero_for_the_target_and_positive_otherwise():
    wav = _speech_like()[None]
    assert multi_resolution_stft_loss(wav, wav).item() == pytest.approx(0.0, abs=1e-6)
    assert multi_resolution_stft_loss(0.5 * wav, wav).item() > 0.5


def test_reconstruction_loss_falls_and_mel_error_shrinks_on_a_fixed_batch():
    vocoder = _vocoder()
    wav = _speech_like()[None]
    mel = speech_log_mel(wav)[0]
    optimizer = torch.optim.AdamW(vocoder.parameters(), lr=1e-2, betas=(0.8, 0.99))
    losses, mel_errors = [], []
    for _ in range(25):
        out = istft_vocoder_loss(vocoder(mel), wav, mel)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(out["loss"].item())
        mel_errors.append(out["mel_l1"].item())
    assert losses[-1] < 0.4 * losses[0], losses
    assert mel_errors[-1] < 0.3 * mel_errors[0], mel_errors


def test_cli_trains_the_tiny_default_istft_vocoder_without_a_discriminator(tmp_path, capsys):
    data = tmp_path / "wavs"
    data.mkdir()
    sf.write(data / "a.wav", _speech_like(0.6).numpy(), 16_000)
    out = tmp_path / "voc"
    args = ["train-speech", "--part", "vocoder", "--data", str(data), "--output-dir", str(out), "--batch-size", "1",
            "--max-steps", "2", "--save-every", "2"]
    assert cli_main(args) == 0
    assert "trained vocoder to step 2" in capsys.readouterr().out
    history = json.loads((out / "checkpoints" / "step-2" / "progress.json").read_text())["history"]
    assert set(history[0]) == {"step", "stft", "mel_l1"}
    vocoder = load_vocoder(out / "vocoder")
    assert isinstance(vocoder, UASISTFTVocoder)
    assert vocoder(torch.zeros(1, 128, 3)).shape == (1, 480)


def test_istft_vocoder_also_trains_against_the_discriminators_when_asked(tmp_path):
    from uas_audio.modeling.speech.training import SpeechTrainingConfig, train_vocoder

    data = tmp_path / "wavs"
    data.mkdir()
    sf.write(data / "a.wav", _speech_like(0.6).numpy(), 16_000)
    result = train_vocoder(SpeechTrainingConfig(
        part="vocoder", data=str(data), output_dir=str(tmp_path / "out"), max_steps=1, batch_size=1,
        segment_seconds=0.16, adversarial=True, save_every=1, log_every=1,
    ))
    assert set(result["history"][0]) == {"step", "discriminator", "adversarial", "feature_matching", "stft", "mel_l1"}
    assert np.isfinite(list(result["history"][0].values())).all()


def test_cosine_decay_warms_up_then_falls_to_a_tenth_at_max_steps():
    from uas_audio.modeling.speech.training import _schedule

    factor = _schedule(warmup_steps=10, max_steps=110, cosine_decay=True)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(60) == pytest.approx(0.55) and factor(110) == pytest.approx(0.1)
    assert _schedule(10, 110, cosine_decay=False)(110) == 1.0


def test_magnitude_prior_inverts_the_mel_filters_without_negative_bins():
    from uas_audio.audio.mel import mel_filters
    from uas_audio.modeling.speech.modeling_istft_vocoder import _mel_pseudo_inverse

    filters, inverse = mel_filters(128, 640, 16_000), _mel_pseudo_inverse(128, 640, 16_000)
    assert (inverse >= 0).all()
    flat = inverse @ (filters.T @ torch.ones(321))  # a flat power spectrum through the filters and back
    assert torch.allclose(flat[1:-1], torch.ones(319), atol=1e-4)
    tilted = torch.linspace(1.0, 0.1, 321)  # a smooth tilt comes back within 10 % below 7.5 kHz (wide bands above)
    assert torch.allclose((inverse @ (filters.T @ tilted))[1:300], tilted[1:300], rtol=0.1)
