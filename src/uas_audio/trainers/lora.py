"""LoRA on the LLM projections of UAS-Audio with the PEFT recipe that works under TRL's fused LM head.

- LoRA adapters on the language model's attention and MLP projections only (a regex over ``language_model``:
  q/k/v/o and gate/up/down), never on the audio encoder or the LM head (TRL reads ``lm_head.weight`` directly);
- the LM head and the projector train fully as ``modules_to_save``;
- with audio-code tokens in the vocabulary, their rows of ``embed_tokens`` train as PEFT trainable tokens (on
  ``embed_tokens`` only: trainable tokens on the LM head, or with tied embeddings, break the fused head).
"""

from __future__ import annotations

from pathlib import Path

LLM_PROJECTIONS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: Matches the LLM's projections by full module name, e.g. ``model.language_model.layers.0.self_attn.q_proj``.
LLM_PROJECTION_REGEX = r".*language_model\..*\.(" + "|".join(LLM_PROJECTIONS) + r")$"


def lora_config(model, r: int = 16, alpha: int = 32, dropout: float = 0.05):
    """The ``peft.LoraConfig`` of the recipe above for ``model`` (a ``UASAudioForConditionalGeneration``)."""
    from peft import LoraConfig

    if model.get_input_embeddings().weight is model.get_output_embeddings().weight:
        raise ValueError("LoRA recipe: the LM head is tied to the input embeddings; untie them "
                         "(tie_word_embeddings=False) so the head can train as a module to save")
    modules_to_save = ["lm_head"]
    if model.model.multi_modal_projector is not None:
        modules_to_save.append("multi_modal_projector")
    trainable_tokens = None
    if model.config.num_audio_codes:
        start = model.config.audio_code_start
        trainable_tokens = {"embed_tokens": list(range(start, start + model.config.num_audio_codes))}
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=LLM_PROJECTION_REGEX,
        modules_to_save=modules_to_save,
        trainable_token_indices=trainable_tokens,
        task_type="CAUSAL_LM",
    )


def apply_lora(model, r: int = 16, alpha: int = 32, dropout: float = 0.05):
    """Wrap ``model`` in a ``PeftModel`` with the recipe's adapters; the audio encoder stays frozen."""
    from peft import get_peft_model

    return get_peft_model(model, lora_config(model, r=r, alpha=alpha, dropout=dropout))


def save_lora(peft_model, directory: str | Path) -> Path:
    """Save the adapters, the modules to save and the trainable token rows (safetensors)."""
    directory = Path(directory)
    # "auto" misses a resized vocabulary on a composite config; the code rows travel as trainable tokens.
    peft_model.save_pretrained(directory, save_embedding_layers=False)
    return directory


def load_lora(model, directory: str | Path, is_trainable: bool = False):
    """``model`` (the same base the adapters were trained on) with the adapters of ``directory`` loaded."""
    from peft import PeftModel

    directory = Path(directory)
    if not (directory / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{directory}: no adapter_config.json (not a saved LoRA adapter)")
    return PeftModel.from_pretrained(model, directory, is_trainable=is_trainable)


def merge_lora(peft_model):
    """The base model with the adapters, modules to save and trainable tokens merged in (a plain model)."""
    return peft_model.merge_and_unload()


# --- LoRA output folders --------------------------------------------------------------------------------------
# `train --lora` writes the adapters beside the processor. When the base model cannot be found again from its
# name (the embedded tiny default, or a base whose vocabulary training extended with audio codes), the base is
# saved in the same folder: transformers then loads such a folder as "a local model with an embedded adapter",
# so `pipeline("audio-to-uas", model=folder)` and `from_pretrained(folder)` both work.

_WEIGHT_FILES = ("config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json")


def is_lora_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder of LoRA adapters (``adapter_config.json``), with or without its base."""
    return (Path(path) / "adapter_config.json").is_file()


def lora_base(path: str | Path) -> str:
    """Where the base model of the adapters in ``path`` lives: the folder itself when it embeds the base,
    else the adapter config's ``base_model_name_or_path``."""
    import json

    path = Path(path)
    if (path / "config.json").is_file():
        return str(path)
    base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
    if not base:
        raise FileNotFoundError(f"{path}: LoRA adapters without their base model (no config.json here and no "
                                "base_model_name_or_path in adapter_config.json)")
    return base


def load_lora_folder(path: str | Path, merge: bool = True):
    """``(model, processor)`` from a ``train --lora`` output: the base with the adapters loaded, merged into a plain
    ``UASAudioForConditionalGeneration`` unless ``merge=False`` (then a ``PeftModel``)."""
    import tempfile

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoProcessor

    path = Path(path)
    base = lora_base(path)
    with tempfile.TemporaryDirectory() as scratch:
        weights = base
        if base == str(path):
            # the base's files without the adapters beside them (transformers would attach them on load)
            for name in _WEIGHT_FILES + tuple(p.name for p in path.glob("model-*.safetensors")):
                if (path / name).is_file():
                    (Path(scratch) / name).symlink_to((path / name).resolve())
            weights = scratch
        model = AutoModelForCausalLM.from_pretrained(weights)
        model = PeftModel.from_pretrained(model, path)
        if merge:
            model = merge_lora(model)
    processor = AutoProcessor.from_pretrained(path if (path / "processor_config.json").is_file() else base)
    return model.eval(), processor


def merge_lora_folder(path: str | Path, out: str | Path) -> Path:
    """Merge the adapters of a ``train --lora`` output into its base and save a plain model + processor at ``out``
    (safetensors), loadable anywhere without PEFT."""
    model, processor = load_lora_folder(path, merge=True)
    out = Path(out)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


__all__ = ["LLM_PROJECTIONS", "LLM_PROJECTION_REGEX", "lora_config", "apply_lora", "save_lora", "load_lora",
           "merge_lora", "is_lora_folder", "lora_base", "load_lora_folder", "merge_lora_folder"]
