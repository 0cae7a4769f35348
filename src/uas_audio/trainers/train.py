"""The training entry of ``uas-audio train``: recipe + model + data → a TRL trainer for the stage, run.

Stages 1-3 run on TRL's ``SFTTrainer`` with ``AudioChatCollator`` (no dataset preparation by TRL, unused columns
kept, the processor as processing class); stage 4 on ``AudioGRPOTrainer``. The recipe's ``trainable`` set is
applied before the trainer is built (and ``--lora`` wraps the model with the PEFT recipe of ``lora.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import tasks as T
from .freezing import NewRowsGuardCallback, apply_stage_freezing, count_trainable
from .sharding import LMHeadUnshardCallback, save_trained_model
from .stage_config import load_recipe

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Datasets found in ``--data`` sources, by kind."""

    uas: list  # UAS datasets (id, audio, uas, transcript, ...)
    qa: list  # UAS-QA datasets (id, messages, answer, choices, ...)


# --- data sources --------------------------------------------------------------------------------------------


def _load_source(path: str | Path):
    import datasets

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: training data not found")
    if path.is_dir() and any(path.glob("manifest-r*.json")):  # annotation output
        from ..annotate.pipeline import load_annotations

        return load_annotations(path, status="accepted")
    if path.is_dir() and (path / "qa.parquet").is_file():  # uas-audio qa output
        return datasets.load_dataset("parquet", data_files=str(path / "qa.parquet"), split="train")
    if path.is_dir() and (path / "dataset" / "state.json").is_file():  # uas-audio synth output
        return datasets.load_from_disk(str(path / "dataset"))
    if path.is_dir() and (path / "state.json").is_file():  # save_to_disk
        ds = datasets.load_from_disk(str(path))
        if "status" in ds.column_names:  # a saved annotation table: its accepted rows, as for an annotation output
            ds = ds.filter(lambda s: s == "accepted", input_columns="status")
        return ds
    if path.is_file() and path.suffix == ".parquet":
        return datasets.load_dataset("parquet", data_files=str(path), split="train")
    raise ValueError(f"{path}: not an annotation output, a QA output, a synth output, a saved dataset or a parquet "
                     "file")


def load_training_data(paths: Sequence[str | Path], check_audio: bool = False, skip_bad_rows: bool = False,
                       bad_rows_file: str | Path | None = None) -> TrainingData:
    """Sort ``--data`` sources into UAS datasets (they have ``uas``) and UAS-QA datasets (they have ``messages``).

    A source without rows is refused. ``check_audio`` decodes every clip before anything trains: a row whose audio
    does not decode stops the run with its id and cause, or with ``skip_bad_rows`` is left out and recorded in
    ``bad_rows_file`` (JSON lines: source, row, id, reason)."""
    found = TrainingData(uas=[], qa=[])
    bad_records: list[dict[str, Any]] = []
    for path in paths:
        ds = _load_source(path)
        if len(ds) == 0:
            kind = "accepted rows" if Path(path).is_dir() and any(Path(path).glob("manifest-r*.json")) else "rows"
            raise ValueError(f"no {kind} in {path}" + (" (see its report.md for why rows were rejected)"
                                                       if kind == "accepted rows" else ""))
        if check_audio:
            bad = find_undecodable_rows(ds)
            bad_records += [{"source": str(path), **b} for b in bad]
            if bad and skip_bad_rows:
                drop = {b["row"] for b in bad}
                ds = ds.select([i for i in range(len(ds)) if i not in drop])
                logger.warning("%s: %d row(s) with undecodable audio left out (listed in %s)", path, len(bad),
                               bad_rows_file)
                if len(ds) == 0:
                    raise ValueError(f"{path}: no row has audio that decodes ({bad[0]['reason']})")
        if "messages" in ds.column_names:
            found.qa.append(ds)
        elif "uas" in ds.column_names and "audio" in ds.column_names:
            found.uas.append(ds)
        else:
            raise ValueError(f"{path}: neither UAS data (columns uas, audio) nor UAS-QA (messages); "
                             f"has {ds.column_names}")
    if bad_records and not skip_bad_rows:
        first = bad_records[0]
        raise ValueError(f"{len(bad_records)} row(s) with audio that does not decode, e.g. {first['source']} row "
                         f"{first['row']} (id {first['id']}): {first['reason']}; fix or remove them, or pass "
                         "--skip-bad-rows to leave them out")
    if bad_records and bad_rows_file is not None and os.environ.get("RANK", "0") == "0":  # one writer per run
        import json

        bad_rows_file = Path(bad_rows_file)
        bad_rows_file.parent.mkdir(parents=True, exist_ok=True)
        bad_rows_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bad_records))
    return found


