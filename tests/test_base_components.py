"""The embedded default's pretrained base components: shipped as safetensors with their provenance, loaded by
``tiny_model(pretrained=True)`` over the random tiny model (projector still seeded), refused where they cannot fit."""

import pytest
import torch
from safetensors.torch import load_file

from uas_audio.base_components import (BASE_DIR, ENCODER_FILE, LANGUAGE_MODEL_FILE, BaseComponentsMissing,
                                       base_provenance, load_base_components)
from uas_audio.tiny import tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_shipped_files_are_small_and_say_how_they_were_built():
    sizes = [(BASE_DIR / name).stat().st_size for name in (ENCODER_FILE, LANGUAGE_MODEL_FILE)]
    assert sum(sizes) < 8 * 2 ** 20
    facts = base_provenance()
    for part in ("language_model", "audio_encoder"):
        assert {"objective", "data", "steps"} <= set(facts[part])
    assert facts["build"]["command"] == "python -m uas_audio.base_components.build"
    assert "seed" in facts["build"]["config"] and facts["build"]["config"]["encoder_corpus_seed"] != 0
    # the pretrainings learned something: losses fell
    assert facts["language_model"]["loss_last_100"] < 0.5 * facts["language_model"]["loss_first_100"]
    assert facts["audio_encoder"]["contrast_last_100"] < facts["audio_encoder"]["contrast_first_100"]


def test_pretrained_tiny_model_carries_the_base_weights_and_a_seeded_projector():
    base, other = tiny_model(seed=0, pretrained=True), tiny_model(seed=1, pretrained=True)
    random = tiny_model(seed=0)
    encoder = load_file(str(BASE_DIR / ENCODER_FILE))
    lm = load_file(str(BASE_DIR / LANGUAGE_MODEL_FILE))
    tower = base.model.audio_tower.state_dict()
    assert all(torch.equal(tower[k], v) for k, v in encoder.items())
    assert torch.equal(base.lm_head.weight, lm["lm_head.weight"])
    assert torch.equal(base.model.language_model.state_dict()["layers.0.self_attn.q_proj.weight"],
                       lm["layers.0.self_attn.q_proj.weight"])
    assert not torch.equal(random.lm_head.weight, base.lm_head.weight)
    assert torch.equal(base.lm_head.weight, other.lm_head.weight)  # the base does not depend on the seed ...
    proj = lambda m: m.model.multi_modal_projector.linear_1.weight  # noqa: E731
    assert torch.equal(proj(base), proj(random)) and not torch.equal(proj(base), proj(other))  # ... the projector does


def test_base_components_refuse_models_they_do_not_fit(tmp_path):
    with pytest.raises(ValueError, match="discrete variant"):
        tiny_model(pretrained=True, input_mode="discrete")
    with pytest.raises(ValueError, match="built for other sizes"):
        tiny_model(pretrained=True, audio_config={"intermediate_size": 96})
    with pytest.raises(BaseComponentsMissing, match="uas_audio.base_components.build"):
        load_base_components(tiny_model(), tmp_path)


def test_language_model_text_teaches_the_targeted_format_the_rules_words_and_reading_the_audio_slot():
    import json
    from itertools import islice

    from uas_audio.base_components.build import lm_texts
    from uas_audio.processing.chatml import AUDIO_BOS, AUDIO_EOS

    texts = list(islice(lm_texts(0, targeted=True, rule_phrasing=0.5, context_reading=0.5), 600))
    assert any("in a concise format" in t and AUDIO_BOS not in t for t in texts)  # targeted turns
    assert any(" pace, " in t and " pitch, " in t and " intonation" in t for t in texts)  # the rules' phrasing
    reading = [t for t in texts if AUDIO_BOS in t]
    assert len(reading) > 20
    for text in reading:  # every answered value is in the words of the audio slot: read, not guessed
        slot = text.split(AUDIO_BOS)[1].split(AUDIO_EOS)[0].lower()
        answer = json.loads(text.split("<|im_start|>assistant\n")[1].split("<|im_end|>")[0])
        values = []
        for key, value in answer.items():
            for leaf in (value.values() if isinstance(value, dict) else [value]):
                if isinstance(leaf, list):
                    values += [e["label"] for e in leaf]
                elif isinstance(leaf, str) and key != "nonLinguisticEvents":
                    values.append(leaf)
        assert all(v.lower() in slot for v in values), (values, slot)
    # with the three options off the stream is the first shipped language model's: none of these turns
    plain = list(islice(lm_texts(0, targeted=False), 600))
    assert not any(AUDIO_BOS in t or "in a concise format" in t for t in plain)


