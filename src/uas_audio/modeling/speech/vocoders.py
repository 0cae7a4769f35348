"""The vocoder families by ``UASVocoderConfig.vocoder_type``: build one from a config, load a saved one."""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedModel

from .configuration_speech import UASVocoderConfig
from .modeling_istft_vocoder import UASISTFTVocoder
from .modeling_vocoder import UASVocoder

VOCODER_CLASSES: dict[str, type[PreTrainedModel]] = {"hifigan": UASVocoder, "istft": UASISTFTVocoder}


def build_vocoder(config: UASVocoderConfig | dict) -> PreTrainedModel:
    """A freshly initialised vocoder of ``config.vocoder_type``."""
    config = config if isinstance(config, UASVocoderConfig) else UASVocoderConfig(**config)
    return VOCODER_CLASSES[config.vocoder_type](config)


def load_vocoder(path: str | Path, **kwargs) -> PreTrainedModel:
    """A vocoder saved with ``save_pretrained`` (safetensors), whichever family its config names."""
    config = UASVocoderConfig.from_pretrained(path)
    return VOCODER_CLASSES[config.vocoder_type].from_pretrained(path, **kwargs)