def _row_audio(row: dict[str, Any]) -> Any:
    """The audio reference of a UAS row (``audio``) or of a UAS-QA row (the audio part of its messages)."""
    if row.get("audio") is not None:
        return row["audio"]
    for message in row.get("messages") or ():
        content = message.get("content")
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "audio" and part.get("audio") is not None:
                return part["audio"]
    return None


def find_undecodable_rows(ds) -> list[dict[str, Any]]:
    """Rows of ``ds`` whose audio does not decode: ``{"row", "id", "reason"}`` each. Every clip is decoded once
    (UAS-QA rows share clips), so a corrupt file is found before training rather than at the batch that holds it."""
    from ..audio import AudioDecodeError, load_audio

    import datasets

    columns = [c for c in ("id", "audio", "messages") if c in ds.column_names]
    if "audio" not in columns and "messages" not in columns:
        return []
    ds = ds.select_columns(columns)
    if isinstance(ds.features.get("audio"), datasets.Audio) and ds.features["audio"].decode:
        ds = ds.cast_column("audio", datasets.Audio(decode=False))  # decoded here, by soundfile, not by datasets
    bad, seen = [], {}
    for index, row in enumerate(ds):
        audio = _row_audio(row)
        if audio is None:
            continue
        key = audio.get("path") if isinstance(audio, dict) and audio.get("bytes") is None else None
        if key is not None and key in seen:
            reason = seen[key]
        else:
            try:
                load_audio(audio)
                reason = None
            except (AudioDecodeError, TypeError) as err:
                reason = str(err)
            if key is not None:
                seen[key] = reason
        if reason is not None:
            bad.append({"row": index, "id": str(row.get("id", index)), "reason": reason})
    return bad


def _concat(datasets_: list):
    from datasets import concatenate_datasets

    return datasets_[0] if len(datasets_) == 1 else concatenate_datasets(datasets_)


def speech_encoder(recipe) -> Any:
    """The speech tokenizer giving TTS targets: ``recipe.speech_tokenizer`` or a seeded tiny random one."""
    import torch

    from ..modeling.speech import UASSpeechTokenizer, speech_configs

    if recipe.speech_tokenizer:
        return UASSpeechTokenizer.from_pretrained(recipe.speech_tokenizer).eval()
    logger.warning("no speech_tokenizer in the recipe: TTS targets come from a random tiny speech tokenizer")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        return UASSpeechTokenizer(speech_configs("tiny")["tokenizer"]).eval()


def build_sft_dataset(recipe, data: TrainingData, encode=None):
    """The stage's SFT mixture: one dataset per task of ``recipe.mixture`` with a positive ratio, interleaved."""
    per_task = {}
    for task, ratio in recipe.mixture.items():
        if ratio <= 0:
            continue
        if task == T.QA:
            if not data.qa:
                raise ValueError(f"stage {recipe.stage}: the mixture has qa but no UAS-QA data was given")
            per_task[task] = T.qa_rows(_concat(data.qa))
        else:
            if not data.uas:
                raise ValueError(f"stage {recipe.stage}: the mixture has {task} but no UAS data was given")
            per_task[task] = T.build_task(task, _concat(data.uas), encode=encode,
                                          asr_audio_as_codes=recipe.asr_audio_as_codes)
    return T.mixture(per_task, recipe.mixture, seed=recipe.seed)


