"""Processing: the log-mel feature extractor, the processor (placeholder expansion, chat template) and the
embedded byte-level BPE tokenizer shipped in ``tokenizer/``."""

from __future__ import annotations

from .chatml import TOKENIZER_DIR
from .feature_extraction_uas_audio import UASAudioFeatureExtractor
from .processing_uas_audio import CODE_TOKEN_FORMAT, CONVENTIONS, SpeechEncoder, UASAudioProcessor, audio_code_token

__all__ = [
    "CODE_TOKEN_FORMAT",
    "CONVENTIONS",
    "SpeechEncoder",
    "UASAudioFeatureExtractor",
    "UASAudioProcessor",
    "audio_code_token",
    "load_default_processor",
    "load_default_tokenizer",
    "register_processing",
]


def load_default_tokenizer():
    """The embedded tokenizer (byte-level BPE, ChatML template, the project's special tokens)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))


def load_default_processor(stack_factor: int = 4, input_mode: str = "continuous") -> UASAudioProcessor:
    """A UASAudioProcessor with the default feature extractor and the embedded tokenizer."""
    return UASAudioProcessor(
        UASAudioFeatureExtractor(), load_default_tokenizer(), stack_factor=stack_factor, input_mode=input_mode
    )


def register_processing() -> None:
    """Register the feature extractor and processor with AutoFeatureExtractor and AutoProcessor (keyed by
    ``UASAudioConfig``), so saved folders load through the Auto classes. Safe to call more than once."""
    from transformers import AutoFeatureExtractor, AutoProcessor

    from ..modeling.configuration_uas_audio import UASAudioConfig

    AutoFeatureExtractor.register(UASAudioConfig, UASAudioFeatureExtractor, exist_ok=True)
    AutoProcessor.register(UASAudioConfig, UASAudioProcessor, exist_ok=True)
