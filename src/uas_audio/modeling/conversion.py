"""Bring your own audio LLM: convert a saved transformers audio LLM into ``UASAudioForConditionalGeneration`` and a
matching ``UASAudioProcessor`` that give the same logits and the same greedy generation.

One source, one recipe: each maps the source's parts onto ours (the encoder keeps its class and weights, through the
audio-encoder family of ``audio_encoders.py``; the projector's tensors are renamed; the language model and its head
are moved over as they are). Sources whose parts do not map are refused with the reason (``UNSUPPORTED``).

| source ``model_type`` | encoder family | projector                                   |
|-----------------------|----------------|---------------------------------------------|
| ``qwen2_audio``         | ``qwen2_audio``  | one Linear (``linear``, stack 1)              |
| ``qwen3_asr``           | ``aut``          | Linear-GELU-Linear at the encoder width (``mlp``, stack 1) |
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .audio_encoders import family_of, window_frames_of
from .configuration_uas_audio import UASAudioConfig
from .modeling_uas_audio import UASAudioForConditionalGeneration, UASAudioProjector

#: Audio LLMs of transformers whose parts do not map onto encoder → projector → causal LM without changing outputs.
UNSUPPORTED = {
    "voxtral": "Voxtral's encoder attends over whole 30 s chunks padding included (no padding mask) and writes 375 "
    "placeholders per chunk whatever the clip's length; UAS-Audio encodes clips at their own length, so its outputs "
    "would differ",
    "qwen3_omni_moe": "the Qwen3-Omni thinker places audio tokens with 3-D multimodal RoPE positions (TMRoPE) and "
    "its audio encoder projects inside itself; UAS-Audio feeds the language model plain 1-D positions",
    "qwen2_5_omni": "the Qwen2.5-Omni thinker places audio tokens with 3-D multimodal RoPE positions (TMRoPE); "
    "UAS-Audio feeds the language model plain 1-D positions",
}


@dataclass(frozen=True)
class _Recipe:
    """How one source family maps: its transformers class, its projector as ours, and its audio tokens' names."""

    model_class: str  # transformers class to load the source with
    projector: Callable  # source config -> UASAudioConfig projector fields
    projector_state: Callable  # source projector module -> our projector state dict
    audio_bos_eos: tuple[str, str]  # default names of the tokens around a clip's placeholders


def _qwen2_audio_projector(config) -> dict:
    return {"projector_type": "linear", "projector_stack_factor": 1, "projector_bias": True}


def _qwen3_asr_projector(config) -> dict:
    audio = config.audio_config
    if audio.output_dim != config.text_config.hidden_size:
        raise ValueError(
            f"qwen3_asr: the projector outputs {audio.output_dim} features but the language model is "
            f"{config.text_config.hidden_size} wide"
        )
    return {"projector_type": "mlp", "projector_stack_factor": 1, "projector_bias": True,
            "projector_intermediate_size": audio.d_model, "projector_hidden_act": audio.activation_function}


def _same_names(projector: nn.Module) -> dict:
    return projector.state_dict()


RECIPES = {
    "qwen2_audio": _Recipe(
        "Qwen2AudioForConditionalGeneration",
        _qwen2_audio_projector,
        lambda projector: {"linear_1.weight": projector.linear.weight, "linear_1.bias": projector.linear.bias},
        ("<|audio_bos|>", "<|audio_eos|>"),
    ),
    "qwen3_asr": _Recipe(
        "Qwen3ASRForConditionalGeneration", _qwen3_asr_projector, _same_names, ("<|audio_start|>", "<|audio_end|>")
    ),
}


def _source_model_type(source: str | os.PathLike) -> str:
    from transformers import AutoConfig

    folder = Path(source)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{source}: no config.json; expected a saved transformers audio LLM folder")
    model_type = AutoConfig.from_pretrained(folder).model_type
    if model_type in UNSUPPORTED:
        raise ValueError(f"{source}: {model_type} does not convert: {UNSUPPORTED[model_type]}")
    if model_type not in RECIPES:
        raise ValueError(
            f"{source}: model_type {model_type!r} has no conversion; supported: {', '.join(sorted(RECIPES))}"
        )
    return model_type


