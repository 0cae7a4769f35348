"""UAS-Audio model: configuration, variable-length audio encoder, projector, causal-LM composite, and the
registration that makes ``AutoConfig`` / ``AutoModel`` / ``AutoModelForCausalLM`` / ``AutoModelForMultimodalLM``
resolve ``model_type="uas_audio"``."""

from .configuration_uas_audio import UASAudioConfig, UASAudioEncoderConfig
from .conversion import convert_audio_llm, convert_with_key_map
from .modeling_uas_audio import (
    UASAudioEncoder,
    UASAudioForConditionalGeneration,
    UASAudioModel,
    UASAudioPreTrainedModel,
    UASAudioProjector,
)

__all__ = [
    "UASAudioConfig",
    "UASAudioEncoder",
    "UASAudioEncoderConfig",
    "UASAudioForConditionalGeneration",
    "UASAudioModel",
    "UASAudioPreTrainedModel",
    "UASAudioProjector",
    "convert_audio_llm",
    "convert_with_key_map",
    "register_modeling",
]


def register_modeling() -> None:
    """Register the configs and models with the transformers Auto classes, and mark them for remote-code export:
    ``save_pretrained`` then copies the configuration and modeling files and writes ``auto_map``, so a saved folder
    also loads with ``trust_remote_code=True`` where ``uas_audio`` is not installed. Safe to call more than once."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMultimodalLM

    AutoConfig.register(UASAudioEncoderConfig.model_type, UASAudioEncoderConfig, exist_ok=True)
    AutoConfig.register(UASAudioConfig.model_type, UASAudioConfig, exist_ok=True)
    AutoModel.register(UASAudioEncoderConfig, UASAudioEncoder, exist_ok=True)
    AutoModel.register(UASAudioConfig, UASAudioModel, exist_ok=True)
    AutoModelForCausalLM.register(UASAudioConfig, UASAudioForConditionalGeneration, exist_ok=True)
    AutoModelForMultimodalLM.register(UASAudioConfig, UASAudioForConditionalGeneration, exist_ok=True)

    UASAudioConfig.register_for_auto_class("AutoConfig")
    UASAudioForConditionalGeneration.register_for_auto_class("AutoModelForCausalLM")
