"""The embedded default's pretrained base components: a tiny audio encoder and a tiny language model.

The paper starts from a pretrained LLM and a pretrained audio encoder; stage 2 only aligns the projector between
them. The tiny embedded default does the same with two small components shipped here as safetensors, built by
``python -m uas_audio.base_components.build`` (data, objective, steps and seed in ``base.json`` beside them and
in docs/training.md):

- ``audio_encoder.safetensors``: the tiny Whisper-style encoder, pretrained without any label on synthetic clips
  of its own seed (never the quickstart's or the ablation's clips): masked log-mel reconstruction, a contrastive
  term that tells two crops of the same clip from crops of other clips, and prosody targets the package's own pitch
  tracker measures in the signal (log-F0, voicing, aperiodicity); its output standardized per dimension over those
  clips (folded into its final LayerNorm);
- ``language_model.safetensors``: the tiny Qwen2, pretrained by next-token prediction on generated text only
  (English sentences, and chat turns in the task formats whose answers are drawn at random, not from any audio).

``tiny_model(pretrained=True)`` loads them; ``tiny_model()`` stays random, as the tests want.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
ENCODER_FILE = "audio_encoder.safetensors"
LANGUAGE_MODEL_FILE = "language_model.safetensors"
PROVENANCE_FILE = "base.json"


class BaseComponentsMissing(FileNotFoundError):
    """The base component files are not in the package (a build that left out package data)."""


def base_provenance(folder: str | Path = BASE_DIR) -> dict[str, Any]:
    """What ``base.json`` records about the build: data, objective, steps, seed, losses."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        raise BaseComponentsMissing(f"{path}: no base components here; build them with "
                                    "`python -m uas_audio.base_components.build`")
    return json.loads(path.read_text())


def load_base_components(model, folder: str | Path = BASE_DIR) -> dict[str, Any]:
    """Copy the base encoder and language model into ``model`` (a continuous ``UASAudioForConditionalGeneration``
    of the tiny sizes) in place; returns the provenance. Vocabulary rows past the base's (audio code tokens added
    later) keep their initialisation; every other tensor must match in name and shape."""
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    files = {"audio_tower": folder / ENCODER_FILE, "language_model": folder / LANGUAGE_MODEL_FILE}
    for path in files.values():
        if not path.is_file():
            raise BaseComponentsMissing(f"{path}: base component missing; build it with "
                                        "`python -m uas_audio.base_components.build`")
    inner = model.model
    if inner.audio_tower is None:
        raise ValueError("load_base_components: the model has no audio encoder (input_mode='discrete')")
    targets = {"audio_tower": inner.audio_tower, "language_model": inner.language_model}
    with torch.no_grad():
        for name, path in files.items():
            state = load_file(str(path))
            module = targets[name]
            own = module.state_dict()
            if name == "language_model":
                head = state.pop("lm_head.weight")
                _copy_rows(model.lm_head.weight, head, "lm_head.weight")
            for key, value in state.items():
                if key not in own:
                    raise ValueError(f"{path.name}: tensor {key!r} has no counterpart in the model's {name}")
                if key.endswith("embed_tokens.weight"):
                    _copy_rows(own[key], value, key)
                elif own[key].shape != value.shape:
                    raise ValueError(f"{path.name}: {key} has shape {tuple(value.shape)}, the model's "
                                     f"{tuple(own[key].shape)}: the base was built for other sizes")
                else:
                    own[key].copy_(value.to(own[key].dtype))
            missing = sorted(k for k in own if k not in state and not k.endswith("embed_positions.weight"))
            if missing:
                raise ValueError(f"{path.name}: no weights for {missing[:4]} of the model's {name}")
    return base_provenance(folder)


def _copy_rows(target, source, key: str) -> None:
    if target.shape[1:] != source.shape[1:] or target.shape[0] < source.shape[0]:
        raise ValueError(f"base component {key}: shape {tuple(source.shape)} does not fit the model's "
                         f"{tuple(target.shape)}")
    target[: source.shape[0]].copy_(source.to(target.dtype))


__all__ = ["BASE_DIR", "BaseComponentsMissing", "base_provenance", "load_base_components"]