def _audio_token_names(tokenizer, source_config, recipe: _Recipe) -> tuple[str, str, str]:
    """The source's placeholder token (by its id) and the tokens around it (the tokenizer's named ones if it has
    them, else the source family's defaults), each required to be in the vocabulary."""
    audio_token = tokenizer.convert_ids_to_tokens(source_config.audio_token_id)
    bos = getattr(tokenizer, "audio_bos_token", None) or recipe.audio_bos_eos[0]
    eos = getattr(tokenizer, "audio_eos_token", None) or recipe.audio_bos_eos[1]
    vocab = tokenizer.get_vocab()
    missing = [token for token in (audio_token, bos, eos) if token not in vocab]
    if missing:
        raise ValueError(f"the source tokenizer lacks the audio token(s) {missing}")
    return audio_token, bos, eos


def convert_audio_llm(
    source: str | os.PathLike, output_dir: str | os.PathLike | None = None, *, dtype: torch.dtype | None = None
) -> tuple[UASAudioForConditionalGeneration, object]:
    """Convert the transformers audio LLM saved in ``source`` (``qwen2_audio`` or ``qwen3_asr``, with its tokenizer)
    into ``(UASAudioForConditionalGeneration, UASAudioProcessor)``; with ``output_dir`` both are saved there.

    The encoder, language model and head keep their weights (moved, not copied); the head is untied from the input
    embeddings, as in every UAS-Audio model. The processor writes each clip as ``audio_bos`` + N × the source's
    placeholder + ``audio_eos`` with N the converted encoder's exact output length, in the ChatML template."""
    import transformers
    from transformers import AutoTokenizer

    from ..processing import UASAudioFeatureExtractor, UASAudioProcessor
    from ..processing.chatml import AUDIO_TOKEN, CHAT_TEMPLATE, IM_END

    model_type = _source_model_type(source)
    recipe = RECIPES[model_type]
    tokenizer = AutoTokenizer.from_pretrained(source)
    src = getattr(transformers, recipe.model_class).from_pretrained(source, dtype=dtype, use_safetensors=True)
    src_config = src.config
    audio_token, audio_bos, audio_eos = _audio_token_names(tokenizer, src_config, recipe)
    ids = tokenizer.convert_tokens_to_ids

    text_config = src_config.text_config
    text_config.tie_word_embeddings = False
    config = UASAudioConfig(
        audio_config=src_config.audio_config,
        text_config=text_config,
        audio_token_id=src_config.audio_token_id,
        audio_bos_token_id=ids(audio_bos),
        audio_eos_token_id=ids(audio_eos),
        tie_word_embeddings=False,
        **recipe.projector(src_config),
    )
    with torch.device("meta"):
        model = UASAudioForConditionalGeneration(config)
    model.model.audio_tower = src.model.audio_tower
    model.model.language_model = src.model.language_model
    head = src.get_output_embeddings()
    model.lm_head = nn.Linear(head.in_features, head.out_features, bias=False, dtype=head.weight.dtype)
    with torch.no_grad():
        model.lm_head.weight.copy_(head.weight)  # a copy: untied from the input embeddings
    projector = UASAudioProjector(config).to(dtype=head.weight.dtype)
    projector.load_state_dict(recipe.projector_state(src.model.multi_modal_projector), strict=True)
    model.model.multi_modal_projector = projector
    model.generation_config = src.generation_config
    eos = model.generation_config.eos_token_id
    eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    if IM_END in tokenizer.get_vocab():  # ChatML turns end at <|im_end|>
        eos = list(dict.fromkeys([ids(IM_END), *eos]))
    model.generation_config.eos_token_id = eos
    model.config.eos_token_id = eos
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()

    processor = UASAudioProcessor(
        feature_extractor=UASAudioFeatureExtractor(feature_size=config.audio_config.num_mel_bins),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE.replace(AUDIO_TOKEN, audio_token),
        stack_factor=config.projector_stack_factor,
        audio_token=audio_token,
        audio_bos_token=audio_bos,
        audio_eos_token=audio_eos,
        encoder_family=family_of(config.audio_config),
        window_frames=window_frames_of(config.audio_config),
    )
    if output_dir is not None:
        model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
    return model, processor


__all__ = ["RECIPES", "UNSUPPORTED", "convert_audio_llm"]


# --- checkpoints in any layout: a key map ------------------------------------------------------------------------

