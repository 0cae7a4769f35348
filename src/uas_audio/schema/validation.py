"""Stage-3 quality validation of UAS records (UAS-SPEC §2.3): four checks, each its own rejection code.

``validate`` runs every check and returns every problem found, not just the first:

============================ =================================================================================
code                         what is rejected
============================ =================================================================================
``ontology``                 not a JSON object; missing or unexpected keys; wrong types; age/gender/emotion
                             outside the closed sets (synonyms included: they are mapped by ``parse_uas``
                             before validation, or rejected here)
``transcription_integrity``  transcription differing from the ground truth (exact string match, no
                             normalisation); a ground truth of None means "no speech": transcription must
                             be null
``logical_consistency``      null (or empty) transcription with any non-null paralinguistic field; gender
                             contradicted by the timbre lexicon below (both directions); repeated event
                             labels within a list; one label in both the discrete and continuous lists
                             (labels compared case-insensitively, surrounding whitespace ignored)
``duration_alignment``       more content than the clip's duration can carry (thresholds below)
============================ =================================================================================

Duration thresholds (module constants; ``d`` = clip duration in seconds; words are whitespace-separated
tokens, so unsegmented scripts such as Chinese are not rate-checked meaningfully):

================== ======================================================= ==========================
check              rejected when                                           default
================== ======================================================= ==========================
speaking rate      transcription words > MAX_WORDS_PER_SECOND · d +        6 words/s + 3 words
                   WORD_ALLOWANCE                                          (fast speech is ~4 words/s;
                                                                           the allowance keeps
                                                                           sub-second clips fair)
event count        discrete + continuous events > MAX_EVENTS_PER_SECOND    2 events/s + 3 events
                   · d + EVENT_ALLOWANCE
description length description words > MAX_DESCRIPTION_WORDS_PER_SECOND    10 words/s + 25 words
                   · d + DESCRIPTION_WORD_ALLOWANCE
================== ======================================================= ==========================

Gender–timbre lexicon (whole words, case-insensitive; a term preceded by "not ", "non-" or "no " is
ignored). A ``Male`` speaker whose timbre contains a feminine term, or a ``Female`` speaker whose timbre
contains a masculine term, is rejected:

- feminine (``FEMININE_TIMBRE_TERMS``): feminine, female, womanly, ladylike, girlish, girly, soprano,
  mezzo-soprano, contralto — so "high-pitched feminine" contradicts Male;
- masculine (``MASCULINE_TIMBRE_TERMS``): masculine, male, manly, mannish, baritone, bass-baritone, basso,
  tenor — so "deep masculine" contradicts Female.

Words that only suggest a gender ("deep", "high-pitched", "husky", "boyish") are left out on purpose:
voices of either gender are described with them.

``validate_dataset`` runs the same checks over a ``datasets.Dataset`` with a batched ``map`` and adds two
columns: ``uas_valid`` (bool) and ``uas_reject_reasons``, a list of ``{"code", "field", "message"}``
structs (empty for valid rows), so rows can be filtered or counted by code without parsing strings.
"""

from __future__ import annotations

import math
import numbers
import re
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator
from typing_extensions import TypedDict

from .parsing import UASParseError, _has_surrogate, error_path, load_json_object, normalize_emotion
from .types import UAS
from .vocab import (
    CATEGORIES,
    EVENT_KEYS,
    NON_LINGUISTIC_EVENTS,
    PARALINGUISTIC_KEYS,
    PARALINGUISTICS,
    TRANSCRIPTION,
)

if TYPE_CHECKING:
    import datasets

ONTOLOGY = "ontology"
TRANSCRIPTION_INTEGRITY = "transcription_integrity"
LOGICAL_CONSISTENCY = "logical_consistency"
DURATION_ALIGNMENT = "duration_alignment"
#: Every rejection code, in the order the checks run.
REASON_CODES: tuple[str, ...] = (ONTOLOGY, TRANSCRIPTION_INTEGRITY, LOGICAL_CONSISTENCY, DURATION_ALIGNMENT)

