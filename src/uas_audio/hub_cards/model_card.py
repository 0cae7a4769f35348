"""The model card of a UAS-Audio checkpoint: Hub metadata, runnable usage snippets, training recipe, results.

Built with huggingface_hub's ``ModelCard`` / ``ModelCardData`` from the template ``templates/model_card.md``.
The metadata's ``pipeline_tag`` is ``audio-text-to-text``: it is one of the Hub's task tags (huggingface.js
``packages/tasks/src/pipelines.ts``), even though transformers has no pipeline of that name; the model's own
task, ``audio-to-uas``, is a custom pipeline the repository registers in ``config.json``.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..schema import ASR_PROMPT

PIPELINE_TAG = "audio-text-to-text"
LIBRARY_NAME = "transformers"
TAGS = ("uas", "audio", "speech", "audio-language-model", "paralinguistics", "sound-events", "uas-audio",
        "custom_code")

#: Multiple-choice benchmarks the evaluation module scores, with their display names.
MCQ_BENCHMARKS = {"mmsu": "MMSU", "mmau": "MMAU", "mmar": "MMAR"}

#: Recipe keys shown in the training table, in this order, when a stage has them.
RECIPE_KEYS = ("trainable", "learning_rate", "warmup_steps", "lr_scheduler_type", "max_steps", "num_train_epochs",
               "per_device_train_batch_size", "gradient_accumulation_steps", "adam_beta1", "adam_beta2",
               "weight_decay", "max_grad_norm", "mixture")


def _template_text(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def usage_snippets(repo_id: str) -> dict[str, str]:
    """The card's two usage examples for ``repo_id`` (a Hub id or a local folder): pipeline and generate."""
    pipeline_snippet = f'''from transformers import pipeline

pipe = pipeline("audio-to-uas", model="{repo_id}", trust_remote_code=True)
result = pipe("clip.wav")
print(result["uas"])'''
    generate_snippet = f'''from transformers import AutoModelForCausalLM, AutoProcessor

processor = AutoProcessor.from_pretrained("{repo_id}", trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained("{repo_id}", trust_remote_code=True)
conversation = [{{"role": "user", "content": [
    {{"type": "audio", "path": "clip.wav"}},
    {{"type": "text", "text": "{ASR_PROMPT}"}},
]}}]
inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                       return_dict=True, return_tensors="pt")
output = model.generate(**inputs, max_new_tokens=64)
print(processor.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))'''
    return {"pipeline": pipeline_snippet, "generate": generate_snippet}


def base_models_from_config(config: Any) -> list[str]:
    """Hub ids of the components a model was built from, read from its sub-configs' ``_name_or_path``
    (local paths and empty names are left out: the Hub's ``base_model`` takes repository ids only)."""
    names = []
    for sub in ("audio_config", "text_config"):
        name = getattr(getattr(config, sub, None), "_name_or_path", "") or ""
        if name and _is_repo_id(name) and name not in names:
            names.append(name)
    return names


def _is_repo_id(name: str) -> bool:
    if Path(name).expanduser().exists() or name.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return "/" in name


def eval_results_from_reports(reports: Iterable[Mapping[str, Any]]) -> list[EvalResult]:
    """``EvalResult`` entries (the card's ``model-index``) from ``uas-audio eval`` report dicts.

    MMSU/MMAU/MMAR give accuracy (%), ``asr`` the targeted and holistic WER/CER (%), ``tts`` the Seed-TTS WER
    (%), ``uas`` one accuracy (%) per UAS field. A report may name its Hub dataset with ``dataset_type`` (the
    benchmark's name is used otherwise) and its split with ``dataset_split``.
    """
    results: list[EvalResult] = []
    for i, report in enumerate(reports):
        bench = report.get("bench")
        if bench is None:
            raise ValueError(f"evaluation report {i}: no 'bench' key (expected a uas-audio eval report.json)")
        try:
            results += _report_results(str(bench), report)
        except KeyError as err:
            raise ValueError(f"evaluation report {i} ({bench}): missing key {err.args[0]!r}") from None
    return results


