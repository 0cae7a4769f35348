"""``pipeline("audio-to-uas")``: audio in, a Unified Audio Schema record (or a targeted answer) out.

Modes, chosen per call:

- holistic (default): the holistic prompt, decoding constrained by the full UAS grammar (``grammar.py``), so the
  output is UAS JSON by construction whatever the weights, tokenizer or sampler. The grammar's limits follow
  each window's duration (``GrammarLimits.for_duration``), so the record also passes the validator's duration
  checks, and the decoder closes the record before ``max_new_tokens`` runs out (``constrained.py``); a budget
  below the shortest record raises ``BudgetTooSmallError`` before generating. Output per clip:
  ``{"uas": dict | None, "text": raw, "valid": bool, "reasons": [{"code", "field", "message"}], "windows": [...]}``
  with ``valid``/``reasons`` from ``uas_audio.schema.validate`` (duration checks use the clip's duration).
  ``constrained=False`` decodes freely and returns what the model wrote and its validation.
- targeted, ``fields=[dotted paths]``: the same prompt under the subset grammar; ``uas`` holds only those fields
  and ``reasons`` only the ontology problems of those fields.
- ``question="..."``: a free-form answer, ``{"answer", "text"}``; with ``choices=[...]`` the prompt is the
  multiple-choice format and the answer is constrained to one option letter: ``{"answer": letter,
  "choice": option text, "text"}``.
- ``task="transcribe"``: plain speech recognition with the ASR prompt, ``{"text", "transcription"}``.

Both variants work alike: a continuous model reads log-mel features, a discrete one (UAS-Audio-D,
``input_mode="discrete"``) reads the code tokens its processor's speech tokenizer writes (restored from the
folder's ``speech_tokenizer/``). A model with audio codes in its vocabulary never writes them in these answers.

Inputs: a path, encoded bytes, an ``(array, rate)`` tuple, ``{"array", "sampling_rate"}``, a datasets audio dict
``{"bytes", "path"}``, a dataset row with an ``audio`` column, or many of these as a list (results as a
list), a generator, a ``KeyDataset`` or a ``datasets.Dataset`` (results streamed). ``batch_size`` batches
windows across clips. A clip longer than 30 s is cut into overlapping windows; UAS records are merged by the
rules in ``merge.py``, transcriptions are joined with the overlap written once, a multiple-choice answer is
the letter most windows chose (the first window's on a tie), and free answers are the windows' answers
one per line. ``windows`` in every result lists each window's span and raw text.

A single unreadable input raises ``AudioDecodeError`` naming it; among many inputs an unreadable one gives
``{"error": message, "source": name}`` (and its ``id`` when a dataset row has one) and the others go on.
"""

from __future__ import annotations

import json
import types
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.utils.data
from transformers import GenerationConfig, SuppressTokensLogitsProcessor
from transformers.pipelines.base import ChunkPipeline

from uas_audio.audio import AudioDecodeError, load_audio
from uas_audio.schema import (
    ASR_PROMPT,
    HOLISTIC_PROMPT,
    ONTOLOGY,
    mcq_prompt,
    targeted_prompt,
    validate,
)
from uas_audio.schema.prompts import OPTION_LETTERS

from .grammar import (
    Grammar,
    GrammarLimits,
    choice_grammar_spec,
    expand_fields,
    max_output_bytes,
    subset_grammar_spec,
    uas_grammar_spec,
)
from .merge import OVERLAP_S, WINDOW_S, drop_repeated_labels, join_transcriptions, merge_records, plan_windows

TASK = "audio-to-uas"
SAMPLING_RATE = 16_000
_GENERATION_KEYS = frozenset(k for k in vars(GenerationConfig()) if not k.startswith("_")) | {"generation_config"}
# Default new-token budgets of the free-form modes (constrained UAS modes default to the grammar's bound).
_QUESTION_TOKENS = 256
_TRANSCRIBE_TOKENS = 448
_FREE_CHOICE_TOKENS = 32


@dataclass(frozen=True)
class _Request:
    """What one call asks for, resolved once from the call's arguments."""

    mode: str  # "holistic" | "targeted" | "question" | "choice" | "transcribe"
    prompt: str
    grammar: Grammar | None  # the grammar of a window without a known duration (choice mode: the only one)
    default_max_new_tokens: int
    fields: tuple[str, ...] = ()
    limits: GrammarLimits | None = None
    choices: tuple[str, ...] = ()
    constrained: bool = True
    window_s: float = WINDOW_S
    overlap_s: float = OVERLAP_S


