"""Held-out perception questions from ground-truth UAS records, answered by option likelihood, and their scores.

Items are the UAS-QA multiple-choice and yes/no questions of held-out clips (plus a two-option gender question
per speech clip: the QA generator asks gender only as yes/no). A model picks the option it finds most likely
through one of two readouts:

- ``qa``: the answer text of the UAS-QA format ("B. option", or the yes/no word) after the item's question;
- ``uas``: the option as the value of the probed field in the model's own UAS JSON, after the targeted prompt
  for that field (``schema.targeted_prompt``), in the targeted form ``{"paralinguistics":{"gender":"<option>"}}``
  (only that field, as ``pipeline("audio-to-uas", fields=[...])`` asks for it, so no other reference value is
  in the context); the value's tokens and the token holding its closing quote are scored. Multiple choice only.

Ranking options instead of sampling measures what a model prefers even when a tiny model does not yet write a
well-formed answer, and the same items and the same accuracy serve models trained on either format.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from ..schema import EVENT_KEYS, GENDERS, NON_LINGUISTIC_EVENTS, PARALINGUISTICS, TRANSCRIPTION, targeted_prompt
from ..schema import get_field, mcq_prompt
from .benchmarks import EvalItem

#: Which UAS fields a held-out question probes: perception (what the voice and the scene sound like) ...
PERCEPTION_FIELDS: dict[str, str] = {
    **{f"{PARALINGUISTICS}.{k}": k for k in ("gender", "age", "emotion", "accent", "prosody", "timbre")},
    f"{NON_LINGUISTIC_EVENTS}.{EVENT_KEYS[1]}": "events", f"{NON_LINGUISTIC_EVENTS}.{EVENT_KEYS[2]}": "events",
}
#: ... or content (what is said: which sentence is spoken). One name, "content", for these questions everywhere.
CONTENT_FIELDS: dict[str, str] = {TRANSCRIPTION: "content"}
GROUPS: tuple[str, ...] = ("perception", "content")
READOUTS: tuple[str, ...] = ("qa", "uas")
BENCH = "synthetic-perception"
_LETTERS = "ABCDEFGH"
_GENDER_STEM = "What is the speaker's gender?"


def perception_items(ds, seed: int = 0, kinds: Sequence[str] = ("mc", "yesno")) -> list[EvalItem]:
    """Held-out items from ground-truth UAS records (columns ``id``, ``uas``, ``audio``).

    Each ``EvalItem`` has categories ``group`` (perception or content), ``field`` (gender, age, emotion, accent,
    prosody, timbre, events, content), ``kind`` (mc or yesno) and ``path`` (the dotted UAS field);
    ``question`` is the exact user text of the UAS-QA format (for multiple choice: the stem and lettered
    options). ``kinds`` picks the question kinds; with ``mc``, every speech clip also gets a two-option gender
    question (its correct letter alternates, starting from a seeded letter)."""
    from ..qa import MULTIPLE_CHOICE, YES_NO, QAGenerator

    unknown = sorted(set(kinds) - {MULTIPLE_CHOICE, YES_NO})
    if unknown or not kinds:
        raise ValueError(f"perception_items: kinds must be a non-empty subset of ('mc', 'yesno'), got {kinds!r}")
    rows = [{"id": r["id"], "uas": r["uas"], "audio": r["audio"]} for r in ds.select_columns(["id", "uas", "audio"])]
    qa_rows, _ = QAGenerator(tuple(kinds), seed=seed).generate(rows)
    audio = {r["id"]: r["audio"]["bytes"] for r in rows}
    items = []
    for row in qa_rows:
        group = _group(row["field"])
        if group is None:
            continue  # the free-text scene description probes everything at once: neither group
        question = next(p["text"] for p in row["messages"][0]["content"] if p["type"] == "text")
        if row["kind"] == MULTIPLE_CHOICE:
            choices = list(row["choices"])
            answer = choices[_LETTERS.index(row["answer"])]
        else:
            choices, answer = ["Yes", "No"], row["answer"]
        items.append(EvalItem(id=row["id"], bench=BENCH, question=question, choices=choices, answer=answer,
                              audio=audio[row["source_id"]],
                              categories={"group": group[0], "field": group[1], "kind": row["kind"],
                                          "path": row["field"]}))
    if MULTIPLE_CHOICE in kinds:
        items += _gender_items(rows, seed)
    return items


def _group(path: str) -> tuple[str, str] | None:
    if path in PERCEPTION_FIELDS:
        return "perception", PERCEPTION_FIELDS[path]
    if path in CONTENT_FIELDS:
        return "content", CONTENT_FIELDS[path]
    return None


def _gender_items(rows: list[dict], seed: int) -> list[EvalItem]:
    path = f"{PARALINGUISTICS}.gender"
    first = random.Random(seed).randrange(2)
    items = []
    for row in rows:
        gender = get_field(row["uas"], path)
        if gender is None:
            continue
        other = next(g for g in GENDERS if g != gender)
        choices = [gender, other] if (first + len(items)) % 2 == 0 else [other, gender]
        items.append(EvalItem(id=f"{row['id']}/gender-mc", bench=BENCH, question=mcq_prompt(_GENDER_STEM, choices),
                              choices=choices, answer=gender, audio=row["audio"]["bytes"],
                              categories={"group": "perception", "field": "gender", "kind": "mc", "path": path}))
    return items


def _uas_slot(path: str) -> tuple[str, str]:
    """(the targeted UAS JSON up to the value of ``path``, what follows the value's closing quote)."""
    if path == TRANSCRIPTION:
        return '{"transcription":"', "}"
    head, _, key = path.partition(".")
    if head == PARALINGUISTICS and key:
        return '{"%s":{"%s":"' % (PARALINGUISTICS, key), "}}"
    if head == NON_LINGUISTIC_EVENTS and key in EVENT_KEYS[1:]:
        return '{"%s":{"%s":[{"label":"' % (NON_LINGUISTIC_EVENTS, key), ',"characteristic":"'
    raise ValueError(f"uas readout: no single-value slot for field {path!r}")


def uas_slot_prefix(path: str) -> str:
    """The targeted UAS JSON up to the value of ``path``: ``{"paralinguistics":{"age":"`` and the like; for an
    event list, up to the first event's label."""
    return _uas_slot(path)[0]


def uas_slot_closing(path: str) -> str:
    """What follows a value's closing quote in the targeted UAS JSON: ``}}`` after a voice field, ``}`` after the
    transcription, ``,"characteristic":"`` after an event label. Scored texts carry it so the closing quote is
    tokenized as in a written record (``"}``, ``",``): alone, ``"`` is a token no trained answer has there."""
    return _uas_slot(path)[1]


def _value_end(text: str, start: int) -> int:
    """Index just past the closing quote of the JSON string value whose first character is ``text[start]``."""
    _, end = json.JSONDecoder().raw_decode('"' + text[start:])
    return start + end - 1


def _candidates(item: EvalItem, readout: str) -> tuple[str, list[str], str | None]:
    """(user text, assistant texts, scored suffix start) of an item under ``readout``."""
    if readout == "qa":
        texts = [f"{_LETTERS[i]}. {c}" if item.categories.get("kind") == "mc" else c
                 for i, c in enumerate(item.choices)]
        return item.question, texts, None
    if readout == "uas":
        if item.categories.get("kind") != "mc":
            raise ValueError(f"uas readout: item {item.id} is {item.categories.get('kind')!r}; the UAS readout "
                             "scores the options of multiple-choice items only")
        path = item.categories["path"]
        prefix, closing = _uas_slot(path)
        texts = [prefix + json.dumps(c, ensure_ascii=False)[1:] + closing for c in item.choices]
        return targeted_prompt([path]), texts, prefix
    raise ValueError(f"unknown readout {readout!r}; choose from {READOUTS}")


def _scored_positions(tokenizer, labels, input_ids, texts: list[str], prefix: str | None) -> list[list[int]]:
    """Per row, the label positions scored: every assistant token (qa), or only the tokens that cover the option
    value and its closing quote (uas: the shared prefix, what follows the quote and the end of turn are left out;
    the token holding the closing quote is the one a written record has there, ``"}`` or ``",``)."""
    rows = []
    for r, text in enumerate(texts):
        positions = (labels[r] != -100).nonzero().flatten().tolist()
        if prefix is None:
            rows.append(positions)
            continue
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        full = encoded["input_ids"]
        if [int(t) for t in input_ids[r, positions[: len(full)]]] != full:
            raise RuntimeError("uas readout: the chat template tokenized the assistant text differently from the "
                               "tokenizer alone; cannot locate the option's tokens")
        start, end = len(prefix), _value_end(text, len(prefix))
        rows.append([positions[k] for k, (a, b) in enumerate(encoded["offset_mapping"]) if a < end and b > start])
    return rows


def choose_options(model, processor, items: Sequence[EvalItem], readout: str = "qa", progress: bool = True,
                   desc: str = "MCQ") -> dict[str, str]:
    """Item id → the option letter the model finds most likely under ``readout`` (mean log-probability per
    token of each option's scored text, the prompt and audio given)."""
    import torch
    from tqdm.auto import tqdm

    from ..trainers.collator import AudioChatCollator

    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}; choose from {READOUTS}")
    collator = AudioChatCollator(processor)
    model.eval()
    picks = {}
    for item in tqdm(items, desc=desc, unit="q", disable=None if progress else True):  # None: on a TTY only
        question, texts, prefix = _candidates(item, readout)
        audio = {"type": "audio", "audio": {"bytes": item.audio, "path": None}, "text": None}
        rows = [{"messages": [
            {"role": "user", "content": [audio, {"type": "text", "audio": None, "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "audio": None, "text": text}]}]} for text in texts]
        batch = collator(rows)
        labels = batch.pop("labels")
        with torch.no_grad():
            logp = torch.log_softmax(model(**batch).logits.float(), -1)
        positions = _scored_positions(processor.tokenizer, labels, batch["input_ids"], texts, prefix)
        scores = []
        for r, pos in enumerate(positions):
            pos_t = torch.tensor(pos, dtype=torch.long)
            # the token at position p is predicted from position p - 1
            scores.append(float(logp[r, pos_t - 1, batch["input_ids"][r, pos_t]].mean()) if pos else float("-inf"))
        picks[item.id] = _LETTERS[max(range(len(scores)), key=scores.__getitem__)]
    return picks


def perception_accuracy(items: Sequence[EvalItem], picks: dict[str, str]) -> dict[str, Any]:
    """Accuracy overall, per group (perception, content) and per field, with the counted items (``counts``,
    ``field_counts``) and the correct ones (``correct``, ``field_correct``) for intervals; scored by
    ``uas_audio.evaluation.score_mcq`` (strict: the letter must be the answer's; a missing pick is wrong)."""
    from .scoring import score_mcq

    result = score_mcq(items, picks, scorer="strict")
    by = result.to_dict()["by"]
    groups, fields = by.get("group", {}), by.get("field", {})
    return {"overall": result.accuracy,
            **{g: groups.get(g, {}).get("accuracy") for g in GROUPS},
            "by_field": {k: v["accuracy"] for k, v in fields.items()},
            "counts": {k: v["counted"] for k, v in groups.items()},
            "correct": {k: v["correct"] for k, v in groups.items()},
            "field_counts": {k: v["counted"] for k, v in fields.items()},
            "field_correct": {k: v["correct"] for k, v in fields.items()}}


def shuffled_audio(items: Sequence[EvalItem]) -> list[EvalItem]:
    """The same items with each clip's audio replaced by the next clip's (a rotation over the distinct clips, so
    no item keeps its own audio): what a model scores from the question and options alone, its label priors."""
    import dataclasses

    clips = list(dict.fromkeys(i.audio for i in items))
    if len(clips) < 2:
        raise ValueError("shuffled audio needs items from at least two clips")
    rotate = {a: clips[(k + 1) % len(clips)] for k, a in enumerate(clips)}
    return [dataclasses.replace(i, audio=rotate[i.audio]) for i in items]


def _values(record: Any, path: str) -> list[str]:
    value = get_field(record, path)
    if value is None:
        return []
    if isinstance(value, list):  # an event list: its labels
        return [e["label"].lower() for e in value if isinstance(e, dict) and e.get("label")]
    return [str(value).lower()]


def majority_accuracy(items: Sequence[EvalItem], training_records: Sequence[Any]) -> dict[str, Any]:
    """Expected accuracy of the label prior alone: for each item, pick the option whose value is most frequent for
    the item's field among ``training_records`` (the UAS records the models trained on), ties and never-seen
    options shared evenly. Yes/no items count at chance (the quickstart and the ablation score multiple choice
    only). Same structure as :func:`chance_accuracy`."""
    from collections import Counter

    freq: dict[str, Counter] = {}

    def counts(path):
        if path not in freq:
            freq[path] = Counter(v for r in training_records for v in _values(r, path))
        return freq[path]

    def expected(item):
        if item.categories.get("kind") != "mc":
            return 1 / len(item.choices)
        seen = counts(item.categories["path"])
        scores = [seen.get(str(c).lower(), 0) for c in item.choices]
        best = [i for i, s in enumerate(scores) if s == max(scores)]
        return (item.choices.index(item.answer) in best) / len(best)

    return _expected_table(items, expected)


def _expected_table(items: Sequence[EvalItem], expected) -> dict[str, Any]:
    def mean(group):
        return sum(expected(i) for i in group) / len(group) if group else None

    def having(key, value):
        return [i for i in items if i.categories.get(key) == value]

    fields = sorted({i.categories["field"] for i in items})
    return {"overall": mean(items), **{g: mean(having("group", g)) for g in GROUPS},
            "by_field": {f: mean(having("field", f)) for f in fields},
            "counts": {g: len(having("group", g)) for g in GROUPS},
            "field_counts": {f: len(having("field", f)) for f in fields}}


def chance_accuracy(items: Sequence[EvalItem]) -> dict[str, Any]:
    """Expected accuracy of picking uniformly at random (mean of 1 / number of options), by group and field."""
    return _expected_table(items, lambda i: 1 / len(i.choices))


__all__ = ["PERCEPTION_FIELDS", "CONTENT_FIELDS", "GROUPS", "READOUTS", "perception_items", "uas_slot_prefix",
           "uas_slot_closing", "choose_options", "perception_accuracy", "shuffled_audio", "chance_accuracy",
           "majority_accuracy"]