MAX_WORDS_PER_SECOND = 6.0
WORD_ALLOWANCE = 3
MAX_EVENTS_PER_SECOND = 2.0
EVENT_ALLOWANCE = 3
MAX_DESCRIPTION_WORDS_PER_SECOND = 10.0
DESCRIPTION_WORD_ALLOWANCE = 25

FEMININE_TIMBRE_TERMS: tuple[str, ...] = (
    "feminine", "female", "womanly", "ladylike", "girlish", "girly", "soprano", "mezzo-soprano", "contralto",
)
MASCULINE_TIMBRE_TERMS: tuple[str, ...] = (
    "masculine", "male", "manly", "mannish", "baritone", "bass-baritone", "basso", "tenor",
)


def _lexicon_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\bnot )(?<!\bnon-)(?<!\bno )\b(?:{alternatives})\b", re.IGNORECASE)


_FEMININE = _lexicon_pattern(FEMININE_TIMBRE_TERMS)
_MASCULINE = _lexicon_pattern(MASCULINE_TIMBRE_TERMS)
# gender → (pattern of the contradicting terms, what they describe)
_CONTRADICTIONS = {"Male": (_FEMININE, "feminine"), "Female": (_MASCULINE, "masculine")}

_DESCRIPTION, _DISCRETE, _CONTINUOUS = EVENT_KEYS
_EVENT_LISTS = (_DISCRETE, _CONTINUOUS)
_TIMBRE_PATH = f"{PARALINGUISTICS}.timbre"
_DESCRIPTION_PATH = f"{NON_LINGUISTIC_EVENTS}.{_DESCRIPTION}"
_PARA_PATHS = {key: f"{PARALINGUISTICS}.{key}" for key in PARALINGUISTIC_KEYS}
_LIST_PATHS = {key: f"{NON_LINGUISTIC_EVENTS}.{key}" for key in _EVENT_LISTS}
_CLOSED_SETS = {_PARA_PATHS[key]: values for key, values in CATEGORIES.items()}


def _plain_data_type(annotation: Any) -> Any:
    """The annotation with every pydantic model replaced by a TypedDict of its (aliased) fields."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {info.alias or name: _plain_data_type(info.annotation)
                  for name, info in annotation.model_fields.items()}
        typed_dict = TypedDict(f"{annotation.__name__}Data", fields)  # type: ignore[misc]
        typed_dict.__pydantic_config__ = ConfigDict(extra="forbid", strict=True)  # type: ignore[attr-defined]
        return typed_dict
    origin = get_origin(annotation)
    if origin is None or origin is Literal:
        return annotation
    args = tuple(_plain_data_type(arg) for arg in get_args(annotation))
    if origin in (Union, types.UnionType):
        return Union[args]
    if origin is list:
        return list[args[0]]
    raise TypeError(f"no plain-data form for the annotation {annotation!r}")


def _structural_validator() -> SchemaValidator:
    # The ontology check validates plain data against TypedDicts generated from the UAS models: the same
    # keys, types and closed sets as the models (so as the JSON Schema), without building model instances
    # or running the models' Python validators — about twice as fast. Label uniqueness, the models' one
    # Python validator, is the logical-consistency check's job here.
    return TypeAdapter(_plain_data_type(UAS)).validator


_VALIDATOR = _structural_validator()
_JSON_DATA = (dict, list, int, float, type(None))
# pydantic error type → what the schema expects there
_EXPECTED = {"string_type": "a string", "list_type": "an array", "model_type": "a JSON object",
             "dict_type": "a JSON object", "model_attributes_type": "a JSON object"}


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: Default of ``validate(transcript=...)``: no ground truth, so transcription integrity is not checked.
#: (``transcript=None`` is a ground truth too: the clip has no speech.)
NOT_GIVEN: Any = _NotGiven()


@dataclass(frozen=True, slots=True)
class Reason:
    """One rejection reason: its check (``code``), the dotted field path it concerns, and a message."""

    code: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}:{self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The outcome of ``validate``: valid iff no reasons."""

    valid: bool
    reasons: list[Reason]

    @property
    def codes(self) -> set[str]:
        """The distinct rejection codes among the reasons."""
        return {reason.code for reason in self.reasons}

    def __bool__(self) -> bool:
        return self.valid