def _resolve_request(fields=None, question=None, choices=None, task=None, constrained=True, limits=None,
                     window_s=WINDOW_S, overlap_s=OVERLAP_S) -> _Request:
    limits = limits if limits is not None else GrammarLimits()
    if not isinstance(limits, GrammarLimits):
        limits = GrammarLimits(**dict(limits))
    common = {"constrained": bool(constrained), "window_s": float(window_s), "overlap_s": float(overlap_s)}
    chosen = [name for name, value in (("fields", fields), ("question", question), ("task", task)) if value]
    if len(chosen) > 1:
        raise ValueError(f"audio-to-uas: pass one of fields=, question=, task=, not {' and '.join(chosen)}")
    if choices is not None and not question:
        raise ValueError("audio-to-uas: choices= needs the question= they answer")
    if task not in (None, "transcribe"):
        raise ValueError(f"audio-to-uas: unknown task {task!r}; the only task is 'transcribe'")
    if task == "transcribe":
        return _Request("transcribe", ASR_PROMPT, None, _TRANSCRIBE_TOKENS, **common)
    if question and choices is not None:
        options = tuple(str(c) for c in choices)
        prompt = mcq_prompt(question, options)  # validates the number of options
        grammar = choice_grammar_spec(len(options)) if constrained else None
        budget = 2 if constrained else _FREE_CHOICE_TOKENS
        return _Request("choice", prompt, grammar, budget, choices=options, **common)
    if question:
        return _Request("question", str(question), None, _QUESTION_TOKENS, **common)
    if fields:
        paths = tuple(expand_fields(fields))
        grammar = subset_grammar_spec(paths, limits) if constrained else None
        return _Request("targeted", targeted_prompt(paths), grammar, max_output_bytes(paths, limits) + 1, fields=paths,
                        limits=limits, **common)
    grammar = uas_grammar_spec(limits) if constrained else None
    return _Request("holistic", HOLISTIC_PROMPT, grammar, max_output_bytes(None, limits) + 1, limits=limits,
                    **common)


def _window_grammar(request: _Request, window: dict) -> tuple[Grammar | None, int]:
    """The grammar of one window (its limits scaled to the window's share of the clip) and its default budget."""
    if request.grammar is None or request.limits is None or "share" not in window:
        return request.grammar, request.default_max_new_tokens
    limits = request.limits.for_duration(window["effective_s"], window["share"])
    fields = request.fields or None
    spec = subset_grammar_spec(fields, limits) if fields else uas_grammar_spec(limits)
    return spec, max_output_bytes(fields, limits) + 1


def _source_name(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, Mapping):
        return str(source.get("path") or "<audio dict>")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<bytes, {len(source)} bytes>"
    return f"<{type(source).__name__}>"


