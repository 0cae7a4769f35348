"""Stage recipes (UAS-SPEC §4): one config dataclass per training stage, on TRL's ``SFTConfig`` / ``GRPOConfig``.

Common defaults: AdamW β=(0.9, 0.95), weight decay 0.1, gradient clipping 1.0, cosine schedule with linear
warm-up; per stage the peak learning rate and warm-up steps of the paper. The YAML files in
``uas_audio/trainers/recipes/`` hold the same values; ``load_recipe`` reads the packaged file of a stage, then a
user file, then keyword overrides, and builds the stage's config class.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from trl import GRPOConfig, SFTConfig

#: What each stage trains (applied by ``uas_audio.trainers.freezing.apply_stage_freezing``).
TRAINABLE = {
    1: "new_vocab_rows",  # the rows of the embeddings and LM head added for audio codes
    2: "projector",
    3: "all_but_encoder",
    4: "all_but_encoder",
}


def _bf16_default() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


@dataclass
class _StageFields:
    """Fields every stage adds to its TRL config."""

    stage: int = field(default=0, metadata={"help": "Training stage (1-4, UAS-SPEC §4)."})
    trainable: str = field(
        default="all_but_encoder",
        metadata={"help": "What trains: new_vocab_rows, projector or all_but_encoder (set by the stage)."},
    )
    num_audio_codes: int = field(
        default=1000,
        metadata={"help": "Audio-code tokens added to the vocabulary when the model has none (TTS targets)."},
    )
    speech_tokenizer: str | None = field(
        default=None,
        metadata={"help": "Directory of a UASSpeechTokenizer giving TTS targets; None: a tiny random one (tests)."},
    )
    mixture: dict[str, float] = field(
        default_factory=dict,
        metadata={"help": "Task → sampling ratio of the training mixture (asr, uas, targeted, fields, caption, tts, qa)."},
    )
    asr_audio_as_codes: bool = field(
        default=False,
        metadata={"help": "ASR rows give the audio as speech-code tokens (stage 1: trains the new input rows)."},
    )
    collator_max_length: int | None = field(
        default=None,
        metadata={"help": "Longest training row in tokens; the collator drops whole trailing turns past it."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank with --lora."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha with --lora."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout with --lora."})
    # TRL turns checkpointing on through `gradient_checkpointing`, a name transformers >= 5.23 deprecates
    # (a FutureWarning on every config): the same default, under the current name, set in `_common_post_init`
    # only when neither name is given (transformers reads the old name only while the new one is unset, so a
    # default of True here silently overrode an explicit `gradient_checkpointing=False`).
    activation_checkpointing: bool | None = field(
        default=None, metadata={"help": "Recompute activations in backward to save memory (default: on, as TRL)."}
    )
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (transformers)."}
    )


def _common_post_init(config) -> None:
    if config.activation_checkpointing is None and config.gradient_checkpointing is None:
        config.activation_checkpointing = True
    if config.bf16 is None and not config.fp16:
        config.bf16 = _bf16_default()
    import torch

    if not torch.cuda.is_available():
        config.dataloader_pin_memory = False  # pinning needs an accelerator (a warning per run otherwise)
    if config.trainable not in set(TRAINABLE.values()):
        raise ValueError(f"stage {config.stage}: trainable must be one of {sorted(set(TRAINABLE.values()))}, "
                         f"got {config.trainable!r}")


@dataclass
class _SFTStageConfig(_StageFields, SFTConfig):
    """SFT stage defaults shared by stages 1-3: the spec's optimizer and schedule, and what our collator needs."""

    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate (AdamW)."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW β1."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW β2."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW decoupled weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Cosine decay after linear warm-up."})
    warmup_steps: float = field(default=1000, metadata={"help": "Linear warm-up steps (a float < 1: a ratio)."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep the `messages` column: the audio collator reads it."}
    )
    dataset_kwargs: dict[str, Any] | None = field(
        default_factory=lambda: {"skip_prepare_dataset": True},
        metadata={"help": "TRL does not tokenize: the audio collator builds ids, features and labels."},
    )
    bf16: bool | None = field(default=None, metadata={"help": "bf16 mixed precision; None: on where CUDA has it."})
    report_to: Any = field(default="none", metadata={"help": "none, tensorboard or wandb."})

    def __post_init__(self):
        _common_post_init(self)
        super().__post_init__()


@dataclass
class Stage1Config(_SFTStageConfig):
    """Stage 1, discrete token alignment: ASR + TTS with audio codes; only the new vocabulary rows train."""

    stage: int = field(default=1, metadata={"help": "Training stage."})
    trainable: str = field(default="new_vocab_rows", metadata={"help": "Only the new embedding / LM-head rows."})
    asr_audio_as_codes: bool = field(default=True, metadata={"help": "ASR inputs as speech-code tokens."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Peak learning rate (AdamW)."})
    warmup_steps: float = field(default=500, metadata={"help": "Linear warm-up steps."})
    mixture: dict[str, float] = field(
        default_factory=lambda: {"asr": 0.5, "tts": 0.5}, metadata={"help": "Task → sampling ratio."}
    )


@dataclass
class Stage2Config(_SFTStageConfig):
    """Stage 2, audio-LLM adaptation: UAS annotation only; only the projector trains."""

    stage: int = field(default=2, metadata={"help": "Training stage."})
    trainable: str = field(default="projector", metadata={"help": "Only the audio projector."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (AdamW)."})
    warmup_steps: float = field(default=1000, metadata={"help": "Linear warm-up steps."})
    mixture: dict[str, float] = field(default_factory=lambda: {"uas": 1.0}, metadata={"help": "Task → ratio."})


@dataclass
class Stage3Config(_SFTStageConfig):
    """Stage 3, instruction tuning: ASR, TTS, UAS JSON and UAS-QA mixed; everything but the encoder trains."""

    stage: int = field(default=3, metadata={"help": "Training stage."})
    trainable: str = field(default="all_but_encoder", metadata={"help": "All but the audio encoder."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate (AdamW)."})
    warmup_steps: float = field(default=1000, metadata={"help": "Linear warm-up steps."})
    mixture: dict[str, float] = field(
        default_factory=lambda: {"asr": 0.2, "tts": 0.1, "uas": 0.3, "qa": 0.4},
        metadata={"help": "Task → sampling ratio."},
    )


@dataclass
class Stage4Config(_StageFields, GRPOConfig):
    """Stage 4, GRPO on QA with verifiable answers; everything but the encoder trains."""

    stage: int = field(default=4, metadata={"help": "Training stage."})
    trainable: str = field(default="all_but_encoder", metadata={"help": "All but the audio encoder."})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["mcq_correctness", "format"],
        metadata={"help": "Names of reward functions of uas_audio.trainers.rewards (REWARD_FUNCTIONS)."},
    )
    learning_rate: float = field(default=5e-6, metadata={"help": "Peak learning rate (AdamW)."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW β1."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW β2."})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW decoupled weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Cosine decay after linear warm-up."})
    warmup_steps: float = field(default=200, metadata={"help": "Linear warm-up steps."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep answer / choices / uas columns: the rewards read them."}
    )
    bf16: bool | None = field(default=None, metadata={"help": "bf16 mixed precision; None: on where CUDA has it."})
    report_to: Any = field(default="none", metadata={"help": "none, tensorboard or wandb."})
    mixture: dict[str, float] = field(default_factory=lambda: {"qa": 1.0}, metadata={"help": "Task → ratio."})

    def __post_init__(self):
        _common_post_init(self)
        super().__post_init__()


STAGE_CONFIGS = {1: Stage1Config, 2: Stage2Config, 3: Stage3Config, 4: Stage4Config}


def recipe_path(stage: int) -> Path:
    """The packaged YAML recipe of ``stage``."""
    if stage not in STAGE_CONFIGS:
        raise ValueError(f"unknown stage {stage!r}; stages are 1, 2, 3, 4")
    return Path(str(resources.files("uas_audio.trainers") / "recipes" / f"stage{stage}.yaml"))


def _read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a recipe is a mapping of config fields, got {type(data).__name__}")
    return data


def load_recipe(stage: int, path: str | Path | None = None, **overrides: Any):
    """The config of ``stage``: packaged YAML, then the file at ``path``, then ``overrides`` (later wins).

    Unknown keys raise ``ValueError`` naming the file they came from. A file's ``stage`` must match ``stage``.
    """
    config_class = STAGE_CONFIGS.get(stage)
    if config_class is None:
        raise ValueError(f"unknown stage {stage!r}; stages are 1, 2, 3, 4")
    known = {f.name for f in fields(config_class) if f.init}
    values: dict[str, Any] = {}
    for source, data in ((recipe_path(stage), _read_yaml(recipe_path(stage))),
                         *(((path, _read_yaml(path)),) if path is not None else ()),
                         ("overrides", overrides)):
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown {config_class.__name__} field(s) {unknown}")
        if "stage" in data and data["stage"] != stage:
            raise ValueError(f"{source}: recipe is for stage {data['stage']}, but stage {stage} was asked for")
        values.update(data)
    return config_class(**values)


__all__ = ["Stage1Config", "Stage2Config", "Stage3Config", "Stage4Config", "STAGE_CONFIGS", "TRAINABLE",
           "load_recipe", "recipe_path"]