def validate(uas: UAS | dict | str, transcript: Any = NOT_GIVEN, duration_s: float | None = None) -> ValidationResult:
    """Run all four stage-3 checks on one record and return every problem found.

    ``uas`` is a :class:`UAS`, a dict with the schema's camelCase keys (any other decoded JSON value is
    an ontology failure), or JSON text (optionally fenced; read strictly: synonyms are not mapped).
    ``transcript`` is the ground-truth text (None: the clip has no speech; left out: not checked).
    ``duration_s`` (seconds, > 0) enables the duration checks.
    """
    if isinstance(uas, _JSON_DATA):  # other JSON values than objects are ontology failures, not errors
        record = uas
    elif isinstance(uas, UAS):
        record = uas.to_dict()
    elif isinstance(uas, str):
        try:
            record = load_json_object(uas)
        except UASParseError as err:
            message = f"not a JSON object: {err.reason} (line {err.line}, column {err.col})"
            return ValidationResult(False, [Reason(ONTOLOGY, "", message)])
    else:
        raise TypeError(f"validate expects a UAS, a dict or JSON text, got {type(uas).__name__}")
    if duration_s is not None:
        _check_duration_value(duration_s)
    if not (transcript is NOT_GIVEN or transcript is None or isinstance(transcript, str)):
        raise TypeError(f"transcript must be a string or None, got {type(transcript).__name__}")
    try:
        if _has_surrogate(record):
            return ValidationResult(False, [Reason(ONTOLOGY, "", "invalid Unicode: a string holds a lone surrogate "
                                                                 "code point (not encodable as UTF-8)")])
        reasons = _check(record, transcript, duration_s)
    except RecursionError:
        reasons = [Reason(ONTOLOGY, "", "the record is nested too deeply to be a UAS record")]
    return ValidationResult(not reasons, reasons)


def _check_duration_value(duration_s: Any) -> None:
    if isinstance(duration_s, bool) or not isinstance(duration_s, numbers.Real):  # numpy scalars included
        raise TypeError(f"duration_s must be a number of seconds, got {type(duration_s).__name__}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a positive finite number of seconds, got {duration_s!r}")


def _check(record: Any, transcript: Any, duration_s: float | None) -> list[Reason]:
    reasons = _ontology(record)
    if not isinstance(record, dict):
        return reasons
    text = record.get(TRANSCRIPTION)
    para = record.get(PARALINGUISTICS)
    para = para if isinstance(para, dict) else {}
    events = record.get(NON_LINGUISTIC_EVENTS)
    events = events if isinstance(events, dict) else {}
    # the event lists that are lists (others are ontology problems), by key
    lists = {key: items for key in _EVENT_LISTS if isinstance(items := events.get(key), list)}
    if transcript is not NOT_GIVEN:
        _transcription_integrity(text, transcript, reasons)
    _logical_consistency(text, para, lists, reasons)
    if duration_s is not None:
        _duration_alignment(text, events.get(_DESCRIPTION), lists, duration_s, reasons)
    return reasons


def _ontology(record: Any) -> list[Reason]:
    try:
        _VALIDATOR.validate_python(record)
        return []
    except ValidationError as err:
        errors = err.errors(include_url=False, include_context=False)
    reasons = []
    for error in errors:
        kind = error["type"]
        field = error_path(error["loc"])
        value = error["input"]
        if kind == "missing":
            message = "missing key"
        elif kind == "extra_forbidden":
            message = "unexpected key"
        elif kind == "literal_error":
            message = _out_of_vocabulary(field, value)
        elif kind in _EXPECTED:
            message = f"wrong type: expected {_EXPECTED[kind]}, got {_kind(value)}"
        else:
            message = error["msg"]
        reasons.append(Reason(ONTOLOGY, field, message))
    return reasons


