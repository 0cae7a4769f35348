"""UAS-QA from accepted UAS records (UAS-SPEC §3): direct, multiple-choice and yes/no questions.

Properties held by construction (and checked by the tests):
- every field of FIELD_PATHS is asked about (transcription, the six paralinguistic fields, the event
  description and both event lists), for every record where the field is not null;
- multiple choice has 3-4 options: distractors come from the field's closed set (age, emotion) or from
  other records' values (free-text fields, transcripts, event labels) held in a bounded per-field pool
  (``_ValuePool``: the distinct values with the smallest seeded hashes); gender has only two values and is
  asked as direct and yes/no only. The correct letter is drawn from successive seeded permutations of the
  letters, one sequence per option count, advancing only when a question is emitted, so at any point
  each letter is the answer equally often (±1);
- yes/no answers follow the same scheme over (Yes, No): balanced ±1;
- no question contains its answer (whole words, case-insensitive; for multiple choice the stem must not
  contain the correct option): a leaking question is retried with the field's other templates, then
  skipped and counted;
- the same records and seed give the same questions.

Generation runs in two streaming passes so memory does not grow with the corpus: ``fit`` reads the UAS records
once to fill the pools, then ``stream`` yields the questions record by record. ``generate`` does both over a
list.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..schema import (
    AGES,
    ASR_PROMPT,
    EMOTIONS,
    EVENT_KEYS,
    FIELD_PATHS,
    GENDERS,
    NON_LINGUISTIC_EVENTS,
    PARALINGUISTICS,
    TRANSCRIPTION,
    get_field,
    mcq_prompt,
)
from ..schema.prompts import OPTION_LETTERS

DIRECT, MULTIPLE_CHOICE, YES_NO = "direct", "mc", "yesno"
KINDS: tuple[str, ...] = (DIRECT, MULTIPLE_CHOICE, YES_NO)
YES, NO = "Yes", "No"

_DESCRIPTION, _DISCRETE, _CONTINUOUS = EVENT_KEYS
_P = PARALINGUISTICS + "."
_E = NON_LINGUISTIC_EVENTS + "."
_CLOSED = {_P + "age": AGES, _P + "gender": GENDERS, _P + "emotion": EMOTIONS}
_EVENT_FIELDS = (_E + _DISCRETE, _E + _CONTINUOUS)
_NONE = "None"

_AGE_PHRASE = {"Child": "a child", "Adult": "an adult", "Elderly": "an elderly person"}
_EMOTION_ADJECTIVE = {"Anger": "angry", "Disgust": "disgusted", "Sadness": "sad", "Happiness": "happy",
                      "Neutral": "emotionally neutral", "Surprise": "surprised", "Fear": "fearful"}

#: Direct and multiple-choice question stems per field (the first is preferred; others are used when the
#: first would leak the answer).
STEMS: dict[str, tuple[str, ...]] = {
    TRANSCRIPTION: (ASR_PROMPT, "What does the speaker say?"),
    _P + "age": ("What is the speaker's age group?", "Which age group does the voice belong to?"),
    _P + "gender": ("What is the speaker's gender?", "Is the voice that of a man or a woman?"),
    _P + "emotion": ("What emotion does the speaker express?", "Which emotion is conveyed by the voice?"),
    _P + "accent": ("What accent does the speaker have?", "How would you describe the speaker's accent?"),
    _P + "prosody": ("How would you describe the speaker's prosody (pace, intonation, rhythm)?",
                     "Describe the pace and intonation of the speech."),
    _P + "timbre": ("How would you describe the timbre of the speaker's voice?", "What is the voice's texture like?"),
    _E + _DESCRIPTION: ("Describe the acoustic scene of this audio in one sentence.",
                        "Describe the content of the following audio."),
    _E + _DISCRETE: ("Which one-shot sound events occur in this audio?",
                     "List the short, distinct sounds you can hear."),
    _E + _CONTINUOUS: ("Which continuous background sounds persist in this audio?",
                       "List the sounds that last throughout the recording."),
}
MC_STEMS: dict[str, tuple[str, ...]] = {
    TRANSCRIPTION: ("Which sentence is spoken in this audio?", "What does the speaker say?"),
    _E + _DISCRETE: ("Which of these one-shot sounds can be heard in this audio?",),
    _E + _CONTINUOUS: ("Which of these continuous sounds can be heard in this audio?",),
}


@dataclass
class QAStats:
    """What generation did: questions per kind and field, skips by cause, answer balance."""

    questions: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    mc_letters: dict[int, Counter] = field(default_factory=dict)
    yesno: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"questions": {f"{k}:{f}": v for (k, f), v in sorted(self.questions.items())},
                "skipped": dict(self.skipped),
                "mc_letters": {str(n): dict(sorted(c.items())) for n, c in sorted(self.mc_letters.items())},
                "yesno": dict(self.yesno)}


class _BalancedCycle:
    """Successive seeded permutations of ``values``: every prefix uses each value equally often (±1)."""

    def __init__(self, values: list[Any], rng: random.Random):
        self.values, self.rng, self.queue = values, rng, []

    def peek(self) -> Any:
        if not self.queue:
            self.queue = self.values[:]
            self.rng.shuffle(self.queue)
        return self.queue[0]

    def advance(self) -> None:
        self.queue.pop(0)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9']+", text.lower())) + " "


def leaks(question: str, answer: str) -> bool:
    """True when ``answer`` appears in ``question`` as whole words (case and punctuation ignored)."""
    needle = _words(answer)
    return needle.strip() != "" and needle in _words(question)


def _value_text(path: str, value: Any) -> str | None:
    if path in _EVENT_FIELDS:
        return ", ".join(e["label"] for e in value) if value else _NONE
    return value if isinstance(value, str) and value.strip() else None


class _ValuePool:
    """At most ``size`` distinct values of one field: those whose seeded hash is smallest (a bottom-k sample).

    Memory is bounded by ``size`` whatever the number of records, the sample is uniform over the distinct
    values, and it depends only on the set of values and the seed (not on the record order).
    """

    def __init__(self, size: int, seed: int):
        self.size, self._key = size, str(seed).encode()[:64]
        self._heap: list[tuple[int, str]] = []  # (-hash, value): the root is the largest kept hash
        self._members: set[str] = set()

    def _hash(self, value: str) -> int:
        return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8, key=self._key).digest(), "big")

    def add(self, value: str) -> None:
        if value in self._members:
            return
        h = self._hash(value)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, (-h, value))
        elif h < -self._heap[0][0]:
            self._members.discard(heapq.heapreplace(self._heap, (-h, value))[1])
        else:
            return
        self._members.add(value)

    def values(self) -> list[str]:
        """The kept values, by increasing hash (a deterministic, seeded order)."""
        return [v for _, v in sorted(self._heap, reverse=True)]


def _word_set(text: str) -> frozenset[str]:
    return frozenset(_words(text).split())


def _audio_part(audio: Any) -> dict[str, Any]:
    return {"type": "audio", "audio": audio, "text": None}


def _row(source_id: str, audio: Any, kind: str, path: str, n: int, question: str, answer_text: str, answer: str,
         choices: list[str] | None) -> dict[str, Any]:
    return {
        "id": f"{source_id}:{kind}:{path}:{n}",
        "source_id": source_id,
        "kind": kind,
        "field": path,
        "messages": [
            {"role": "user", "content": [_audio_part(audio), {"type": "text", "audio": None, "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "audio": None, "text": answer_text}]},
        ],
        "answer": answer,
        "choices": choices or [],
    }


class QAGenerator:
    """Deterministic UAS-QA generation over a list of records (see the module docstring)."""

    #: Distinct values kept per free-text field and per event list as distractor candidates.
    POOL_SIZE = 1024

    def __init__(self, kinds: Iterable[str] = KINDS, seed: int = 0, num_options: int = 4,
                 pool_size: int = POOL_SIZE):
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown QA kind(s) {unknown or kinds}; expected some of {', '.join(KINDS)}")
        if num_options not in (3, 4):
            raise ValueError(f"num_options must be 3 or 4, got {num_options}")
        if pool_size < num_options:
            raise ValueError(f"pool_size must be at least num_options ({num_options}), got {pool_size}")
        self.kinds, self.seed, self.num_options, self.pool_size = kinds, seed, num_options, pool_size
        self._pools: dict[str, list] | None = None
        self.stats = QAStats()

    def fit(self, records: Iterable[Mapping[str, Any] | None]) -> "QAGenerator":
        """First pass: fill the distractor pools from UAS records (None is skipped) and reset the answer
        sequences, the random state and the stats, so ``stream`` starts afresh."""
        pools = {path: _ValuePool(self.pool_size, self.seed) for path in FIELD_PATHS if path not in _CLOSED}
        for record in records:
            if not record:
                continue
            for path, pool in pools.items():
                value = get_field(record, path)
                if path in _EVENT_FIELDS:
                    for event in value or []:
                        pool.add(event["label"])
                elif isinstance(value, str) and value.strip():
                    pool.add(value)
        self._pools = {path: [(v, v.lower() if path in _EVENT_FIELDS else _word_set(v)) for v in pool.values()]
                       for path, pool in pools.items()}
        self._rng = random.Random(self.seed)
        self._letters = {n: _BalancedCycle(list(OPTION_LETTERS[:n]), random.Random(self.seed + n)) for n in (3, 4)}
        self._yesno_cycle = _BalancedCycle([YES, NO], random.Random(self.seed + 100))
        self._count = 0
        self.stats = QAStats()
        return self

    def stream(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        """Second pass: QA rows, one record at a time, from annotation rows (``id``, ``uas`` and ``audio``; rows
        without ``uas`` are ignored). ``self.stats`` counts what was made and skipped."""
        if self._pools is None:
            raise RuntimeError("QAGenerator.stream: call fit() with the UAS records first (it builds the "
                               "distractor pools)")
        rng, stats = self._rng, self.stats
        for row in rows:
            record = row.get("uas")
            if not record:
                continue
            source_id, audio = str(row["id"]), row.get("audio")
            for path in FIELD_PATHS:
                value = get_field(record, path)
                if path != TRANSCRIPTION and path not in _EVENT_FIELDS and _value_text(path, value) is None:
                    continue  # null paralinguistics (no speech): nothing to ask
                for kind in self.kinds:
                    made = getattr(self, f"_{kind}")(record, path, value, rng, stats)
                    if made is None:
                        continue
                    question, answer_text, answer, choices = made
                    yield _row(source_id, audio, kind, path, self._count, question, answer_text, answer, choices)
                    self._count += 1
                    stats.questions[(kind, path)] += 1

    def generate(self, rows: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], QAStats]:
        """``fit`` then ``stream`` over an in-memory list of annotation rows."""
        rows = [r for r in rows if r.get("uas")]
        self.fit(r["uas"] for r in rows)
        return list(self.stream(rows)), self.stats

    # --- the three kinds; each returns (question, answer text, answer, choices) or None (skipped) ---------

    def _direct(self, record, path, value, rng, stats):
        if path == TRANSCRIPTION and value is None:
            return None  # the yes/no kind asks whether there is speech
        answer = _value_text(path, value)
        for stem in STEMS[path]:
            if not leaks(stem, answer):
                return stem, answer, answer, None
        stats.skipped[f"leak:{DIRECT}:{path}"] += 1
        return None

    def _distractors(self, path: str, value: Any, rng: random.Random, count: int) -> list[str]:
        """Up to ``count`` distinct distractors for ``value``, drawn uniformly from the eligible pool entries
        (fewer only when fewer are eligible)."""
        if path in _CLOSED:
            return _pick([(v, v) for v in _CLOSED[path]], lambda e: e[0] != value, rng, count)
        if path in _EVENT_FIELDS:
            present = {e["label"].lower() for e in value}
            return _pick(self._pools[path], lambda e: e[1] not in present, rng, count)
        # other records' values, leaving out paraphrase-like ones (same words, or one's words within the other's)
        mine = _word_set(value)
        return _pick(self._pools[path], lambda e: not (e[1] <= mine or mine <= e[1]), rng, count)

    def _mc(self, record, path, value, rng, stats):
        if path == TRANSCRIPTION and value is None:
            return None
        if path in _EVENT_FIELDS:
            if not value:
                return None
            correct = rng.choice(value)["label"]
        else:
            correct = value
        distractors = self._distractors(path, value, rng, self.num_options - 1)
        n = 1 + len(distractors)
        if n < 3:  # gender (two values), or too few other records' values
            stats.skipped[f"too_few_options:{path}"] += 1
            return None
        stems = [s for s in MC_STEMS.get(path, STEMS[path]) if not leaks(s, correct)]
        if not stems:
            stats.skipped[f"leak:{MULTIPLE_CHOICE}:{path}"] += 1
            return None
        cycle = self._letters[n]
        letter = cycle.peek()
        cycle.advance()
        position = OPTION_LETTERS.index(letter)
        options = distractors[:]  # already in random order
        options.insert(position, correct)
        stats.mc_letters.setdefault(n, Counter())[letter] += 1
        return mcq_prompt(stems[0], options), f"{letter}. {correct}", letter, options

    def _yesno(self, record, path, value, rng, stats):
        target = self._yesno_cycle.peek()
        question = self._yesno_question(path, value, target, rng)
        if question is None:
            stats.skipped[f"no_{target.lower()}_question:{path}"] += 1
            return None
        if leaks(question, target):  # e.g. a quoted transcript containing the word "yes"
            stats.skipped[f"leak:{YES_NO}:{path}"] += 1
            return None
        self._yesno_cycle.advance()
        stats.yesno[target] += 1
        return question, target, target, None

    def _yesno_question(self, path: str, value: Any, target: str, rng: random.Random) -> str | None:
        """A question about ``path`` whose true answer is ``target``, or None if none can be asked."""
        yes = target == YES
        if path == TRANSCRIPTION:
            if value is None:
                return "Is this audio free of human speech?" if yes else "Is there human speech in this audio?"
            if yes:
                return f'Does the speaker say "{value}"?'
            other = _pick(self._pools[path], lambda e: e[0] != value, rng, 1)
            return f'Does the speaker say "{other[0]}"?' if other else None
        if path in _EVENT_FIELDS:
            kind = "one-shot" if path.endswith(_DISCRETE) else "continuous"
            if not value:
                return None if yes else f"Are there {kind} sound events in this audio?"
            if yes:
                if rng.random() < 0.5:
                    return f"Are there {kind} sound events in this audio?"
                return f"Can a {rng.choice(value)['label']} be heard in this audio?"
            distractors = self._distractors(path, value, rng, 1)
            return f"Can a {distractors[0]} be heard in this audio?" if distractors else None
        claim = value if yes else (self._distractors(path, value, rng, 1) or [None])[0]
        if claim is None:
            return None
        if path == _P + "age":
            return f"Is the speaker {_AGE_PHRASE[claim]}?"
        if path == _P + "gender":
            return f"Is the speaker {'male' if claim == 'Male' else 'female'}?"
        if path == _P + "emotion":
            return f"Does the speaker sound {_EMOTION_ADJECTIVE[claim]}?"
        noun = {"accent": "accent", "prosody": "prosody", "timbre": "voice timbre"}.get(path.split(".")[-1])
        if noun:
            return f'Is the speaker\'s {noun} best described as "{claim}"?'
        return f'Is this a fitting description of the audio: "{claim}"?'


def _pick(entries: list[tuple[str, Any]], eligible: Callable[[tuple[str, Any]], bool], rng: random.Random,
          count: int) -> list[str]:
    """Up to ``count`` distinct values of ``entries`` passing ``eligible``, uniformly at random: a few random
    draws first (cheap when most entries are eligible), then a scan of the untried entries."""
    chosen: list[int] = []
    tried: set[int] = set()
    for _ in range(2 * count + 4):
        if len(chosen) == count or len(tried) == len(entries):
            break
        i = rng.randrange(len(entries))
        if i not in tried:
            tried.add(i)
            if eligible(entries[i]):
                chosen.append(i)
    if len(chosen) < count:
        rest = [i for i in range(len(entries)) if i not in tried and eligible(entries[i])]
        chosen += rng.sample(rest, min(count - len(chosen), len(rest)))
    return [entries[i][0] for i in chosen]
