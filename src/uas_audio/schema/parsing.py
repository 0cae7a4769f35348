"""Reading UAS records from model or LLM text, and small helpers over UAS dicts.

``parse_uas`` accepts exactly one JSON object, optionally inside one markdown code fence
(```` ```json … ``` ```` or a bare ```` ``` ```` fence), with any surrounding whitespace. Anything else —
invalid JSON, an array or a scalar, text before or after the object, duplicate keys, a record that breaks
the schema — raises :class:`UASParseError` with the position (line, column, character offset in the
original text) and the reason. ``parse_uas_reply`` also accepts prose around one fenced block.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from .types import UAS
from .vocab import (
    AGES,
    CATEGORIES,
    EMOTION_SYNONYMS,
    EMOTIONS,
    FIELD_PATHS,
    GENDERS,
    PARALINGUISTIC_KEYS,
    PARALINGUISTICS,
)

# One fence around the whole text: a ```json / ```JSON / ``` opener and a ``` closer, on their own lines or
# not ("```json {...}```" is accepted too).
_FENCE = re.compile(r"\A\s*```(?:json|JSON)?(.*?)```\s*\Z", re.DOTALL)
_FENCE_OPEN = re.compile(r"\A\s*```")
_WHITESPACE = re.compile(r"\s+")
#: Text longer than this is not parsed (a UAS record is a few hundred characters).
MAX_TEXT_CHARS = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")


class UASParseError(ValueError):
    """Text that is not one UAS JSON object.

    Attributes: ``reason`` (what is wrong), ``text`` (the text parsed), ``pos`` (0-based character offset),
    ``line`` and ``col`` (1-based), and ``violations``: for schema violations, one
    ``(field_path, message)`` pair per problem (empty for syntax problems).
    """

    def __init__(self, reason: str, text: str, pos: int, violations: list[tuple[str, str]] | None = None):
        self.reason = reason
        self.text = text
        self.pos = pos
        self.line = text.count("\n", 0, pos) + 1
        self.col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        self.violations = list(violations or [])
        detail = "".join(f"\n  {path or '<record>'}: {message}" for path, message in self.violations)
        super().__init__(f"not a UAS record: {reason} (line {self.line}, column {self.col}, char {pos}){detail}")

    def __reduce__(self):  # picklable, so it crosses process boundaries (datasets.map with num_proc)
        return type(self), (self.reason, self.text, self.pos, self.violations)


def normalize_emotion(word: str) -> str | None:
    """Map an emotion word onto one of the seven categories, or None when no unambiguous mapping exists.

    Case and surrounding/inner whitespace are ignored ("  EXCITED " → "Happiness"); unknown words give None
    (never "Neutral").
    """
    if not isinstance(word, str):
        raise TypeError(f"normalize_emotion expects a string, got {type(word).__name__}")
    return EMOTION_SYNONYMS.get(_WHITESPACE.sub(" ", word).strip().lower())


_CASEFOLDED = {
    "age": {a.lower(): a for a in AGES},
    "gender": {g.lower(): g for g in GENDERS},
}


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of repeated keys silently; a model that repeats a key has produced two answers
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicate_keys)


def load_json_object(text: str) -> dict[str, Any]:
    """The JSON object in ``text`` (optionally fenced), as a dict, without checking the UAS schema.

    Raises :class:`UASParseError` for anything that is not exactly one JSON object.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the model output as str, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise UASParseError(f"output too long ({len(text)} characters, the limit is {MAX_TEXT_CHARS})",
                            text[:200], 0)
    surrogate = _SURROGATE.search(text)
    if surrogate:
        raise UASParseError("invalid Unicode: a lone surrogate code point", text, surrogate.start())
    body_start, body = _body(text)
    start = len(body) - len(body.lstrip())
    if start == len(body):
        raise UASParseError("empty output: expected a JSON object", text, body_start + start)
    try:
        value, end = _STRICT_DECODER.raw_decode(body, start)
    except json.JSONDecodeError as err:
        raise UASParseError(f"invalid JSON: {err.msg}", text, body_start + err.pos) from None
    except _DuplicateKey as dup:
        raise UASParseError(f"duplicate key {dup.key!r}", text, body_start + start) from None
    except RecursionError:
        raise UASParseError("invalid JSON: nested too deeply", text, body_start + start) from None
    except ValueError as err:  # e.g. an integer over Python's digit limit
        raise UASParseError(f"invalid JSON: {err}", text, body_start + start) from None
    if not isinstance(value, dict):
        raise UASParseError(f"expected a JSON object, found {_json_kind(value)}", text, body_start + start)
    if _has_surrogate(value):  # "\ud800" escapes decode to lone surrogates that no UTF-8 writer accepts
        raise UASParseError("invalid Unicode: a lone surrogate code point (\\ud800-\\udfff escape)", text,
                            body_start + start)
    rest = len(body) - len(body[end:].lstrip())
    if rest < len(body):
        raise UASParseError("trailing text after the JSON object", text, body_start + rest)
    return value