def test_build_command_reads_boolean_options_strictly(capsys):
    from uas_audio.base_components.build import main

    with pytest.raises(SystemExit) as exit_info:  # refused before anything is built
        main(["--lm-targeted", "maybe", "--out", "unused"])
    assert exit_info.value.code == 2
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


def test_standardizing_the_encoder_output_is_an_exact_rewrite_of_its_last_layer_norm():
    from uas_audio.base_components.build import _standardize_output
    from uas_audio.modeling.modeling_uas_audio import UASAudioEncoder
    from uas_audio.tiny import tiny_config

    torch.manual_seed(0)
    encoder = UASAudioEncoder(tiny_config().audio_config).eval()
    with torch.no_grad():
        encoder.layer_norm.weight.uniform_(0.5, 2.0)
        encoder.layer_norm.bias.uniform_(-1.0, 1.0)
    mels = [torch.randn(encoder.config.num_mel_bins, n) for n in (120, 200, 64)]
    with torch.no_grad():
        before = [encoder(m[None]).last_hidden_state[0] for m in mels]
    stats = _standardize_output(encoder, mels)
    with torch.no_grad():
        after = [encoder(m[None]).last_hidden_state[0] for m in mels]
    frames = torch.cat(before)
    mean, std = frames.mean(0), frames.std(0, unbiased=False)
    assert stats["frames"] == frames.shape[0]
    for b, a in zip(before, after):  # the same layer, shifted and scaled per dimension
        assert torch.allclose(a, (b - mean) / std, atol=1e-4)
    pooled = torch.cat(after)
    assert pooled.mean(0).abs().max() < 1e-4 and (pooled.std(0, unbiased=False) - 1).abs().max() < 1e-3


def test_the_shipped_encoder_output_is_standardized():
    assert base_provenance()["audio_encoder"]["output_standardized"]["frames"] > 100_000


def test_the_encoders_pitch_target_does_not_read_a_background_tone_as_the_voice():
    """A voice at 110 Hz, then a 1.2 kHz beep: without the overtone rejection YIN reads the beep frames as voiced at
    a woman's or child's pitch and the encoder is taught that; with it (the build's default) they are unvoiced."""
    import numpy as np

    from uas_audio.base_components.build import BuildConfig, _normalised_log_f0, _prosody_track

    assert BuildConfig().prosody_reject_overtones
    sr = 16_000
    t = np.arange(sr) / sr
    voice = sum(np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, 12)) * (t < 0.5)
    beep = 0.5 * np.sin(2 * np.pi * 1200 * t) * (t >= 0.5)
    wave = (0.3 * (voice + beep)).astype(np.float32)
    frames = 100
    kept, raw = _prosody_track(wave, frames), _prosody_track(wave, frames, reject_overtones=False)
    voiced_voice = kept[1, 5:45] > 0.5
    assert voiced_voice.float().mean() > 0.8  # the voice itself stays voiced, at its own pitch
    at_110 = torch.tensor(_normalised_log_f0(110.0), dtype=torch.float32)
    assert torch.allclose(kept[0, 5:45][voiced_voice], at_110, atol=0.05)
    assert kept[1, 55:95].sum() == 0  # the beep is not a voice
    assert raw[1, 55:95].float().mean() > 0.8 and (raw[0, 55:95][raw[1, 55:95] > 0.5] > _normalised_log_f0(200.0)).all()