class AudioToUASPipeline(ChunkPipeline):
    """Audio → UAS record, targeted fields, a multiple-choice letter, a free answer, or a transcription.

    ``pipe(audio, fields=None, question=None, choices=None, task=None, constrained=True, limits=None,
    window_s=30.0, overlap_s=5.0, batch_size=1, generate_kwargs=None, **generation_parameters)``; see the
    module docstring for modes, inputs and outputs. Generation parameters (``max_new_tokens``, ``do_sample``,
    ``temperature``, ``top_p``, …) pass through to ``model.generate``, directly or as ``generate_kwargs=``.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False
    _pipeline_calls_generate = True

    # ------------------------------------------------------------------------------------------- parameters

    def _sanitize_parameters(self, fields=None, question=None, choices=None, task=None, constrained=None,
                             limits=None, window_s=None, overlap_s=None, generate_kwargs=None, _on_error=None,
                             **generation_params):
        unknown = set(generation_params) - _GENERATION_KEYS
        if unknown:
            raise TypeError(f"audio-to-uas: unexpected argument(s) {sorted(unknown)}")
        request_args = {k: v for k, v in (("fields", fields), ("question", question), ("choices", choices),
                                          ("task", task), ("constrained", constrained), ("limits", limits),
                                          ("window_s", window_s), ("overlap_s", overlap_s)) if v is not None}
        if not hasattr(self, "_init_request_args"):  # the first call comes from __init__
            self._init_request_args = request_args
        request = _resolve_request(**{**self._init_request_args, **request_args})
        preprocess, forward, postprocess = {"request": request}, {"request": request}, {"request": request}
        if _on_error is not None:
            preprocess["on_error"] = _on_error
        gen = {**(generate_kwargs or {}), **generation_params}
        if gen:
            forward["generate_kwargs"] = gen
        return preprocess, forward, postprocess

    def __call__(self, inputs, **kwargs):
        """Run on one input (returns one result) or many (a list for a list, an iterator otherwise)."""
        try:
            import datasets

            if isinstance(inputs, (datasets.Dataset, datasets.IterableDataset)):
                inputs = (row for row in inputs)
        except ImportError:  # datasets is optional at inference time
            pass
        many = isinstance(inputs, (list, types.GeneratorType, torch.utils.data.Dataset))
        if isinstance(inputs, list) and not inputs:
            return []
        kwargs.setdefault("_on_error", "record" if many else "raise")
        if not many:
            inputs = [inputs]
            return next(iter(super().__call__(inputs, **kwargs)))
        return super().__call__(inputs, **kwargs)

    # ------------------------------------------------------------------------------------------- preprocess

    def preprocess(self, inputs, request: _Request | None = None, on_error: str = "raise") -> Iterator[dict]:
        request = request or _resolve_request()
        meta: dict[str, Any] = {}
        source = inputs
        if isinstance(inputs, Mapping) and "audio" in inputs and not {"array", "bytes"} & set(inputs):
            source = inputs["audio"]
            if "id" in inputs:
                meta["id"] = inputs["id"]
        meta["source"] = _source_name(source)
        try:
            if isinstance(source, np.ndarray) or torch.is_tensor(source):
                raise TypeError(f"{meta['source']}: a bare array needs its rate: pass (array, sampling_rate) or "
                                '{"array": ..., "sampling_rate": ...}')
            audio = load_audio(source, sampling_rate=SAMPLING_RATE)
        except (AudioDecodeError, TypeError, ValueError) as err:
            if on_error == "raise":
                raise
            yield {"model_inputs": None, "meta": {**meta, "error": str(err)}, "is_last": True}
            return
        windows = plan_windows(len(audio), SAMPLING_RATE, request.window_s, request.overlap_s)
        meta["duration_s"] = len(audio) / SAMPLING_RATE
        for index, (start, end) in enumerate(windows):
            # The part of the clip this window alone covers (up to the next window's start): the windows' parts
            # add up to the clip, so per-window limits scaled by them keep the merged record within the clip's.
            own = (windows[index + 1][0] if index + 1 < len(windows) else end) - start
            conversation = [{"role": "user", "content": [{"type": "audio", "audio": audio[start:end]},
                                                         {"type": "text", "text": request.prompt}]}]
            model_inputs = self.processor.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
            window = {"start_s": start / SAMPLING_RATE, "end_s": end / SAMPLING_RATE}
            scale = {"effective_s": own / SAMPLING_RATE, "share": own / len(audio)}
            yield {"model_inputs": dict(model_inputs), "meta": {**meta, "window": window, "scale": scale},
                   "is_last": index == len(windows) - 1}

    # ---------------------------------------------------------------------------------------------- batching

    def get_iterator(self, inputs, num_workers, batch_size, preprocess_params, forward_params, postprocess_params):
        """Windows of consecutive clips are batched together (``batch_size`` windows per ``generate``) and
        regrouped per clip for ``postprocess``. Decoding runs in the calling process (``num_workers`` unused)."""

        def windows() -> Iterator[dict]:
            for item in _iterate(inputs):
                yield from self.preprocess(item, **preprocess_params)

        def results() -> Iterator[dict]:
            pending: list[dict] = []
            batch: list[dict] = []
            for window in windows():
                batch.append(window)
                if len(batch) == batch_size:
                    yield from _flush(batch, pending)
                    batch = []
            if batch:
                yield from _flush(batch, pending)

        def _flush(batch: list[dict], pending: list[dict]) -> Iterator[dict]:
            for output in self.forward(batch, **forward_params):
                pending.append(output)
                if output["is_last"]:
                    yield self.postprocess(list(pending), **postprocess_params)
                    pending.clear()

        return results()

    def _collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        """Left-pad token ids (generation appends on the right) and right-pad log-mel features and their mask."""
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        feature_pad = float(getattr(self.feature_extractor, "padding_value", 0.0) or 0.0)
        length = max(it["input_ids"].shape[-1] for it in items)
        batch: dict[str, torch.Tensor] = {
            "input_ids": torch.full((len(items), length), pad_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(items), length), dtype=torch.long),
        }
        for row, it in enumerate(items):
            n = it["input_ids"].shape[-1]
            batch["input_ids"][row, length - n:] = it["input_ids"][0]
            batch["attention_mask"][row, length - n:] = it["attention_mask"][0]
        if "input_features" in items[0]:
            frames = max(it["input_features"].shape[-1] for it in items)
            mels = items[0]["input_features"].shape[1]
            batch["input_features"] = torch.full((len(items), mels, frames), feature_pad,
                                                 dtype=items[0]["input_features"].dtype)
            batch["input_features_mask"] = torch.zeros((len(items), frames), dtype=torch.long)
            for row, it in enumerate(items):
                t = it["input_features"].shape[-1]
                batch["input_features"][row, :, :t] = it["input_features"][0]
                batch["input_features_mask"][row, :t] = it["input_features_mask"][0]
        return batch

    # ----------------------------------------------------------------------------------------------- forward

    def _forward(self, batch: list[dict], request: _Request | None = None, generate_kwargs: dict | None = None):
        request = request or _resolve_request()
        rows = [i for i, item in enumerate(batch) if item["model_inputs"] is not None]
        texts: dict[int, str] = {}
        if rows:
            inputs = self._collate([batch[i]["model_inputs"] for i in rows])
            specs = [_window_grammar(request, {**batch[i]["meta"]["window"], **batch[i]["meta"].get("scale", {})})
                     for i in rows]
            user = dict(generate_kwargs or {})
            set_by_user = {**self._generate_kwargs, **user}
            overrides: dict[str, Any] = {}
            if "max_new_tokens" not in set_by_user and "max_length" not in set_by_user:
                overrides["max_new_tokens"] = max(budget for _, budget in specs)
            gen = self._prepare_generate_kwargs(user, **overrides)
            processors = list(gen.pop("logits_processor", None) or [])
            code_tokens = _audio_code_ids(self.model)
            table = None
            if request.grammar is not None:
                # Imported here: xgrammar takes seconds to import and only constrained calls need it.
                from .constrained import (
                    BudgetedGrammarProcessor,
                    TimbreGenderGuard,
                    check_budget,
                    check_generate_kwargs,
                    model_vocab_size,
                    stop_token_ids,
                    token_table,
                )

                check_generate_kwargs(gen)
                table = token_table(self.tokenizer, model_vocab_size(self.model), stop_token_ids(self.model,
                                                                                                 self.tokenizer))
                budget = _new_token_budget(gen, self.model, inputs["input_ids"].shape[1])
                grammars = [spec for spec, _ in specs]
                for grammar in grammars:
                    check_budget(grammar, table, budget)
                # Every special and added token (audio codes included) is outside the grammar's vocabulary.
                guard = TimbreGenderGuard(table) if request.mode in ("holistic", "targeted") else None
                processors.append(BudgetedGrammarProcessor(
                    table, grammars, max_new_tokens=budget, guard=guard,
                    candidates=4 if _generation_value(gen, self.model, "do_sample") else 1))
            elif code_tokens:
                # Answers are text: a model with audio codes (speech head, discrete input) never writes them here.
                processors.append(SuppressTokensLogitsProcessor(code_tokens, device=self.device))
            sequences = self.model.generate(**inputs, **gen, logits_processor=processors)
            new_tokens = sequences[:, inputs["input_ids"].shape[1]:]
            for row, tokens in zip(rows, new_tokens):
                # A constrained output is decoded from the grammar's own view of the tokens: the exact text it
                # accepted (tokenizer.decode would add WordPiece spaces or clean up spacing).
                texts[row] = table.decode(tokens.tolist()) if table is not None else \
                    self.tokenizer.decode(tokens, skip_special_tokens=True)
        return [{"meta": item["meta"], "text": texts.get(i), "is_last": item["is_last"]}
                for i, item in enumerate(batch)]

    def forward(self, model_inputs, **forward_params):
        with self.device_placement(), torch.no_grad():
            model_inputs = self._ensure_tensor_on_device(model_inputs, device=self.device)
            return self._forward(model_inputs, **forward_params)

    # ------------------------------------------------------------------------------------------- postprocess

    def postprocess(self, outputs: list[dict], request: _Request | None = None) -> dict:
        request = request or _resolve_request()
        meta = outputs[0]["meta"]
        if "error" in meta:
            return {k: meta[k] for k in ("error", "source", "id") if k in meta}
        texts = [o["text"] for o in outputs]
        windows = [{**o["meta"]["window"], "text": o["text"]} for o in outputs]
        durations = [w["end_s"] - w["start_s"] for w in windows]
        result: dict[str, Any] = {}
        if "id" in meta:
            result["id"] = meta["id"]
        raw = "\n".join(texts)
        if request.mode == "transcribe":
            result.update(text=raw, transcription=join_transcriptions([t.strip() for t in texts if t.strip()]))
        elif request.mode == "question":
            result.update(answer=raw.strip(), text=raw)
        elif request.mode == "choice":
            letters = [_option_letter(t, len(request.choices)) for t in texts]
            found = [letter for letter in letters if letter is not None]
            letter = Counter(found).most_common(1)[0][0] if found else None
            choice = request.choices[OPTION_LETTERS.index(letter)] if letter else None
            result.update(answer=letter, choice=choice, text=raw)
        else:
            records = [_parse_object(t) for t in texts]
            record = merge_records(records, durations)
            if request.mode == "holistic":
                check = validate(record if record is not None else raw, duration_s=meta["duration_s"])
                reasons = check.reasons
            else:
                check = validate(record if record is not None else raw)
                reasons = [r for r in check.reasons if r.code == ONTOLOGY and _concerns(r.field, request.fields)]
            result.update(uas=record, text=raw, valid=not reasons,
                          reasons=[{"code": r.code, "field": r.field, "message": r.message} for r in reasons])
        result["windows"] = windows
        return result

    # -------------------------------------------------------------------------------------------- export

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """Save model, processor and this pipeline's code so that, where ``uas_audio`` is not installed,
        ``pipeline("audio-to-uas", model=save_directory, trust_remote_code=True)`` rebuilds the pipeline."""
        from .export import save_pipeline

        save_pipeline(self, save_directory, **kwargs)


def _generation_value(gen: dict, model, name: str) -> Any:
    """A generation parameter as ``generate`` will see it: passed, in the passed config, or the model's default."""
    if gen.get(name) is not None:
        return gen[name]
    for config in (gen.get("generation_config"), getattr(model, "generation_config", None)):
        if getattr(config, name, None) is not None:
            return getattr(config, name)
    return None


