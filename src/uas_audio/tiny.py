"""A ready tiny UAS-Audio model and its processor, for tests, examples and the offline quickstart.

The model pairs with the embedded tokenizer: vocabulary size and special-token ids are read from it. Sizes are
small enough for a CPU forward in milliseconds: a 2-layer, 64-wide encoder and a 2-layer, 64-wide Qwen2.

Two starting points: ``tiny_model()`` is random (what tests want: fast, seeded, no file read), and
``tiny_model(pretrained=True)`` is the embedded default the quickstart and the perception ablation train: the
same architecture with the pretrained base encoder and language model of ``uas_audio.base_components`` (the
paper's setting: a pretrained encoder and LLM, only the projector random), the projector still seeded by ``seed``.

``input_mode="discrete"`` gives the tiny UAS-Audio-D instead: no encoder or projector, the vocabulary extended
with ``TINY_NUM_AUDIO_CODES`` code tokens, and a processor whose speech encoder is a tiny random
``UASSpeechTokenizer`` with that many codes (the same weights for the same seed).
"""

import math
from functools import lru_cache
from typing import Any

TINY_AUDIO_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
}
#: ``audio_config`` overrides selecting each encoder family at the tiny size (``tiny_model(audio_config=...)``):
#: transformers' Qwen2-Audio encoder (30 s windows) and AuT (Qwen3-ASR's encoder: 100-frame chunks, attention
#: windows of 8 chunks, a 16-channel convolution stack).
TINY_AUDIO_FAMILY_CONFIGS: dict[str, dict[str, Any]] = {
    "whisper": {},
    "qwen2_audio": {"model_type": "qwen2_audio_encoder"},
    "aut": {"model_type": "qwen3_asr_encoder", "downsample_hidden_size": 16, "output_dim": 64},
}
TINY_TEXT_CONFIG: dict[str, Any] = {
    "model_type": "qwen2",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "tie_word_embeddings": False,
}

#: Tiny speech tokenizer of the discrete variant: FSQ levels 4·4 = 16 codes. A wider initialisation than the
#: default spreads random latents over more of the grid, so different sounds get different codes even untrained.
TINY_SPEECH_TOKENIZER_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "num_res_blocks": 1,
    "fsq_levels": [4, 4],
    "initializer_range": 0.1,
}
TINY_NUM_AUDIO_CODES = math.prod(TINY_SPEECH_TOKENIZER_CONFIG["fsq_levels"])


@lru_cache(maxsize=1)
def _tokenizer_facts() -> dict[str, int]:
    from .processing.chatml import AUDIO_BOS, AUDIO_EOS, AUDIO_TOKEN, END_OF_TEXT, IM_END, SPEECH_BOS, SPEECH_EOS
    from .processing import load_default_tokenizer

    tokenizer = load_default_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    if tokenizer.eos_token_id != ids(IM_END) or tokenizer.pad_token_id != ids(END_OF_TEXT):
        raise ValueError(f"the embedded tokenizer must have eos {IM_END} and pad {END_OF_TEXT}, got "
                         f"{tokenizer.eos_token} and {tokenizer.pad_token}")
    return {
        "vocab_size": len(tokenizer),
        "end_of_text": ids(END_OF_TEXT),
        "im_end": ids(IM_END),
        "audio_token_id": ids(AUDIO_TOKEN),
        "audio_bos_token_id": ids(AUDIO_BOS),
        "audio_eos_token_id": ids(AUDIO_EOS),
        "speech_bos_token_id": ids(SPEECH_BOS),
        "speech_eos_token_id": ids(SPEECH_EOS),
    }


def tiny_config(**overrides: Any):
    """A tiny ``UASAudioConfig`` matching the embedded tokenizer: ``eos_token_id`` is ``<|im_end|>`` (the
    tokenizer's eos, where a chat turn ends) and ``pad_token_id`` ``<|endoftext|>`` (its pad), so a trainer finds
    nothing to realign. ``audio_config`` / ``text_config`` overrides given as dicts are merged into the tiny
    defaults (e.g. ``text_config={"model_type": "llama"}``)."""
    from .modeling import UASAudioConfig

    facts = _tokenizer_facts()
    audio_config = {**TINY_AUDIO_CONFIG, **overrides.pop("audio_config", {})}
    text_config = {
        **TINY_TEXT_CONFIG,
        "vocab_size": facts["vocab_size"],
        "eos_token_id": facts["im_end"],
        "pad_token_id": facts["end_of_text"],
        "bos_token_id": None,
        **overrides.pop("text_config", {}),
    }
    values = {
        "audio_config": audio_config,
        "text_config": text_config,
        **{key: facts[key] for key in ("audio_token_id", "audio_bos_token_id", "audio_eos_token_id")},
        **{key: facts[key] for key in ("speech_bos_token_id", "speech_eos_token_id")},
        "tie_word_embeddings": False,
    }
    values.update(overrides)
    return UASAudioConfig(**values)


