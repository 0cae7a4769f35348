"""from_components: a full model and processor from a Whisper checkpoint and a causal-LM checkpoint, both tiny
and saved by the test itself."""

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    WhisperConfig,
    WhisperForConditionalGeneration,
)

from uas_audio.modeling import UASAudioForConditionalGeneration
from uas_audio.processing import UASAudioProcessor

NEW_TOKENS = [
    "<|audio|>", "<|audio_bos|>", "<|audio_eos|>", "<|speech_bos|>", "<|speech_eos|>", "<|im_start|>", "<|im_end|>"
]


def _plain_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE with only <|endoftext|>: none of the audio or chat tokens yet."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = ["Transcribe the following audio content into text.", "Describe the content of the audio."] * 20
    tokenizer.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("components")
    torch.manual_seed(0)
    whisper = WhisperForConditionalGeneration(
        WhisperConfig(
            vocab_size=64, num_mel_bins=128, d_model=32, encoder_layers=2, encoder_attention_heads=4,
            encoder_ffn_dim=64, decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=64,
            max_target_positions=16, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        )
    )
    whisper.save_pretrained(root / "whisper")
    tokenizer = _plain_tokenizer()
    lm = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
            eos_token_id=tokenizer.eos_token_id,
        )
    )
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    return {"whisper": whisper.eval(), "lm": lm.eval(), "whisper_dir": root / "whisper", "lm_dir": root / "lm",
            "base_vocab": len(tokenizer)}


@pytest.fixture(scope="module")
def assembled(checkpoints):
    return UASAudioForConditionalGeneration.from_components(
        audio_encoder=checkpoints["whisper_dir"], language_model=checkpoints["lm_dir"], stack_factor=2
    )


def test_returns_model_and_processor_with_the_tokens_added(assembled, checkpoints):
    model, processor = assembled
    assert isinstance(model, UASAudioForConditionalGeneration) and isinstance(processor, UASAudioProcessor)
    tokenizer = processor.tokenizer
    base = checkpoints["base_vocab"]
    assert len(tokenizer) == base + len(NEW_TOKENS)
    assert tokenizer.convert_tokens_to_ids(NEW_TOKENS) == list(range(base, base + len(NEW_TOKENS)))
    assert set(NEW_TOKENS) <= set(tokenizer.all_special_tokens)
    config = model.config
    assert config.text_config.vocab_size == len(tokenizer) == model.get_output_embeddings().weight.shape[0]
    assert (config.audio_token_id, config.audio_bos_token_id, config.speech_eos_token_id) == (base, base + 1, base + 4)
    assert config.projector_stack_factor == processor.stack_factor == 2
    assert model.generation_config.eos_token_id == [base + 6, tokenizer.eos_token_id]
    assert not any(p.is_meta for p in model.parameters())


def test_weights_are_copied_from_both_checkpoints(assembled, checkpoints):
    model, _ = assembled
    whisper_encoder, lm = checkpoints["whisper"].get_encoder(), checkpoints["lm"]
    torch.testing.assert_close(model.model.audio_tower.layers[1].fc2.weight, whisper_encoder.layers[1].fc2.weight)
    torch.testing.assert_close(model.model.audio_tower.embed_positions.weight, whisper_encoder.embed_positions.weight)
    base = checkpoints["base_vocab"]
    torch.testing.assert_close(model.get_input_embeddings().weight[:base], lm.get_input_embeddings().weight)
    # the tied LLM head becomes an untied copy
    torch.testing.assert_close(model.lm_head.weight[:base], lm.get_input_embeddings().weight)
    assert model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    assert model.config.tie_word_embeddings is False


def test_text_only_logits_equal_the_language_model(assembled, checkpoints):
    model, _ = assembled
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    with torch.no_grad():
        ours = model(input_ids=ids).logits[..., : checkpoints["base_vocab"]]
        theirs = checkpoints["lm"](input_ids=ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_processor_and_model_run_a_conversation_end_to_end(assembled):
    model, processor = assembled
    audio = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
    text = "Transcribe the following audio content into text."
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": audio}, {"type": "text", "text": text}]}]
    inputs = processor.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    placeholders = int((inputs["input_ids"] == model.config.audio_token_id).sum())
    assert placeholders == int(model.num_audio_tokens(inputs["input_features_mask"].sum(-1)).sum())
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 4


def test_missing_checkpoint_folder_is_reported(checkpoints, tmp_path):
    with pytest.raises(OSError, match="missing-lm"):
        UASAudioForConditionalGeneration.from_components(
            audio_encoder=checkpoints["whisper_dir"], language_model=str(tmp_path / "missing-lm")
        )


def _audio_llm(kind):
    """A tiny random Qwen2-Audio or Qwen3-ASR whose encoder from_components takes."""
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen3ASRConfig
    from transformers import Qwen3ASRForConditionalGeneration

    encoder = dict(d_model=32, encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=64, num_mel_bins=128)
    text = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                num_key_value_heads=2)
    torch.manual_seed(3)
    if kind == "qwen2_audio":
        return Qwen2AudioForConditionalGeneration(Qwen2AudioConfig(audio_config=encoder,
                                                                   text_config={"model_type": "qwen2", **text}))
    return Qwen3ASRForConditionalGeneration(Qwen3ASRConfig(
        audio_config={"model_type": "qwen3_asr_encoder", **encoder, "downsample_hidden_size": 8, "output_dim": 32},
        text_config={"model_type": "qwen3", "head_dim": 8, **text}))


@pytest.mark.parametrize("kind, family", [("qwen2_audio", "qwen2_audio"), ("qwen3_asr", "aut")])
def test_the_encoder_of_an_audio_llm_pairs_with_any_language_model(kind, family, checkpoints, tmp_path):
    source = _audio_llm(kind)
    source.save_pretrained(tmp_path / kind)
    model, processor = UASAudioForConditionalGeneration.from_components(
        audio_encoder=tmp_path / kind, language_model=checkpoints["lm_dir"], stack_factor=1
    )
    assert model.model.audio_family == processor.encoder_family == family
    theirs = source.model.audio_tower.state_dict()
    ours = model.model.audio_tower.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    audio = 0.1 * np.random.default_rng(1).standard_normal(16_000 + 555).astype(np.float32)
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": audio}, {"type": "text", "text": "Hi"}]}]
    inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)  # refuses a placeholder count different from the encoder's output
    assert torch.isfinite(out.logits).all()


def test_a_checkpoint_without_an_audio_encoder_is_refused(checkpoints):
    with pytest.raises(ValueError, match="no audio encoder UAS-Audio can use \\(model_type='qwen2'\\)"):
        UASAudioForConditionalGeneration.from_components(
            audio_encoder=checkpoints["lm_dir"], language_model=checkpoints["lm_dir"]
        )
