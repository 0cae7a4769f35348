"""Named sizes of the speech head: ``tiny`` (tests, CPU quickstart; synthesises far faster than real time on one
core; an iSTFT-head vocoder, which trains to usable quality in minutes on a CPU) and ``base`` (~100M parameters: a
12-layer 640-wide DiT and a HiFi-GAN V1-sized generator, the paper's vocoder family, for real training)."""

from __future__ import annotations

from .configuration_speech import UASFlowDecoderConfig, UASSpeechTokenizerConfig, UASVocoderConfig

_PRESETS = {
    "tiny": {
        "tokenizer": {"hidden_size": 96, "num_res_blocks": 2},
        "flow": {"hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 192,
                 "reference_hidden_size": 64},
        "vocoder": {"vocoder_type": "istft", "istft_hidden_size": 192, "istft_num_layers": 4,
                    "istft_intermediate_size": 576, "upsample_initial_channel": 64, "resblock_kernel_sizes": (3, 7),
                    "resblock_dilation_sizes": ((1, 3), (1, 3)), "discriminator_channels": 8},
    },
    "base": {
        "tokenizer": {"hidden_size": 384, "num_res_blocks": 3},
        "flow": {"hidden_size": 640, "num_hidden_layers": 12, "num_attention_heads": 10, "intermediate_size": 2560,
                 "reference_hidden_size": 256},
        "vocoder": {"vocoder_type": "hifigan", "upsample_initial_channel": 512, "discriminator_channels": 32},
    },
}
PRESETS = tuple(_PRESETS)


def speech_configs(preset: str = "tiny", fsq_levels: list[int] | None = None, vocoder_type: str | None = None) -> dict:
    """``{"tokenizer": UASSpeechTokenizerConfig, "flow": UASFlowDecoderConfig, "vocoder": UASVocoderConfig}`` of a
    preset, the tokenizer and flow decoder sharing ``fsq_levels`` (default 8·5·5·5 = 1000 codes). ``vocoder_type``
    (``"hifigan"`` or ``"istft"``) overrides the preset's vocoder family, keeping its sizes."""
    if preset not in _PRESETS:
        raise ValueError(f"unknown speech preset {preset!r}; choose one of {PRESETS}")
    sizes = _PRESETS[preset]
    levels = {"fsq_levels": list(fsq_levels)} if fsq_levels else {}
    return {
        "tokenizer": UASSpeechTokenizerConfig(**sizes["tokenizer"], **levels),
        "flow": UASFlowDecoderConfig(**sizes["flow"], **levels),
        "vocoder": UASVocoderConfig(**{**sizes["vocoder"], **({"vocoder_type": vocoder_type} if vocoder_type else {})}),
    }