def _new_token_budget(gen: dict, model, prompt_length: int) -> int:
    """The new tokens ``generate`` will allow: ``max_new_tokens``, or ``max_length`` less the prompt."""
    if "max_length" in gen and "max_new_tokens" not in gen:
        return int(gen["max_length"]) - prompt_length
    max_new = _generation_value(gen, model, "max_new_tokens")
    if max_new is not None:
        return int(max_new)
    max_length = _generation_value(gen, model, "max_length")
    if max_length is None:
        raise ValueError("audio-to-uas: constrained decoding needs max_new_tokens or max_length")
    return int(max_length) - prompt_length


def _audio_code_ids(model) -> list[int]:
    """Token ids of the model's audio codes ``<|code_i|>`` (empty when it has none)."""
    config = model.config
    start, count = getattr(config, "audio_code_start", None), int(getattr(config, "num_audio_codes", 0) or 0)
    return list(range(start, start + count)) if start is not None and count else []


def _iterate(inputs: Any) -> Iterable:
    """Items of a list, generator, or index-addressable dataset (``KeyDataset``)."""
    if isinstance(inputs, torch.utils.data.Dataset) and hasattr(inputs, "__len__"):
        return (inputs[i] for i in range(len(inputs)))
    return inputs


def _parse_object(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return drop_repeated_labels(value) if isinstance(value, dict) else None


def _concerns(reason_field: str, fields: tuple[str, ...]) -> bool:
    return any(reason_field == f or reason_field.startswith(f + ".") or f.startswith(reason_field + ".")
               for f in fields) or reason_field == ""


def _option_letter(text: str, num_options: int) -> str | None:
    """The option letter a (possibly unconstrained) answer starts with, if it is one of the options."""
    stripped = text.strip()
    if stripped and stripped[0] in OPTION_LETTERS[:num_options]:
        return stripped[0]
    return None