def read_key_map(path: str | os.PathLike) -> list[tuple[str, str | None]]:
    """A key map from a JSON file: a list of ``[pattern, replacement]`` pairs (or an object, in its order), each a
    regular expression on a source tensor name and its ``re.sub`` replacement; ``null`` drops the matched tensors."""
    import json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    pairs = list(data.items()) if isinstance(data, dict) else data
    def is_pair(p) -> bool:
        return (isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str)
                and (p[1] is None or isinstance(p[1], str)))

    if not isinstance(pairs, list) or not all(is_pair(p) for p in pairs):
        raise ValueError(f"{path}: a key map is a list of [pattern, replacement-or-null] pairs or an object of them")
    return [(p[0], p[1]) for p in pairs]


def map_keys(names, key_map) -> dict[str, str | None]:
    """Source tensor name → our name (``None``: dropped) by the first pattern of ``key_map`` that matches it
    (``re.match`` at the start of the name; the replacement expands groups as ``re.sub`` does). A name no pattern
    matches raises, listing a few: a silent leftover would be a tensor not loaded."""
    import re

    compiled = []
    for pattern, replacement in key_map:
        try:
            compiled.append((re.compile(pattern), replacement))
        except re.error as err:
            raise ValueError(f"key map: {pattern!r} is not a regular expression: {err}") from None
    mapped, unmatched = {}, []
    for name in names:
        for regex, replacement in compiled:
            match = regex.match(name)
            if match:
                mapped[name] = None if replacement is None else regex.sub(replacement, name, count=1)
                break
        else:
            unmatched.append(name)
    if unmatched:
        raise ValueError(f"key map: {len(unmatched)} source tensor(s) match no pattern, e.g. {unmatched[:5]}; "
                         "map them or drop them with a null replacement")
    return mapped


def _safetensors_files(folder: Path) -> list[Path]:
    import json

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / shard for shard in shards]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder}: no *.safetensors file (weights load from safetensors only)")
    return files


def convert_with_key_map(
    source: str | os.PathLike, output_dir: str | os.PathLike, config: UASAudioConfig, key_map, processor=None,
    *, dtype: torch.dtype | None = None
) -> UASAudioForConditionalGeneration:
    """Load a checkpoint of any layout into ``UASAudioForConditionalGeneration(config)`` by renaming its tensors.

    ``source`` is a folder of safetensors files (sharded or not; never pickles), ``key_map`` an ordered list of
    ``(pattern, replacement)`` pairs (:func:`map_keys`, :func:`read_key_map`). Every tensor of ours must be given
    exactly once with our shape, and every source tensor must be mapped or dropped: any missing, duplicated,
    unexpected or mis-shaped tensor raises one error that lists them, before anything is written. The renamed
    checkpoint and ``config`` are saved in ``output_dir`` (with ``processor`` when given) and the model is loaded
    back from there by ``from_pretrained``, so what is returned is what a user will load. This is how a released
    checkpoint whose own code is not in transformers (the paper's) is brought over once its tensor names are known:
    the map is the only part specific to it."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    folder, out = Path(source), Path(output_dir)
    files = _safetensors_files(folder)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in UASAudioForConditionalGeneration(config).state_dict().items()}
    renamed: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names = list(handle.keys())
            for name, target in map_keys(names, key_map).items():
                if target is None:
                    continue
                if target in origin:
                    problems.append(f"{target} given twice ({origin[target]}, {name})")
                    continue
                tensor = handle.get_tensor(name)
                if target not in expected:
                    problems.append(f"{name} -> {target}: no such tensor in UAS-Audio")
                elif tuple(tensor.shape) != expected[target]:
                    problems.append(f"{name} -> {target}: shape {tuple(tensor.shape)}, expected {expected[target]}")
                else:
                    renamed[target] = tensor if dtype is None else tensor.to(dtype)
                    origin[target] = name
    missing = sorted(set(expected) - set(origin))
    if missing:
        problems.append(f"{len(missing)} UAS-Audio tensor(s) not given, e.g. {missing[:5]}")
    if problems:
        raise ValueError("key map: the checkpoint does not load as UAS-Audio: " + "; ".join(problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in renamed.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    config.save_pretrained(out)
    if processor is not None:
        processor.save_pretrained(out)
    model = UASAudioForConditionalGeneration.from_pretrained(out, dtype=dtype)
    return model.eval()


__all__ += ["convert_with_key_map", "map_keys", "read_key_map"]