def build_grpo_dataset(recipe, data: TrainingData):
    """Stage-4 prompts of one kind: UAS-QA rows (``qa`` in the mixture; rewards read answer, choices) or holistic
    prompts of UAS data (``uas``; rewards read the reference ``uas``)."""
    kinds = [task for task, ratio in recipe.mixture.items() if ratio > 0]
    if kinds == [T.QA]:
        if not data.qa:
            raise ValueError("stage 4: the mixture asks for qa prompts but no UAS-QA data was given")
        return T.prompt_rows(_concat(data.qa))
    if kinds == [T.UAS_JSON]:
        if not data.uas:
            raise ValueError("stage 4: the mixture asks for uas prompts but no UAS data was given")
        return T.holistic_prompt_rows(_concat(data.uas))
    raise ValueError(f"stage 4: the mixture must be exactly one of {{qa: 1}} or {{uas: 1}}, got {recipe.mixture}")


# --- model ---------------------------------------------------------------------------------------------------


def load_model_and_processor(model_dir: str | Path | None = None):
    """A saved model + processor, or the embedded tiny model (``tiny_model()``) when ``model_dir`` is None."""
    if model_dir is None:
        from ..tiny import tiny_model, tiny_processor

        return tiny_model(), tiny_processor()
    from transformers import AutoModelForCausalLM, AutoProcessor

    import uas_audio  # noqa: F401  (registers the Auto classes)

    from .lora import is_lora_folder, load_lora_folder

    path = Path(model_dir)
    if is_lora_folder(path):  # a `train --lora` output: its base with the adapters merged in
        return load_lora_folder(path, merge=True)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no config.json (not a saved model directory)")
    return AutoModelForCausalLM.from_pretrained(path), AutoProcessor.from_pretrained(path)


def ensure_audio_codes(model, processor, num_codes: int, seed: int = 0) -> None:
    """Add ``num_codes`` audio-code tokens to model and tokenizer unless the model has them (seeded rows)."""
    import torch

    if model.config.num_audio_codes:
        if model.config.num_audio_codes < num_codes:
            raise ValueError(f"the model has {model.config.num_audio_codes} audio codes, the speech tokenizer "
                             f"{num_codes}")
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.add_audio_codes(num_codes, tokenizer=processor.tokenizer)


# --- trainer -------------------------------------------------------------------------------------------------


def build_trainer(recipe, model, processor, train_dataset, lora: bool = False, callbacks: Sequence = ()):
    """The stage's trainer with the recipe's freezing (or LoRA) applied."""
    from .collator import AudioChatCollator

    callbacks = list(callbacks)
    guard = None
    if lora:
        if recipe.stage in (1, 2):
            raise ValueError(f"--lora: stage {recipe.stage} trains only "
                             f"{'the new vocabulary rows' if recipe.stage == 1 else 'the projector'}; "
                             "LoRA applies to stages 3 and 4")
        from .lora import apply_lora

        model = apply_lora(model, r=recipe.lora_r, alpha=recipe.lora_alpha, dropout=recipe.lora_dropout)
    else:
        guard = apply_stage_freezing(model, recipe.trainable)
        if guard is not None:
            callbacks.append(NewRowsGuardCallback(guard))
    callbacks.append(LMHeadUnshardCallback())  # a no-op unless accelerate runs FSDP2
    trainable, total = count_trainable(model)
    logger.info("stage %d: %s of %s parameters train (%s)", recipe.stage, f"{trainable:,}", f"{total:,}",
                "lora" if lora else recipe.trainable)
    if recipe.stage == 4:
        from .grpo import AudioGRPOTrainer
        from .rewards import get_reward_functions

        return AudioGRPOTrainer(model=model, reward_funcs=get_reward_functions(recipe.reward_funcs), args=recipe,
                                train_dataset=train_dataset, processing_class=processor, callbacks=callbacks)
    from .sft import AudioSFTTrainer

    collator = AudioChatCollator(processor, max_length=recipe.collator_max_length)
    trainer = AudioSFTTrainer(model=model, args=recipe, data_collator=collator, train_dataset=train_dataset,
                              processing_class=processor, callbacks=callbacks)
    if guard is not None and (trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled):
        guard.plain_state_dict(False)  # sharded: state dicts keep the split rows' own names
    return trainer