def _report_results(bench: str, report: Mapping[str, Any]) -> list[EvalResult]:
    def result(task_type: str, task_name: str, dataset_name: str, metric_type: str, value: float,
               metric_name: str) -> EvalResult:
        return EvalResult(task_type=task_type, task_name=task_name, dataset_type=report.get("dataset_type", bench),
                          dataset_name=report.get("dataset_name", dataset_name),
                          dataset_split=report.get("dataset_split"), metric_type=metric_type,
                          metric_value=round(float(value), 2), metric_name=metric_name)

    if bench in MCQ_BENCHMARKS:
        name = MCQ_BENCHMARKS[bench]
        scorer = report.get("scorer", "official")
        return [result(PIPELINE_TAG, "Audio question answering", name, "accuracy", 100 * report["accuracy"],
                       f"Accuracy ({scorer} scoring)")]
    if bench == "asr":
        metric = report["metric"]
        out = [result("automatic-speech-recognition", "Speech recognition", "ASR", metric, report["targeted"],
                      f"{metric.upper()} (transcription prompt)")]
        if "holistic" in report:
            out.append(result("automatic-speech-recognition", "Speech recognition", "ASR", metric,
                              report["holistic"], f"{metric.upper()} (transcription field of holistic UAS)"))
        return out
    if bench == "tts":
        language = report.get("language", "en")
        return [result("text-to-speech", "Speech synthesis", f"Seed-TTS {language}", "wer", report["wer"],
                       "WER (Seed-TTS protocol)")]
    if bench == "uas":
        return [result(PIPELINE_TAG, "UAS field accuracy", "UAS reference records", "accuracy",
                       100 * field["accuracy"], f"{path} accuracy")
                for path, field in report["fields"].items()]
    if bench == "synthetic-perception":
        # held-out multiple choice on a synthetic corpus: each accuracy beside the same model with shuffled audio
        data = report.get("dataset_name", "held-out synthetic clips")
        out = []
        for group in ("perception", "content"):
            if report.get(group) is not None:
                out.append(result(PIPELINE_TAG, "Audio question answering", data, "accuracy", 100 * report[group],
                                  f"{group.capitalize()} accuracy (n={report['counts'][group]})"))
            if report.get("shuffled", {}).get(group) is not None:
                out.append(result(PIPELINE_TAG, "Audio question answering", data, "accuracy",
                                  100 * report["shuffled"][group],
                                  f"{group.capitalize()} accuracy, audio shuffled across clips (label prior)"))
        return out
    raise ValueError(f"unknown benchmark {bench!r} in an evaluation report; expected one of "
                     f"{[*MCQ_BENCHMARKS, 'asr', 'tts', 'uas', 'synthetic-perception']}")


def recipe_stages(recipe: Any) -> list[dict[str, Any]]:
    """The stages of a training recipe as plain dicts: one stage (a dict or dataclass with ``stage``), a list of
    them, or a mapping with a ``stages`` list."""
    if recipe is None:
        return []
    if dataclasses.is_dataclass(recipe) and not isinstance(recipe, type):
        recipe = dataclasses.asdict(recipe)
    if isinstance(recipe, Mapping):
        if "stages" in recipe:
            return [s for stage in recipe["stages"] for s in recipe_stages(stage)]
        return [dict(recipe)]
    if isinstance(recipe, Sequence) and not isinstance(recipe, str):
        return [s for stage in recipe for s in recipe_stages(stage)]
    raise TypeError(f"recipe: expected a stage mapping, a list of stages or {{'stages': [...]}}, "
                    f"got {type(recipe).__name__}")