def _out_of_vocabulary(field: str, value: Any) -> str:
    allowed = _CLOSED_SETS.get(field, ())
    message = f"{value!r} is not in the closed set {{{', '.join(allowed)}}} (or null)"
    if field == _PARA_PATHS["emotion"] and isinstance(value, str):
        mapped = normalize_emotion(value)
        if mapped is not None:
            message += f"; it is a synonym of {mapped!r}, which parse_uas(normalize_synonyms=True) maps"
    return message


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _transcription_integrity(text: Any, transcript: str | None, reasons: list[Reason]) -> None:
    if not (text is None or isinstance(text, str)):
        return  # a wrong type is an ontology problem
    if transcript is None:
        if text is not None:
            reasons.append(Reason(TRANSCRIPTION_INTEGRITY, TRANSCRIPTION,
                                  f"the clip has no speech but the transcription is {_clip(text)}"))
    elif text is None:
        reasons.append(Reason(TRANSCRIPTION_INTEGRITY, TRANSCRIPTION,
                              f"transcription is null but the ground truth is {_clip(transcript)}"))
    elif text != transcript:
        at = next((i for i, (a, b) in enumerate(zip(text, transcript)) if a != b), min(len(text), len(transcript)))
        reasons.append(Reason(
            TRANSCRIPTION_INTEGRITY, TRANSCRIPTION,
            f"differs from the ground truth at character {at}: {_clip(text[at:])} vs {_clip(transcript[at:])}",
        ))


def _clip(text: str, width: int = 40) -> str:
    return repr(text if len(text) <= width else text[:width] + "…")


def _logical_consistency(text: Any, para: dict, lists: dict[str, list], reasons: list[Reason]) -> None:
    no_speech = text is None
    if isinstance(text, str) and not text.strip():
        no_speech = True
        reasons.append(Reason(LOGICAL_CONSISTENCY, TRANSCRIPTION,
                              "empty transcription: a clip without speech has transcription null"))
    if no_speech:
        for key in PARALINGUISTIC_KEYS:
            if para.get(key) is not None:
                reasons.append(Reason(LOGICAL_CONSISTENCY, _PARA_PATHS[key],
                                      f"is {para[key]!r} but there is no speech: it must be null"))
    gender, timbre = para.get("gender"), para.get("timbre")
    if isinstance(timbre, str) and isinstance(gender, str) and gender in _CONTRADICTIONS:
        pattern, described = _CONTRADICTIONS[gender]
        found = pattern.search(timbre)
        if found:
            reasons.append(Reason(LOGICAL_CONSISTENCY, _TIMBRE_PATH,
                                  f"{found.group(0)!r} describes a {described} voice but gender is {gender!r}"))
    labels_by_list = {}
    for key, items in lists.items():
        seen: set[str] = set()
        repeated: set[str] = set()
        for item in items:
            label = item.get("label") if isinstance(item, dict) else None
            if isinstance(label, str):
                norm = label.strip().casefold()
                (repeated if norm in seen else seen).add(norm)
        if repeated:
            reasons.append(Reason(LOGICAL_CONSISTENCY, _LIST_PATHS[key],
                                  f"repeated event label(s): {', '.join(sorted(repeated))}"))
        labels_by_list[key] = seen
    if len(labels_by_list) == 2:
        both = labels_by_list[_DISCRETE] & labels_by_list[_CONTINUOUS]
        if both:
            reasons.append(Reason(LOGICAL_CONSISTENCY, NON_LINGUISTIC_EVENTS,
                                  f"label(s) both discrete and continuous: {', '.join(sorted(both))}"))