def _resume_checkpoint(recipe, refuse_finished: bool = False) -> str:
    """The checkpoint ``--resume`` continues from; refused when there is none, and with ``refuse_finished`` when its
    run already reached ``max_steps`` (resuming would train past the schedule's end at learning rate 0)."""
    import json

    from transformers.trainer_utils import get_last_checkpoint

    out = Path(recipe.output_dir)
    checkpoint = get_last_checkpoint(str(out)) if out.is_dir() else None
    if checkpoint is None:
        raise FileNotFoundError(f"--resume: no checkpoint-* folder in {out}")
    state_file = Path(checkpoint) / "trainer_state.json"
    if refuse_finished and state_file.is_file():
        state = json.loads(state_file.read_text())
        step = int(state.get("global_step", 0))
        target = recipe.max_steps if recipe.max_steps and recipe.max_steps > 0 else int(state.get("max_steps") or 0)
        if target and step >= target:
            raise ValueError(f"--resume: the run in {out} already finished at step {step} (max_steps {target}); "
                             "nothing to resume (raise --max-steps to train further)")
    return checkpoint


def train(
    stage: int,
    config: str | Path | None = None,
    model: str | Path | None = None,
    data: Sequence[str | Path] = (),
    lora: bool = False,
    output_dir: str | Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    report_to: str | None = None,
    overrides: dict[str, Any] | None = None,
    train_dataset=None,
    callbacks: Sequence = (),
    skip_bad_rows: bool = False,
    refuse_finished: bool = False,
):
    """Run one stage; returns the trainer (its ``state.log_history`` holds the losses).

    ``train_dataset`` (already built rows) replaces ``data``; ``overrides`` are recipe fields applied last. Every
    clip of ``data`` is decoded before training starts: an undecodable one stops the run, or with
    ``skip_bad_rows`` is left out and listed in ``output_dir/bad_rows.jsonl``. With ``refuse_finished`` (the command
    line), ``resume`` on a run whose last checkpoint already reached ``max_steps`` raises and writes nothing; a
    caller that finishes interrupted runs itself (``train_stages``, the quickstart) resumes such a checkpoint.
    """
    values = dict(overrides or {})
    if output_dir is not None:
        values["output_dir"] = str(output_dir)
    if max_steps is not None:
        values["max_steps"] = max_steps
    if report_to is not None:
        values["report_to"] = report_to
    recipe = load_recipe(stage, config, **values)
    from .lora import is_lora_folder

    checkpoint = _resume_checkpoint(recipe, refuse_finished) if resume else None  # before anything is loaded or written
    if train_dataset is None:
        found = load_training_data(data, check_audio=True, skip_bad_rows=skip_bad_rows,
                                   bad_rows_file=Path(recipe.output_dir) / "bad_rows.jsonl")
    net, processor = load_model_and_processor(model)
    base_vocab = net.config.get_text_config().vocab_size

    if train_dataset is None:
        if stage == 4:
            train_dataset = build_grpo_dataset(recipe, found)
        else:
            encoder = None
            if recipe.mixture.get(T.TTS, 0) > 0 or (recipe.asr_audio_as_codes and recipe.mixture.get(T.ASR, 0) > 0):
                encoder = speech_encoder(recipe)
                ensure_audio_codes(net, processor, encoder.codebook_size, seed=recipe.seed)
            train_dataset = build_sft_dataset(recipe, found, encode=encoder.encode_for_processor if encoder else None)
    if stage == 1:
        ensure_audio_codes(net, processor, recipe.num_audio_codes, seed=recipe.seed)

    if lora and (model is None or is_lora_folder(model) or net.config.get_text_config().vocab_size != base_vocab):
        # The adapters' base cannot be found again by name (the embedded default, a merged LoRA output, or a
        # vocabulary extended here): keep it in the output folder, where transformers finds it with the adapters.
        from accelerate import PartialState

        if PartialState().is_main_process:
            net.save_pretrained(recipe.output_dir)
    trainer = build_trainer(recipe, net, processor, train_dataset, lora=lora, callbacks=callbacks)
    trainer.train(resume_from_checkpoint=checkpoint)
    save_trained_model(trainer, recipe.output_dir)
    if trainer.is_world_process_zero():
        processor.save_pretrained(recipe.output_dir)
    return trainer


__all__ = ["train", "build_trainer", "build_sft_dataset", "build_grpo_dataset", "load_training_data",
           "find_undecodable_rows",
           "load_model_and_processor", "ensure_audio_codes", "speech_encoder", "TrainingData"]
