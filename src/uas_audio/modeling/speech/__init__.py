"""The speech head (UAS-SPEC §4): a speech tokenizer turning 16 kHz speech into 25 Hz FSQ codes, a flow-matching
decoder from codes to log-mel, a vocoder from log-mel to waveform (HiFi-GAN or a Vocos-style iSTFT head), their
training entry points, and the generation pieces that let the LLM speak (code-range logits processor,
``generate_speech``)."""

from .configuration_speech import (
    UASFlowDecoderConfig,
    UASSpeechHeadConfig,
    UASSpeechTokenizerConfig,
    UASVocoderConfig,
)
from .generation import SpeechCodeLogitsProcessor, codes_from_token_ids, generate_speech
from .modeling_flow_decoder import UASFlowDecoder
from .modeling_speech_head import UASSpeechHead
from .modeling_speech_tokenizer import UASSpeechTokenizer
from .modeling_istft_vocoder import UASISTFTVocoder
from .modeling_vocoder import UASVocoder, UASVocoderDiscriminator
from .presets import PRESETS, speech_configs
from .vocoders import VOCODER_CLASSES, build_vocoder, load_vocoder

__all__ = [
    "PRESETS",
    "VOCODER_CLASSES",
    "SpeechCodeLogitsProcessor",
    "UASISTFTVocoder",
    "UASFlowDecoder",
    "UASFlowDecoderConfig",
    "UASSpeechHead",
    "UASSpeechHeadConfig",
    "UASSpeechTokenizer",
    "UASSpeechTokenizerConfig",
    "UASVocoder",
    "UASVocoderConfig",
    "UASVocoderDiscriminator",
    "build_vocoder",
    "codes_from_token_ids",
    "generate_speech",
    "load_vocoder",
    "register_speech",
    "speech_configs",
]

_PAIRS = (
    (UASSpeechTokenizerConfig, UASSpeechTokenizer),
    (UASFlowDecoderConfig, UASFlowDecoder),
    (UASVocoderConfig, UASVocoder),
    (UASSpeechHeadConfig, UASSpeechHead),
)


def register_speech() -> None:
    """Register the speech configs with ``AutoConfig`` and the models with ``AutoModel``. Safe to call twice."""
    from transformers import AutoConfig, AutoModel

    for config_class, model_class in _PAIRS:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
