"""Task builders: UAS datasets (columns ``id``, ``audio``, ``uas``, ``transcript``, …) → conversational training rows.

Every builder returns a ``datasets.Dataset`` with the columns of ``training_features()``: ``id``, ``task`` and
``messages`` (a user turn with an audio part and the task prompt, then the assistant's answer), the same message
layout as UAS-QA rows, so every task and UAS-QA interleave into one stage-3 mixture.

Tasks (UAS-SPEC §1 prompts, defined once in ``uas_audio.schema.prompts``):
- ``asr``: ASR prompt → the transcript (rows without speech are left out);
- ``uas``: holistic prompt → the compact UAS JSON;
- ``targeted``: targeted prompt naming a few fields ("Identify the speaker's gender and emotion in a concise
  format.") → the compact UAS JSON of those fields only, the form ``pipeline("audio-to-uas", fields=[...])``
  asks for (UAS-SPEC §4); the same records as ``uas``, a few field subsets each;
- ``fields``: the targeted form with one voice or event field per row, one row per record and field (the rows that
  taught the embedded tiny model to hear: docs/training.md);
- ``caption``: caption prompt → one unstructured sentence from the description and speaker traits (the ablation
  that replaces UAS with free text);
- ``tts``: TTS prompt with the transcript → ``<|speech_bos|>`` + code tokens + ``<|speech_eos|>``, text-only rows
  (the codes come from a speech tokenizer);
- ``qa``: UAS-QA rows passed through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..schema import (
    ASR_PROMPT,
    CAPTION_PROMPT,
    EVENT_KEYS,
    FIELD_PATHS,
    HOLISTIC_PROMPT,
    NON_LINGUISTIC_EVENTS,
    PARALINGUISTICS,
    TRANSCRIPTION,
    UAS,
    targeted_prompt,
    tts_prompt,
)

ASR, UAS_JSON, CAPTION, TTS, QA, TARGETED, FIELDS = "asr", "uas", "caption", "tts", "qa", "targeted", "fields"
TASKS: tuple[str, ...] = (ASR, UAS_JSON, CAPTION, TTS, QA, TARGETED, FIELDS)
#: How ``interleave_datasets`` ends the mixture: every task is seen at least once ("all_exhausted" repeats the
#: smaller tasks until the largest one has been fully seen, so no row of any task is dropped; "first_exhausted"
#: stops at the first exhausted task and drops the rest of the others).
MIXTURE_STOPPING_STRATEGY = "all_exhausted"

_DESCRIPTION = EVENT_KEYS[0]


def training_features():
    """``datasets.Features`` of a training row: the UAS-QA message layout plus the task name."""
    from datasets import Features, List, Value

    part = {"type": Value("string"), "audio": {"bytes": Value("binary"), "path": Value("string")},
            "text": Value("string")}
    return Features({
        "id": Value("string"),
        "task": Value("string"),
        "messages": List({"role": Value("string"), "content": List(part)}),
    })


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "audio": None, "text": text}


def _audio_part(audio: Any, source: str) -> dict[str, Any]:
    if not isinstance(audio, Mapping) or (audio.get("bytes") is None and audio.get("path") is None):
        raise ValueError(f"{source}: the audio column must hold {{'bytes', 'path'}} (Audio(decode=False)), got {audio!r}")
    return {"type": "audio", "audio": {"bytes": audio.get("bytes"), "path": audio.get("path")}, "text": None}


def _conversation(user: list[dict], answer: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": [_text(answer)]}]


def _require(ds, columns: Sequence[str], task: str) -> None:
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise ValueError(f"{task} task: the dataset lacks column(s) {missing} (has {ds.column_names})")


def _rows_to_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows, features=training_features())


def _accepted(ds):
    """Annotation outputs carry a ``status`` column: only accepted records are training targets."""
    if "status" in ds.column_names:
        return ds.filter(lambda s: s == "accepted", input_columns="status")
    return ds


def _transcript(row: Mapping[str, Any]) -> str | None:
    text = row.get("transcript")
    if text is None and row.get("uas") is not None:
        text = row["uas"].get(TRANSCRIPTION)
    return text if isinstance(text, str) and text.strip() else None


def compact_uas_json(uas: Mapping[str, Any] | UAS) -> str:
    """The UAS record as compact JSON (no spaces, camelCase keys), validated against the schema first."""
    record = uas if isinstance(uas, UAS) else UAS.model_validate(dict(uas))
    return record.to_json()


def asr_rows(ds, encode: Callable[[np.ndarray], Sequence[int]] | None = None, sampling_rate: int = 16_000):
    """ASR rows: audio + ASR prompt → transcript; clips without speech are left out.

    With ``encode`` (a speech tokenizer: waveform → code indices) the audio enters as code tokens written in the
    user turn (``<|audio_bos|><|code_i|>…<|audio_eos|>``, text-only rows), as stage 1 needs: there the new code
    rows of the input embeddings learn from ASR while TTS trains the new rows of the LM head.
    """
    ds = _accepted(ds)
    _require(ds, ["id", "audio"], ASR)
    rows = []
    for row in ds:
        text = _transcript(row)
        if text is None:
            continue
        if encode is None:
            audio = _audio_part(row["audio"], f"row {row['id']}")
        else:
            from ..audio import load_audio

            audio = _text(audio_code_text(encode(load_audio(row["audio"], sampling_rate=sampling_rate))))
        user = [audio, _text(ASR_PROMPT)]
        rows.append({"id": f"{row['id']}/asr", "task": ASR, "messages": _conversation(user, text)})
    return _rows_to_dataset(rows)


def _record_rows(ds, task: str, suffix: str, prompt: str, target: Callable[[Mapping[str, Any]], str]):
    """Rows of accepted records: the clip + ``prompt`` → ``target(uas)``, ids ``<clip id>/<suffix>``."""
    ds = _accepted(ds)
    _require(ds, ["id", "audio", "uas"], task)
    rows = []
    for row in ds:
        user = [_audio_part(row["audio"], f"row {row['id']}"), _text(prompt)]
        rows.append({"id": f"{row['id']}/{suffix}", "task": task,
                     "messages": _conversation(user, target(row["uas"]))})
    return _rows_to_dataset(rows)


def uas_rows(ds):
    """Holistic rows: audio + holistic prompt → the compact UAS JSON of the record."""
    return _record_rows(ds, UAS_JSON, "uas", HOLISTIC_PROMPT, compact_uas_json)


def targeted_json(uas: Mapping[str, Any] | UAS, paths: Sequence[str]) -> str:
    """The compact UAS JSON of ``paths`` only, keys in schema order: ``{"paralinguistics":{"gender":"Male"}}``."""
    import json

    record = json.loads(compact_uas_json(uas))
    out: dict[str, Any] = {}
    for path in FIELD_PATHS:
        if path not in paths:
            continue
        head, _, key = path.partition(".")
        if key:
            out.setdefault(head, {})[key] = record[head][key]
        else:
            out[head] = record[head]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


#: Fields a targeted row may ask for: every leaf but the free-text scene description.
TARGETED_PATHS: tuple[str, ...] = tuple(p for p in FIELD_PATHS if p != f"{NON_LINGUISTIC_EVENTS}.{EVENT_KEYS[0]}")


def _targeted_row(row: Mapping[str, Any], paths: Sequence[str], suffix: str, task: str) -> dict[str, Any]:
    """One targeted row of a record: its audio + the targeted prompt of ``paths`` → the JSON of those fields."""
    user = [_audio_part(row["audio"], f"row {row['id']}"), _text(targeted_prompt(paths))]
    return {"id": f"{row['id']}/{suffix}", "task": task,
            "messages": _conversation(user, targeted_json(row["uas"], paths))}


def targeted_rows(ds, per_record: int = 3, max_fields: int = 3, seed: int = 0):
    """Targeted rows: ``per_record`` rows per accepted record, each asking for 1..``max_fields`` fields drawn
    (seeded) from :data:`TARGETED_PATHS` → the compact JSON of those fields only (:func:`targeted_json`); ids
    ``<clip id>/targeted-<k>``. Fields the record leaves null (no speech) are asked and answered ``null``."""
    import random

    if per_record < 1 or not 1 <= max_fields <= len(TARGETED_PATHS):
        raise ValueError(f"targeted rows: per_record must be >= 1 and max_fields in 1..{len(TARGETED_PATHS)}, got "
                         f"{per_record} and {max_fields}")
    ds = _accepted(ds)
    _require(ds, ["id", "audio", "uas"], TARGETED)
    rng = random.Random(seed)
    rows = []
    for row in ds:
        for k in range(per_record):
            chosen = set(rng.sample(TARGETED_PATHS, rng.randint(1, max_fields)))
            rows.append(_targeted_row(row, [p for p in FIELD_PATHS if p in chosen], f"targeted-{k}", TARGETED))
    return _rows_to_dataset(rows)


#: What a ``fields`` row asks for: the fields a listener hears (voice and sound events), not the transcript.
PERCEPTION_PATHS: tuple[str, ...] = tuple(p for p in TARGETED_PATHS if p != TRANSCRIPTION)


def field_rows(ds, paths: Sequence[str] = PERCEPTION_PATHS):
    """One targeted row per accepted record and field of ``paths``: the targeted prompt for that one field → its
    compact JSON (:func:`targeted_json`); ids ``<clip id>/field-<path>``. A record without speech is asked only
    its event fields (its voice fields are null by the schema: nothing to hear). Every row teaches one value
    heard in the clip, so each field gets as many rows as there are records, whatever the number of fields."""
    unknown = sorted(set(paths) - set(TARGETED_PATHS))
    if unknown or not paths:
        raise ValueError(f"fields rows: paths must be a non-empty subset of {TARGETED_PATHS}, got {list(paths)}")
    ds = _accepted(ds)
    _require(ds, ["id", "audio", "uas"], FIELDS)
    ordered = [p for p in FIELD_PATHS if p in set(paths)]
    rows = []
    for row in ds:
        speech = row["uas"].get(TRANSCRIPTION) is not None
        for path in ordered:
            if not speech and path.startswith(PARALINGUISTICS):
                continue
            rows.append(_targeted_row(row, [path], f"field-{path}", FIELDS))
    return _rows_to_dataset(rows)


def caption_text(uas: Mapping[str, Any]) -> str:
    """An unstructured caption: the scene description, then the speaker traits in one sentence (no JSON)."""
    record = UAS.model_validate(dict(uas)).to_dict()
    description = (record[NON_LINGUISTIC_EVENTS][_DESCRIPTION] or "").strip()
    traits = record[PARALINGUISTICS]
    sentences = [description.rstrip(".") + "."] if description else []
    if traits["gender"] or traits["age"]:
        who = " ".join(x.lower() for x in (traits["age"], traits["gender"]) if x)
        details = [f"sounding {traits['emotion'].lower()}" if traits["emotion"] else None,
                   f"with a {traits['accent']} accent" if traits["accent"] else None,
                   f"a {traits['timbre']} voice" if traits["timbre"] else None,
                   f"{traits['prosody']} delivery" if traits["prosody"] else None]
        details = [d for d in details if d]
        sentences.append(f"The speaker is {_article(who)} {who}" + (", " + ", ".join(details) if details else "") + ".")
    if not sentences:
        raise ValueError("caption: the UAS record has neither a description nor speaker traits")
    return " ".join(sentences)


def _article(words: str) -> str:
    return "an" if words[:1] in "aeiou" else "a"


def caption_rows(ds):
    """Caption rows (ablation): audio + caption prompt → ``caption_text(uas)``."""
    return _record_rows(ds, CAPTION, "caption", CAPTION_PROMPT, caption_text)


def speech_target(codes: Sequence[int]) -> str:
    """The assistant text of a TTS row: ``<|speech_bos|>`` + one ``<|code_i|>`` per code + ``<|speech_eos|>``."""
    from ..processing.chatml import SPEECH_BOS, SPEECH_EOS
    from ..processing.processing_uas_audio import audio_code_token

    if len(codes) == 0:
        raise ValueError("TTS target: the speech tokenizer returned no codes")
    return SPEECH_BOS + "".join(audio_code_token(int(c)) for c in codes) + SPEECH_EOS


def audio_code_text(codes: Sequence[int]) -> str:
    """Audio written as code tokens for the input side: ``<|audio_bos|>`` + ``<|code_i|>``… + ``<|audio_eos|>``."""
    from ..processing.chatml import AUDIO_BOS, AUDIO_EOS
    from ..processing.processing_uas_audio import audio_code_token

    if len(codes) == 0:
        raise ValueError("ASR input: the speech tokenizer returned no codes")
    return AUDIO_BOS + "".join(audio_code_token(int(c)) for c in codes) + AUDIO_EOS


def tts_rows(ds, encode: Callable[[np.ndarray], Sequence[int]], sampling_rate: int = 16_000):
    """TTS rows (text only): TTS prompt with the transcript → speech-code tokens of the clip.

    ``encode`` maps a 16 kHz mono waveform to code indices, e.g. ``UASSpeechTokenizer.encode_for_processor``.
    """
    from ..audio import load_audio

    ds = _accepted(ds)
    _require(ds, ["id", "audio"], TTS)
    rows = []
    for row in ds:
        text = _transcript(row)
        if text is None:
            continue
        wav = load_audio(row["audio"], sampling_rate=sampling_rate)
        rows.append({"id": f"{row['id']}/tts", "task": TTS,
                     "messages": _conversation([_text(tts_prompt(text))], speech_target(encode(wav)))})
    return _rows_to_dataset(rows)


def qa_rows(ds):
    """UAS-QA rows (``uas_audio.qa`` output) passed through as training rows."""
    _require(ds, ["id", "messages"], QA)
    ds = ds.select_columns(["id", "messages"])
    ds = ds.add_column("task", [QA] * len(ds))
    return ds.cast(training_features())


def prompt_rows(ds):
    """GRPO prompts from conversational rows (UAS-QA): ``prompt`` is the conversation without its final assistant
    turn; the other columns (answer, choices, ...) stay for the rewards."""
    _require(ds, ["messages"], "prompts")

    def to_prompt(messages):
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError("prompts: a row's conversation does not end with an assistant turn")
        return {"prompt": messages[:-1]}

    return ds.map(to_prompt, input_columns="messages", remove_columns=["messages"])


def holistic_prompt_rows(ds):
    """GRPO prompts asking for the holistic UAS JSON, with the reference ``uas`` (and ``transcript``) columns."""
    ds = _accepted(ds)
    _require(ds, ["id", "audio", "uas"], "holistic prompts")
    rows = [{"id": f"{row['id']}/uas", "prompt": [{"role": "user", "content": [
        _audio_part(row["audio"], f"row {row['id']}"), _text(HOLISTIC_PROMPT)]}],
        "uas": row["uas"], "transcript": _transcript(row)} for row in ds]
    from datasets import Dataset

    return Dataset.from_list(rows)


def build_task(task: str, ds, encode: Callable[[np.ndarray], Sequence[int]] | None = None,
               asr_audio_as_codes: bool = False):
    """Rows of one task from a UAS dataset (or, for ``qa``, a UAS-QA dataset). ``encode`` is the speech tokenizer
    for TTS targets (and for ASR inputs with ``asr_audio_as_codes``)."""
    if task == ASR and asr_audio_as_codes:
        if encode is None:
            raise ValueError("asr task with audio as codes: needs a speech tokenizer (encode=waveform -> codes)")
        return asr_rows(ds, encode=encode)
    if task == TTS:
        if encode is None:
            raise ValueError("tts task: needs a speech tokenizer (encode=waveform -> codes)")
        return tts_rows(ds, encode)
    builders = {ASR: asr_rows, UAS_JSON: uas_rows, CAPTION: caption_rows, QA: qa_rows, TARGETED: targeted_rows,
                FIELDS: field_rows}
    if task not in builders:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    return builders[task](ds)


def mixture(tasks: Mapping[str, Any], ratios: Mapping[str, float], seed: int = 0,
            stopping_strategy: str = MIXTURE_STOPPING_STRATEGY):
    """Interleave per-task datasets with sampling probabilities ``ratios`` (normalised; tasks with ratio 0 or no
    rows are left out) through ``datasets.interleave_datasets``, seeded so the same inputs give the same order."""
    from datasets import interleave_datasets

    unknown = sorted(set(ratios) - set(TASKS))
    if unknown:
        raise ValueError(f"mixture: unknown task(s) {unknown}; choose from {TASKS}")
    if any(r < 0 for r in ratios.values()):
        raise ValueError(f"mixture: ratios must be >= 0, got {dict(ratios)}")
    chosen = [t for t, r in ratios.items() if r > 0 and t in tasks and len(tasks[t]) > 0]
    missing = [t for t, r in ratios.items() if r > 0 and (t not in tasks or len(tasks[t]) == 0)]
    if missing:
        raise ValueError(f"mixture: task(s) {missing} have a ratio but no rows; give their data or set the ratio to 0")
    if not chosen:
        raise ValueError("mixture: no task has a positive ratio")
    total = sum(ratios[t] for t in chosen)
    return interleave_datasets([tasks[t] for t in chosen], probabilities=[ratios[t] / total for t in chosen],
                               seed=seed, stopping_strategy=stopping_strategy)


__all__ = [
    "TASKS", "ASR", "UAS_JSON", "CAPTION", "TTS", "QA", "TARGETED", "TARGETED_PATHS", "MIXTURE_STOPPING_STRATEGY",
    "training_features", "compact_uas_json", "caption_text", "speech_target", "audio_code_text",
    "asr_rows", "uas_rows", "targeted_rows", "field_rows", "FIELDS", "PERCEPTION_PATHS", "targeted_json", "caption_rows", "tts_rows", "qa_rows", "build_task",
    "mixture",
    "prompt_rows", "holistic_prompt_rows",
]
