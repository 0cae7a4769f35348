"""Configurations of UAS-Audio: a Whisper-style audio encoder config and the composite model config.

This file is copied next to saved checkpoints for ``trust_remote_code`` loading, so it imports nothing from the
rest of ``uas_audio``.
"""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

PROJECTOR_TYPES = ("linear", "mlp")
INPUT_MODES = ("continuous", "discrete")
#: Audio configs of transformers' own encoders that ``audio_config`` may hold (see ``audio_encoders.py``); any other
#: dict (or none) is a ``UASAudioEncoderConfig``, the Whisper family.
TRANSFORMERS_AUDIO_ENCODERS = ("qwen2_audio_encoder", "qwen3_asr_encoder")


@strict
class UASAudioEncoderConfig(PreTrainedConfig):
    r"""Whisper-encoder hyperparameters of the variable-length audio encoder.

    The Whisper names (``d_model``, ``encoder_layers``, ``encoder_attention_heads``, ``encoder_ffn_dim``) are
    aliases of the standard ones, so a ``WhisperConfig``'s values carry over one to one. Audio longer than
    ``2 * max_source_positions`` mel frames (30 s) is cut into windows of that many frames.
    """

    model_type = "uas_audio_encoder"
    attribute_map = {
        "d_model": "hidden_size",
        "encoder_layers": "num_hidden_layers",
        "encoder_attention_heads": "num_attention_heads",
        "encoder_ffn_dim": "intermediate_size",
    }

    num_mel_bins: int = 128
    hidden_size: int = 1280
    num_hidden_layers: int = 32
    num_attention_heads: int = 20
    intermediate_size: int = 5120
    max_source_positions: int = 1500
    activation_function: str = "gelu"
    dropout: float | int = 0.0
    attention_dropout: float | int = 0.0
    activation_dropout: float | int = 0.0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"UASAudioEncoderConfig: hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        super().__post_init__(**kwargs)

    @property
    def window_frames(self) -> int:
        """Mel frames per encoder window: the stride-2 convolution maps them onto ``max_source_positions``."""
        return 2 * self.max_source_positions


@strict
class UASAudioConfig(PreTrainedConfig):
    r"""Composite configuration: audio encoder (``audio_config``), projector settings and any causal LM
    (``text_config``, Qwen2 by default).

    ``audio_config`` selects the encoder family by its ``model_type``: a ``UASAudioEncoderConfig`` (Whisper, the
    default), transformers' ``Qwen2AudioEncoderConfig`` (``qwen2_audio_encoder``: Qwen2-Audio's encoder with its
    pooling) or ``Qwen3ASREncoderConfig`` (``qwen3_asr_encoder``: AuT, the audio transformer of Qwen3-Omni / Qwen3-ASR).
    The projector stacks ``projector_stack_factor`` encoder frames; ``projector_type="mlp"`` is Linear-act-Linear
    through ``projector_intermediate_size`` features (the LLM width when unset).

    Token ids (``audio_token_id`` …) come from the tokenizer the model is paired with. ``input_mode="discrete"``
    builds no encoder or projector: audio enters as code tokens of the vocabulary. The audio-code range for the
    speech head is ``[audio_code_start, audio_code_start + num_audio_codes)``. Embeddings are untied unless
    ``tie_word_embeddings`` is set here, on the composite config (the LLM config's own flag is not used).
    """

    model_type = "uas_audio"
    sub_configs_defaults = {
        "audio_config": SubConfigSpec(config_class=UASAudioEncoderConfig),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="qwen2"),
    }

    audio_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    input_mode: str = "continuous"
    projector_type: str = "linear"
    projector_stack_factor: int = 4
    projector_hidden_act: str = "gelu"
    projector_bias: bool = True
    projector_intermediate_size: int | None = None
    audio_token_id: int | None = None
    audio_bos_token_id: int | None = None
    audio_eos_token_id: int | None = None
    speech_bos_token_id: int | None = None
    speech_eos_token_id: int | None = None
    audio_code_start: int | None = None
    num_audio_codes: int = 0
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(
                f"UASAudioConfig: projector_type must be one of {PROJECTOR_TYPES}, got {self.projector_type!r}"
            )
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"UASAudioConfig: input_mode must be one of {INPUT_MODES}, got {self.input_mode!r}")
        if self.projector_stack_factor < 1:
            raise ValueError(f"UASAudioConfig: projector_stack_factor must be >= 1, got {self.projector_stack_factor}")
        if self.projector_intermediate_size is not None and self.projector_intermediate_size < 1:
            raise ValueError(
                "UASAudioConfig: projector_intermediate_size must be >= 1 or None, got "
                f"{self.projector_intermediate_size}"
            )
        if self.num_audio_codes < 0:
            raise ValueError(f"UASAudioConfig: num_audio_codes must be >= 0, got {self.num_audio_codes}")
        if self.num_audio_codes and self.audio_code_start is None:
            raise ValueError("UASAudioConfig: num_audio_codes > 0 needs audio_code_start (the id of <|code_0|>)")
        if isinstance(self.audio_config, dict) and self.audio_config.get("model_type") in TRANSFORMERS_AUDIO_ENCODERS:
            self.audio_config = AutoConfig.for_model(**self.audio_config)
        super().__post_init__(**kwargs)
        vocab_size = self.text_config.vocab_size
        if self.audio_code_start is not None and self.audio_code_start + self.num_audio_codes > vocab_size:
            raise ValueError(
                f"UASAudioConfig: audio codes [{self.audio_code_start}, {self.audio_code_start + self.num_audio_codes})"
                f" do not fit the text vocabulary of {vocab_size} tokens"
            )

    @property
    def vocab_size(self) -> int:
        """The text vocabulary's size (``text_config.vocab_size``, the one stored), read where a flat config is
        expected; resizing the embeddings updates it through the text config, and setting it sets the text config's."""
        return self.text_config.vocab_size

    @vocab_size.setter
    def vocab_size(self, value: int):
        self.text_config.vocab_size = value

    @property
    def image_token_id(self) -> int | None:
        """The audio placeholder id under the name TRL's multimodal trainers read (they suppress it in sampling)."""
        return self.audio_token_id


__all__ = ["UASAudioConfig", "UASAudioEncoderConfig"]
