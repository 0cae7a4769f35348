"""Audio encoder families chosen by ``audio_config``: Whisper (ours), Qwen2-Audio's and AuT (transformers' own
encoders). For every family and every clip length the processor writes exactly as many placeholders as the encoder
and projector give; clips are encoded at their own length (no 30 s padding) and independently of their batch; the
transformers families compute what transformers' encoders compute; saved models load back, also as remote code."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM
from transformers.models.qwen2_audio.modeling_qwen2_audio import Qwen2AudioEncoder

from uas_audio.audio.frames import num_mel_frames
from uas_audio.modeling import UASAudioForConditionalGeneration
from uas_audio.modeling.audio_encoders import audio_tokens, encoder_frames, family_of, window_frames_of
from uas_audio.tiny import TINY_AUDIO_FAMILY_CONFIGS, tiny_config, tiny_model, tiny_processor
from mel_batches import random_mel_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest on a shared CPU
FAMILIES = ("whisper", "qwen2_audio", "aut")
# Short windows for Whisper and Qwen2-Audio (60 mel frames) so a few hundred frames cross several of them; AuT's
# chunk is fixed at 100 frames, its attention windows here span 2 chunks.
SHORT_WINDOWS = {
    "whisper": {"max_source_positions": 30},
    "qwen2_audio": {"model_type": "qwen2_audio_encoder", "max_source_positions": 30},
    "aut": {**TINY_AUDIO_FAMILY_CONFIGS["aut"], "n_window_infer": 200},
}
LENGTHS = list(range(1, 261)) + [299, 300, 301, 333, 401, 599, 600, 601, 777]



@pytest.fixture(scope="module")
def short_models():
    return {family: tiny_model(seed=3, audio_config=config) for family, config in SHORT_WINDOWS.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_audio_config_selects_the_family(family):
    config = tiny_config(audio_config=TINY_AUDIO_FAMILY_CONFIGS[family])
    assert family_of(config.audio_config) == family
    tower = UASAudioForConditionalGeneration(config).model.audio_tower
    expected = {"whisper": "UASAudioEncoder", "qwen2_audio": "Qwen2AudioEncoder", "aut": "Qwen3ASREncoder"}[family]
    assert type(tower).__name__ == expected
    # the config round-trips through its dict (config.json) to the same family and class
    assert type(type(config).from_dict(config.to_dict()).audio_config) is type(config.audio_config)


def test_aut_frame_arithmetic_is_the_papers():
    # AuT: 13 tokens per 100 mel frames, the remainder through three stride-2 steps (150 / 999 / 3000 frames)
    assert [encoder_frames("aut", n, 100) for n in (150, 999, 3000)] == [20, 130, 390]
    assert [encoder_frames("qwen2_audio", n, 3000) for n in (150, 999, 3000)] == [37, 250, 750]
    assert [encoder_frames("whisper", n, 3000) for n in (150, 999, 3000)] == [75, 500, 1500]
    tensors = torch.tensor(LENGTHS)
    for family in FAMILIES:  # the model's tensor path and the processor's int path are one function
        assert encoder_frames(family, tensors, 100).tolist() == [encoder_frames(family, n, 100) for n in LENGTHS]


@pytest.mark.parametrize("family", FAMILIES)
def test_encoder_output_length_is_the_arithmetic_for_every_length(family, short_models):
    model = short_models[family]
    window = window_frames_of(model.config.audio_config)
    features, mask = random_mel_batch(LENGTHS)
    with torch.no_grad():
        out = model.model.get_audio_features(features, mask)
    expected = [encoder_frames(family, n, window) for n in LENGTHS]
    assert out.output_lengths.tolist() == expected
    assert out.last_hidden_state.shape[1] == max(expected)
    tokens = [audio_tokens(family, n, window, model.config.projector_stack_factor) for n in LENGTHS]
    assert out.pooler_output.shape[0] == sum(tokens)
    assert model.num_audio_tokens(torch.tensor(LENGTHS)).tolist() == tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_a_clip_encodes_the_same_alone_and_in_a_batch(family, short_models):
    model = short_models[family]
    lengths = [1, 2, 3, 59, 60, 61, 99, 100, 101, 150, 237, 401]
    features, mask = random_mel_batch(lengths, seed=1)
    with torch.no_grad():
        batch = model.model.get_audio_features(features, mask)
        for row, length in enumerate(lengths):
            alone = model.model.get_audio_features(features[row : row + 1, :, :length])
            n = int(batch.output_lengths[row])
            torch.testing.assert_close(alone.last_hidden_state[0, :n], batch.last_hidden_state[row, :n],
                                       atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_processor_placeholders_match_the_model_for_many_clip_lengths(family):
    model = tiny_model(seed=4, audio_config=TINY_AUDIO_FAMILY_CONFIGS[family])
    processor = tiny_processor(audio_family=family)
    rng = np.random.default_rng(0)
    samples = [int(n) for n in rng.integers(480, 16_000 * 3, size=12)] + [16_000 * 30 + 4_321]  # past one window
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for n in samples]
    inputs = processor(text=["<|audio|> hi"] * len(clips), audio=clips, return_tensors="pt")
    placeholders = (inputs["input_ids"] == model.config.audio_token_id).sum(-1)
    expected = [processor.num_audio_tokens(num_mel_frames(n)) for n in samples]
    assert placeholders.tolist() == expected
    assert processor._get_num_multimodal_tokens(audio_lengths=samples)["num_audio_tokens"] == expected
    assert inputs["input_features"].shape[-1] == num_mel_frames(max(samples))  # padded to the longest, not 30 s
    with torch.no_grad():
        features = model.model.get_audio_features(inputs["input_features"], inputs["input_features_mask"])
    counts = model.num_audio_tokens(inputs["input_features_mask"].sum(-1))
    assert counts.tolist() == expected and features.pooler_output.shape[0] == sum(expected)


def test_processor_refuses_a_clip_too_short_for_the_encoder():
    processor = tiny_processor(audio_family="qwen2_audio")  # 2 mel frames: one conv frame, pooled to none
    with pytest.raises(ValueError, match="too short"):
        processor(text=["<|audio|>"], audio=[np.zeros(320, np.float32)])


def test_qwen2_audio_family_computes_what_qwen2_audio_encoder_computes_on_30s_padding():
    config = tiny_config(audio_config=SHORT_WINDOWS["qwen2_audio"]).audio_config
    torch.manual_seed(0)
    reference = Qwen2AudioEncoder(config).eval()
    model = tiny_model(audio_config=SHORT_WINDOWS["qwen2_audio"])
    model.model.audio_tower.load_state_dict(reference.state_dict())
    lengths = [7, 30, 45, 60]  # the window is 60 frames: Qwen2AudioEncoder takes exactly that many
    features, mask = random_mel_batch(lengths, seed=2)
    features = torch.nn.functional.pad(features, (0, 60 - features.shape[-1]))
    with torch.no_grad():
        ours = model.model.get_audio_features(features[:, :, :max(lengths)], mask)
        for row, length in enumerate(lengths):
            conv_len = (length - 1) // 2 + 1
            attention = torch.zeros(1, 1, 30, 30)
            attention[..., conv_len:] = torch.finfo(torch.float32).min
            theirs = reference(features[row : row + 1], attention_mask=attention).last_hidden_state[0, : conv_len // 2]
            torch.testing.assert_close(ours.last_hidden_state[row, : conv_len // 2], theirs, atol=1e-5, rtol=1e-5)


def test_aut_family_refuses_chunks_transformers_cannot_window():
    with pytest.raises(ValueError, match="n_window"):
        tiny_model(audio_config={**TINY_AUDIO_FAMILY_CONFIGS["aut"], "n_window": 25})


@pytest.mark.parametrize("family", ["qwen2_audio", "aut"])
def test_saved_model_and_processor_load_back_with_the_family(family, tmp_path):
    model = tiny_model(seed=6, audio_config=TINY_AUDIO_FAMILY_CONFIGS[family])
    processor = tiny_processor(audio_family=family)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    clip = 0.1 * np.random.default_rng(1).standard_normal(16_000 * 2 + 77).astype(np.float32)
    reloaded_processor = type(processor).from_pretrained(tmp_path)
    assert (reloaded_processor.encoder_family, reloaded_processor.window_frames) == (family, processor.window_frames)
    inputs = reloaded_processor(text=["<|audio|> what is it?"], audio=[clip], return_tensors="pt")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(reloaded.model.audio_tower) is type(model.model.audio_tower)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits, atol=0, rtol=0)


def test_processor_window_defaults_to_the_familys_and_must_be_known():
    from uas_audio.processing import UASAudioFeatureExtractor, UASAudioProcessor, load_default_tokenizer

    tokenizer = load_default_tokenizer()
    windows = {family: UASAudioProcessor(UASAudioFeatureExtractor(), tokenizer, encoder_family=family).window_frames
               for family in FAMILIES}
    assert windows == {"whisper": 3000, "qwen2_audio": 3000, "aut": 100}
    assert all(window_frames_of(tiny_config(audio_config=TINY_AUDIO_FAMILY_CONFIGS[f]).audio_config) == windows[f]
               for f in FAMILIES)
    with pytest.raises(ValueError, match="encoder_family must be one of"):
        UASAudioProcessor(UASAudioFeatureExtractor(), tokenizer, encoder_family="wav2vec2")


@pytest.mark.parametrize("family", FAMILIES)
def test_blocks_fsdp_wraps_are_the_ones_the_model_has(family):
    model = tiny_model(audio_config=TINY_AUDIO_FAMILY_CONFIGS[family])
    layer = {"whisper": "UASAudioEncoderLayer", "qwen2_audio": "Qwen2AudioEncoderLayer",
             "aut": "Qwen3ASRAudioEncoderLayer"}[family]
    assert set(model._no_split_modules) == {layer, "Qwen2DecoderLayer"}  # accelerate refuses a name it cannot find