def _has_surrogate(value: Any) -> bool:
    """Whether any string in ``value`` (dict keys included) holds a lone surrogate code point. Surrogates are not
    ASCII, so the search runs only on non-ASCII strings (``str.isascii`` reads a flag), and the strings inside a dict
    are checked in place rather than pushed: the validator calls this on every record."""
    stack = [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            for key, val in item.items():
                if type(key) is str:  # keys: strings in valid records
                    if not key.isascii() and _SURROGATE.search(key):
                        return True
                else:
                    push(key)
                if type(val) is str:
                    if not val.isascii() and _SURROGATE.search(val):
                        return True
                elif isinstance(val, (str, dict, list)):
                    push(val)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _body(text: str) -> tuple[int, str]:
    """Where the JSON text starts in ``text`` and the JSON text itself (the fence's content, if fenced)."""
    fenced = _FENCE.match(text)
    if fenced:
        return fenced.start(1), fenced.group(1)
    if _FENCE_OPEN.match(text):
        raise UASParseError("code fence is not closed", text, text.index("`"))
    return 0, text


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def normalize_categories(record: dict[str, Any]) -> dict[str, Any]:
    """Map emotion synonyms and case variants of age/gender onto the closed sets, in place; returns record.

    Only string values that are not already valid are touched; values without an unambiguous mapping
    are left as they are (so validation still rejects them).
    """
    para = record.get(PARALINGUISTICS)
    if not isinstance(para, dict):
        return record
    emotion = para.get("emotion")
    if isinstance(emotion, str) and emotion not in EMOTIONS:
        para["emotion"] = normalize_emotion(emotion) or emotion
    for key in ("age", "gender"):
        value = para.get(key)
        if isinstance(value, str) and value not in CATEGORIES[key]:
            para[key] = _CASEFOLDED[key].get(value.strip().lower(), value)
    return record


def parse_uas(text: str, normalize_synonyms: bool = True) -> UAS:
    """Parse model/LLM output into a :class:`UAS`.

    With ``normalize_synonyms`` (the default), emotion synonyms ("excited" → "Happiness") and case variants
    of age/gender ("male" → "Male") are mapped onto the closed sets first; unknown words stay violations.
    Raises :class:`UASParseError` with the position and, for schema violations, each failing field path.
    """
    record = load_json_object(text)
    if normalize_synonyms:
        normalize_categories(record)
    try:
        return UAS.model_validate(record, by_alias=True, by_name=False)
    except RecursionError:
        raise UASParseError("record nested too deeply", text, 0) from None
    except ValidationError as err:
        violations = [(error_path(e["loc"]), e["msg"]) for e in err.errors(include_url=False)]
        body_start, body = _body(text)
        object_start = body_start + len(body) - len(body.lstrip())  # violations are located at the object
        raise UASParseError(f"{len(violations)} schema violation(s)", text, object_start, violations) from None


_FENCE_MARK = re.compile(r"```([A-Za-z0-9_+-]*)")
_JSON_FENCE_LANGUAGES = ("", "json", "JSON")


def parse_uas_reply(text: str, normalize_synonyms: bool = True) -> UAS:
    """Parse a model reply that may wrap its one fenced JSON block in prose, as chat models often answer.

    Accepts what :func:`parse_uas` accepts (one JSON object, bare or in one fence) and also one ```` ```json ````
    (or bare ```` ``` ````) block with text before and/or after it: the block's object is the record. Raises
    :class:`UASParseError`, positioned in ``text``, for an unclosed fence, more than one fenced block, a block marked
    as another language, or a block that is not one valid UAS object. Unfenced JSON with prose around it is refused
    (:func:`parse_uas`'s errors): without a fence there is no telling where the record starts.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the model output as str, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS or text.lstrip().startswith("{"):  # a bare object: its strings may hold ```
        return parse_uas(text, normalize_synonyms)
    marks = list(_FENCE_MARK.finditer(text))
    if len(marks) % 2:
        raise UASParseError("code fence is not closed", text, marks[-1].start())
    if not marks:
        return parse_uas(text, normalize_synonyms)
    if len(marks) > 2:
        raise UASParseError(f"{len(marks) // 2} fenced blocks: expected one holding the JSON object", text,
                            marks[2].start())
    opening, closing = marks
    if opening.group(1) not in _JSON_FENCE_LANGUAGES:
        raise UASParseError(f"the fenced block is marked {opening.group(1)!r}, expected json", text, opening.start())
    start, end = opening.start(), closing.start() + 3
    try:
        return parse_uas(text[start:end], normalize_synonyms)
    except UASParseError as err:  # re-positioned in the whole reply
        raise UASParseError(err.reason, text, start + err.pos, err.violations) from None


def error_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a dotted path: ('nonLinguisticEvents', 'discreteEvents', 0, 'label')
    → "nonLinguisticEvents.discreteEvents[0].label"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def get_field(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted field path of FIELD_PATHS in a UAS dict (e.g. "paralinguistics.emotion")."""
    if path not in FIELD_PATHS:
        raise KeyError(f"unknown UAS field path {path!r}; expected one of {', '.join(FIELD_PATHS)}")
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"UAS record has no field {path!r} (missing {part!r})")
        value = value[part]
    return value


def null_paralinguistics() -> dict[str, None]:
    """The paralinguistics object of a clip without human voice: all six fields null."""
    return dict.fromkeys(PARALINGUISTIC_KEYS)