def tiny_model(seed: int = 0, pretrained: bool = False, **config_overrides: Any):
    """A random tiny ``UASAudioForConditionalGeneration`` in eval mode, the same weights for the same seed (the
    global torch RNG is left untouched). Generation stops at ``<|im_end|>`` (the tokenizer's eos) or
    ``<|endoftext|>``.

    ``pretrained=True`` loads the embedded base audio encoder and language model (``uas_audio.base_components``)
    over the random weights; the projector stays random (seeded). Continuous mode and the tiny sizes only.

    With ``input_mode="discrete"`` the model has no audio tower and its vocabulary ends with the
    ``TINY_NUM_AUDIO_CODES`` code tokens, at the ids ``tiny_processor(input_mode="discrete")`` gives them."""
    import torch

    from .modeling import UASAudioForConditionalGeneration

    config = tiny_config(**config_overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UASAudioForConditionalGeneration(config)
        if config.input_mode == "discrete" and not config.num_audio_codes:
            # rows after the embedded vocabulary: where add_tokens puts the codes in the tiny processor's tokenizer
            model.add_audio_codes(TINY_NUM_AUDIO_CODES)
    if pretrained:
        from .base_components import load_base_components

        if config.input_mode != "continuous":
            raise ValueError("tiny_model(pretrained=True): the base components are an audio encoder and a language "
                             "model for the continuous variant; the discrete variant has no encoder")
        load_base_components(model)
    facts = _tokenizer_facts()
    model.generation_config.eos_token_id = [facts["im_end"], facts["end_of_text"]]
    model.generation_config.pad_token_id = facts["end_of_text"]
    return model.eval()


def tiny_speech_tokenizer(seed: int = 0):
    """The random tiny ``UASSpeechTokenizer`` (``TINY_NUM_AUDIO_CODES`` codes) of the discrete variant, in eval mode;
    the same weights for the same seed (the global torch RNG is left untouched)."""
    import torch

    from .modeling.speech import UASSpeechTokenizer, UASSpeechTokenizerConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UASSpeechTokenizer(UASSpeechTokenizerConfig(**TINY_SPEECH_TOKENIZER_CONFIG)).eval()


def tiny_processor(stack_factor: int = 4, input_mode: str = "continuous", seed: int = 0, audio_family: str = "whisper"):
    """The processor that matches ``tiny_model(input_mode=...)``: default feature extractor and the embedded
    tokenizer; in discrete mode the tokenizer also has the code tokens and the speech encoder is
    ``tiny_speech_tokenizer(seed)``. ``audio_family`` matches ``tiny_model(audio_config=TINY_AUDIO_FAMILY_CONFIGS[
    audio_family])``: its placeholder counts are that encoder's."""
    from .modeling.audio_encoders import window_frames_of
    from .processing import audio_code_token, load_default_processor

    processor = load_default_processor(stack_factor=stack_factor, input_mode=input_mode)
    if audio_family not in TINY_AUDIO_FAMILY_CONFIGS:
        raise ValueError(f"tiny_processor: audio_family must be one of {tuple(TINY_AUDIO_FAMILY_CONFIGS)}")
    processor.encoder_family = audio_family
    audio_config = tiny_config(audio_config=TINY_AUDIO_FAMILY_CONFIGS[audio_family]).audio_config
    processor.window_frames = window_frames_of(audio_config)
    if input_mode == "discrete":
        processor.tokenizer.add_tokens([audio_code_token(i) for i in range(TINY_NUM_AUDIO_CODES)])
        processor.speech_encoder = tiny_speech_tokenizer(seed)
    return processor


__all__ = ["tiny_config", "tiny_model", "tiny_processor", "tiny_speech_tokenizer", "TINY_AUDIO_FAMILY_CONFIGS",
           "TINY_NUM_AUDIO_CODES"]
