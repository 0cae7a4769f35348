"""The variable-length audio encoder: frame arithmetic, padding independence, windows past 30 s, attention
backends, gradient checkpointing and Whisper weight loading."""

import math
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperModel

from uas_audio.audio import frames
from uas_audio.modeling import UASAudioEncoder, UASAudioEncoderConfig
from uas_audio.modeling.audio_encoders import stacked_frames as _stacked_frames
from uas_audio.modeling.audio_encoders import whisper_encoder_frames as _encoder_frames

MEL_BINS = 128


def _encoder(seed: int = 0, attn_implementation: str = "eager", **overrides) -> UASAudioEncoder:
    config = UASAudioEncoderConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, **overrides
    )
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    return UASAudioEncoder(config).eval()


def _batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded random log-mel features and their mask; padding holds a non-zero value on purpose."""
    generator = torch.Generator().manual_seed(seed)
    total = max(lengths)
    features = torch.full((len(lengths), MEL_BINS, total), 3.0)
    mask = torch.zeros(len(lengths), total, dtype=torch.long)
    for row, length in enumerate(lengths):
        features[row, :, :length] = torch.randn(MEL_BINS, length, generator=generator)
        mask[row, :length] = 1
    return features, mask


def test_frame_arithmetic_agrees_with_audio_frames_module():
    lengths = list(range(1, 400)) + [2999, 3000, 3001, 3002, 5999, 6000, 6001, 9001, 12345, 30000, 30001]
    counts = torch.tensor(lengths)
    encoder = _encoder_frames(counts, frames.WINDOW_FRAMES).tolist()  # the model's tensor path
    assert encoder == [frames.num_encoder_frames(n) for n in lengths]  # the processor's int path
    window = frames.WINDOW_FRAMES  # Whisper's rule in closed form: 1500 per full window, ceil(rest / 2) after
    assert encoder == [(n // window) * 1500 + math.ceil((n % window) / 2) for n in lengths]
    for k in (1, 2, 3, 4, 5, 8):
        tokens = _stacked_frames(_encoder_frames(counts, frames.WINDOW_FRAMES), k).tolist()
        assert tokens == [frames.num_audio_tokens(n, k) for n in lengths]


@pytest.mark.parametrize("lengths", [[7], [1, 2, 3], [301, 800], [3000, 120], [3001, 3500]])
def test_output_length_per_clip_follows_frames_rule(lengths):
    encoder = _encoder()
    with torch.no_grad():
        output = encoder(*_batch(lengths))
    expected = [frames.num_encoder_frames(n) for n in lengths]
    assert output.output_lengths.tolist() == expected
    assert output.last_hidden_state.shape == (len(lengths), max(expected), 32)


def test_clip_output_does_not_depend_on_batch_padding():
    encoder = _encoder()
    features, mask = _batch([250, 97, 31])
    with torch.no_grad():
        batched = encoder(features, mask)
        for row, length in enumerate([250, 97, 31]):
            alone = encoder(features[row : row + 1, :, :length]).last_hidden_state[0]
            out_len = frames.num_encoder_frames(length)
            torch.testing.assert_close(batched.last_hidden_state[row, :out_len], alone, atol=1e-5, rtol=1e-5)


def test_long_clip_is_encoded_as_independent_30s_windows():
    encoder = _encoder(max_source_positions=50)  # windows of 100 frames keep the test small
    features, _ = _batch([250])
    with torch.no_grad():
        whole = encoder(features).last_hidden_state[0]
        windows = [encoder(features[:, :, start : start + 100]).last_hidden_state[0] for start in (0, 100, 200)]
    assert whole.shape[0] == 50 + 50 + 25
    torch.testing.assert_close(whole, torch.cat(windows), atol=1e-5, rtol=1e-5)


def test_long_and_short_clips_batch_together():
    encoder = _encoder(max_source_positions=50)
    features, mask = _batch([230, 40])
    with torch.no_grad():
        batched = encoder(features, mask)
        long_alone = encoder(features[:1, :, :230]).last_hidden_state[0]
        short_alone = encoder(features[1:, :, :40]).last_hidden_state[0]
    assert batched.output_lengths.tolist() == [115, 20]
    torch.testing.assert_close(batched.last_hidden_state[0], long_alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.last_hidden_state[1, :20], short_alone, atol=1e-5, rtol=1e-5)


def test_eager_and_sdpa_agree_with_padding():
    features, mask = _batch([180, 61])
    with torch.no_grad():
        eager = _encoder(attn_implementation="eager")(features, mask).last_hidden_state
        sdpa = _encoder(attn_implementation="sdpa")(features, mask).last_hidden_state
    torch.testing.assert_close(eager[0], sdpa[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eager[1, :31], sdpa[1, :31], atol=1e-5, rtol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    features, mask = _batch([120, 64])
    grads = []
    for checkpointing in (False, True):
        encoder = _encoder().train()
        if checkpointing:
            encoder.activation_checkpointing_enable({"use_reentrant": False})
        output = encoder(features, mask)
        output.last_hidden_state.pow(2).mean().backward()
        grads.append({name: p.grad.clone() for name, p in encoder.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and "layers.0.fc1.weight" in grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5)


def test_bad_inputs_raise_clear_errors():
    encoder = _encoder()
    with pytest.raises(ValueError, match="80 mel bins"):
        encoder(torch.zeros(1, 80, 10))
    with pytest.raises(ValueError, match=r"clips \[1\] have no frames"):
        encoder(torch.zeros(2, MEL_BINS, 10), torch.tensor([[1] * 10, [0] * 10]))
    with pytest.raises(ValueError, match="prefix"):
        encoder(torch.zeros(1, MEL_BINS, 4), torch.tensor([[0, 1, 1, 1]]))
    with pytest.raises(ValueError, match="shape"):
        encoder(torch.zeros(1, MEL_BINS, 4), torch.ones(1, 5))


# --- Whisper weights ---------------------------------------------------------------------------------------


def _tiny_whisper_config() -> WhisperConfig:
    return WhisperConfig(
        vocab_size=64,
        num_mel_bins=MEL_BINS,
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        attn_implementation="eager",
    )


@pytest.fixture(scope="module")
def whisper() -> WhisperForConditionalGeneration:
    torch.manual_seed(3)
    return WhisperForConditionalGeneration(_tiny_whisper_config()).eval()


@pytest.fixture(scope="module")
def whisper_30s(whisper) -> tuple[torch.Tensor, torch.Tensor]:
    """A 30 s input (Whisper's only length) and WhisperEncoder's output on it."""
    features = torch.randn(1, MEL_BINS, 3000, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return features, whisper.get_encoder()(features).last_hidden_state


def _assert_matches_whisper(encoder: UASAudioEncoder, whisper_30s):
    features, expected = whisper_30s
    encoder.config._attn_implementation = "eager"
    with torch.no_grad():
        actual = encoder.eval()(features).last_hidden_state
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_from_whisper_for_conditional_generation_folder_matches_whisper_encoder(whisper, whisper_30s, tmp_path):
    whisper.save_pretrained(tmp_path)
    encoder = UASAudioEncoder.from_whisper(tmp_path)
    assert encoder.config.d_model == 32 and encoder.config.encoder_layers == 2
    _assert_matches_whisper(encoder, whisper_30s)


def test_from_whisper_model_folder_matches_whisper_encoder(whisper, whisper_30s, tmp_path):
    base = WhisperModel(whisper.config)
    base.load_state_dict(whisper.model.state_dict())
    base.save_pretrained(tmp_path)
    _assert_matches_whisper(UASAudioEncoder.from_whisper(tmp_path), whisper_30s)


@pytest.mark.parametrize("part", ["model", "encoder"])
def test_from_whisper_loaded_model_matches_whisper_encoder(whisper, whisper_30s, part):
    source = whisper if part == "model" else whisper.get_encoder()
    _assert_matches_whisper(UASAudioEncoder.from_whisper(source), whisper_30s)


def test_whisper_weights_encode_short_clips_with_sliced_positions(whisper):
    encoder = UASAudioEncoder.from_whisper(whisper).eval()
    features, mask = _batch([400, 123])
    with torch.no_grad():
        output = encoder(features, mask)
    assert output.last_hidden_state.shape == (2, 200, 32)
    assert torch.isfinite(output.last_hidden_state).all()


def test_from_whisper_rejects_other_checkpoints(tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    Qwen2ForCausalLM(
        Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a Whisper checkpoint"):
        UASAudioEncoder.from_whisper(tmp_path)