def _format(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_format(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def training_table(stages: list[dict[str, Any]]) -> str:
    """A Markdown table: one row per stage, one column per hyperparameter any stage sets."""
    if not stages:
        return ""
    keys = [k for k in RECIPE_KEYS if any(k in s for s in stages)]
    lines = ["| stage | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for n, stage in enumerate(stages, 1):
        label = stage.get("stage", stage.get("name", n))
        lines.append(f"| {_format(label)} | " + " | ".join(_format(stage[k]) if k in stage else "" for k in keys) + " |")
    return "\n".join(lines)


def eval_table(results: list[EvalResult]) -> str:
    if not results:
        return ""
    lines = ["| dataset | metric | value |", "|---|---|---|"]
    for r in results:
        lines.append(f"| {r.dataset_name} | {r.metric_name} | {r.metric_value:.2f} |")
    return "\n".join(lines)


def _architecture(model: Any, processor: Any) -> list[tuple[str, str]]:
    config = model.config
    audio, text = config.audio_config, config.text_config
    rows = [
        ("audio encoder", f"{audio.num_hidden_layers} layers, width {audio.hidden_size}, "
                          f"{audio.num_attention_heads} heads, {getattr(audio, 'num_mel_bins', 128)} mel bins"),
        ("projector", f"{getattr(config, 'projector_type', 'linear')}, stacks "
                      f"{getattr(config, 'projector_stack_factor', 4)} encoder frames per audio token"),
        ("language model", f"{text.model_type}, {text.num_hidden_layers} layers, width {text.hidden_size}, "
                           f"vocabulary {text.vocab_size}"),
        ("parameters", f"{sum(p.numel() for p in model.parameters()):,}"),
    ]
    if processor is not None:
        rows.append(("audio input", f"{processor.feature_extractor.sampling_rate} Hz, "
                                    f"{getattr(processor, 'input_mode', 'continuous')} features"))
    return rows


def build_model_card(
    model: Any,
    processor: Any = None,
    *,
    eval_results: Iterable[Mapping[str, Any]] | None = None,
    recipe: Any = None,
    datasets: Sequence[str] | None = None,
    base_models: Sequence[str] | None = None,
    license: str = "apache-2.0",
    repo_id: str | None = None,
    model_name: str | None = None,
) -> ModelCard:
    """The model card of ``model`` (a ``UASAudioForConditionalGeneration``).

    ``eval_results``: ``uas-audio eval`` report dicts (they become the ``model-index``); ``recipe``: the run's
    training recipe (see ``recipe_stages``); ``datasets``: Hub ids of the training datasets; ``base_models``:
    Hub ids of the encoder / LLM it was built from (read from the config when not given); ``repo_id``: the id the
    usage snippets load (default: the model's ``name_or_path``).
    """
    if base_models is None:
        base_models = base_models_from_config(model.config)
    for name in [*base_models, *(datasets or [])]:
        if not _is_repo_id(name):
            raise ValueError(f"{name!r}: base models and datasets in a card must be Hub repository ids "
                             "('owner/name'), not local paths")
    repo_id = repo_id or getattr(model, "name_or_path", "") or "uas-audio-model"
    model_name = model_name or repo_id.rstrip("/").rsplit("/", 1)[-1]
    results = eval_results_from_reports(list(eval_results or []))
    base = list(base_models)
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag=PIPELINE_TAG,
        license=license,
        tags=list(TAGS),
        base_model=(base[0] if len(base) == 1 else base) or None,
        datasets=list(datasets) if datasets else None,
        model_name=model_name,
        eval_results=results or None,
    )
    snippets = usage_snippets(repo_id)
    return ModelCard.from_template(
        card_data,
        template_str=_template_text("model_card.md"),
        model_name=model_name,
        pipeline_snippet=snippets["pipeline"],
        generate_snippet=snippets["generate"],
        architecture=_architecture(model, processor),
        base_models=base,
        training_table=training_table(recipe_stages(recipe)),
        datasets=list(datasets or []),
        eval_table=eval_table(results),
    )