def _duration_alignment(text: Any, description: Any, lists: dict[str, list], duration_s: float,
                        reasons: list[Reason]) -> None:
    if isinstance(text, str):
        words = len(text.split())
        limit = MAX_WORDS_PER_SECOND * duration_s + WORD_ALLOWANCE
        if words > limit:
            reasons.append(Reason(
                DURATION_ALIGNMENT, TRANSCRIPTION,
                f"{words} words in {duration_s:.2f} s ({words / duration_s:.1f} words/s) exceeds the limit of "
                f"{int(limit)} words ({MAX_WORDS_PER_SECOND:g} words/s + {WORD_ALLOWANCE})",
            ))
    count = sum(map(len, lists.values()))
    limit = MAX_EVENTS_PER_SECOND * duration_s + EVENT_ALLOWANCE
    if count > limit:
        reasons.append(Reason(
            DURATION_ALIGNMENT, NON_LINGUISTIC_EVENTS,
            f"{count} events in {duration_s:.2f} s exceeds the limit of {int(limit)} "
            f"({MAX_EVENTS_PER_SECOND:g} events/s + {EVENT_ALLOWANCE})",
        ))
    if isinstance(description, str):
        words = len(description.split())
        limit = MAX_DESCRIPTION_WORDS_PER_SECOND * duration_s + DESCRIPTION_WORD_ALLOWANCE
        if words > limit:
            reasons.append(Reason(
                DURATION_ALIGNMENT, _DESCRIPTION_PATH,
                f"{words} description words for {duration_s:.2f} s of audio exceeds the limit of {int(limit)} "
                f"({MAX_DESCRIPTION_WORDS_PER_SECOND:g} words/s + {DESCRIPTION_WORD_ALLOWANCE})",
            ))


def _validate_batch(batch: dict[str, list], uas_column: str, transcript_column: str | None,
                    duration_column: str | None) -> dict[str, list]:
    records = batch[uas_column]
    n = len(records)
    transcripts = batch[transcript_column] if transcript_column else [NOT_GIVEN] * n
    durations = batch[duration_column] if duration_column else [None] * n
    valid, rejected = [], []
    for record, transcript, duration in zip(records, transcripts, durations):
        reasons = []
        if duration is not None:
            try:
                _check_duration_value(duration)
            except (TypeError, ValueError) as err:
                reasons.append(Reason(DURATION_ALIGNMENT, "", str(err)))
                duration = None
        if transcript is not NOT_GIVEN and transcript is not None and not isinstance(transcript, str):
            reasons.append(Reason(TRANSCRIPTION_INTEGRITY, TRANSCRIPTION,
                                  f"ground-truth transcript is not text: {type(transcript).__name__}"))
            transcript = NOT_GIVEN
        if record is None:
            reasons.append(Reason(ONTOLOGY, "", "no record (null)"))
        else:
            reasons.extend(validate(record, transcript, duration).reasons)
        valid.append(not reasons)
        rejected.append([{"code": r.code, "field": r.field, "message": r.message} for r in reasons])
    return {"uas_valid": valid, "uas_reject_reasons": rejected}


def validate_dataset(
    ds: "datasets.Dataset",
    uas_column: str = "uas",
    transcript_column: str | None = "transcript",
    duration_column: str | None = "duration_s",
    num_proc: int | None = None,
    batch_size: int = 1000,
) -> "datasets.Dataset":
    """Validate every row of ``ds`` and add ``uas_valid`` (bool) and ``uas_reject_reasons`` columns.

    ``uas_column`` holds UAS structs (``uas_features()``) or JSON strings. Pass ``transcript_column=None``
    or ``duration_column=None`` to skip those checks; a named column must exist. ``uas_reject_reasons`` is a
    list of ``{"code", "field", "message"}`` per row. Rows are never dropped: filter on ``uas_valid``.
    """
    from datasets import Features, List, Value

    for role, column in (("uas", uas_column), ("transcript", transcript_column), ("duration", duration_column)):
        if column is not None and column not in ds.column_names:
            raise ValueError(
                f"dataset has no {role} column {column!r} (columns: {', '.join(ds.column_names)}); "
                f"pass {role}_column=<name>" + ("" if role == "uas" else " or None to skip that check")
            )
    features = Features(dict(ds.features))
    features["uas_valid"] = Value("bool")
    features["uas_reject_reasons"] = List({"code": Value("string"), "field": Value("string"),
                                           "message": Value("string")})
    return ds.map(
        _validate_batch,
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc,
        features=features,
        fn_kwargs={"uas_column": uas_column, "transcript_column": transcript_column,
                   "duration_column": duration_column},
        desc="Validating UAS records",
    )
