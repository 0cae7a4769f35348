"""xgrammar EBNF grammars generated from the UAS schema: the full record, a subset of fields, one option letter.

Everything the grammars spell (keys, categories) comes from the schema module, so the grammar can never drift
from the validator. A grammar is built once as a small tree of nodes (:class:`Grammar`) that gives both the EBNF
text for ``xgrammar.GrammarCompiler.compile_grammar`` and, for any prefix the grammar accepts, the shortest text
that completes it (:meth:`Grammar.completions`): the budget-aware decoder (``constrained.py``) uses it to close
the record before the token budget ends. The JSON Schema route of xgrammar lets raw control characters into
strings and ignores ``maxLength``, which breaks ``json.loads`` and lets a string run forever.

Rules the generated grammars follow:

- JSON objects carry exactly the schema's keys in the schema's order; no other key can be written.
- Whitespace: the JSON is compact, with one optional space after ``{``, ``:`` and ``,`` (so both
  ``{"a":1,"b":2}`` and the ``json.dumps`` default ``{"a": 1, "b": 2}`` are accepted) and nowhere else.
- A string is ``"`` + at most N characters + ``"``; a character is any code point except ``"``, ``\\`` and
  the control characters U+0000-U+001F, so no escape sequence is ever needed (a quotation mark in speech is
  written as another mark by the model). N per field is in :class:`GrammarLimits`. Labels and a non-null
  transcription have at least one character.
- With a word limit (``transcription_words`` / ``description_words``, set by the pipeline from the clip's
  duration) the string also excludes every whitespace character but the ASCII space, so ``len(text.split())``
  (what the validator's duration check counts) is the number of space-separated runs, and a transcription
  starts with a non-space character, so it is never blank. A context-free grammar cannot count words under a
  character limit, so the word limit is carried by :attr:`Grammar.word_limits` and enforced by the decoder
  (``constrained.BudgetedGrammarProcessor`` masks tokens that would start a word too many); the shortest
  completions of :class:`Grammar` respect it.
- Categorical fields are alternatives over their closed set, or ``null``.
- Logical consistency that a grammar can carry is carried: a ``null`` transcription (no human voice) forces
  all six paralinguistic fields to ``null``.
- Event lists hold at most ``max_events`` events each and, with ``total_events`` set, at most that many in
  both lists together (the validator's events-per-second check). Unique labels cannot be expressed in a
  context-free grammar; the pipeline drops repeated labels after parsing (see ``audio_to_uas``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from functools import cached_property

from uas_audio.schema import (
    CATEGORIES,
    EVENT_KEYS,
    FIELD_PATHS,
    NON_LINGUISTIC_EVENTS,
    PARALINGUISTIC_KEYS,
    PARALINGUISTICS,
    SOUND_EVENT_KEYS,
    TRANSCRIPTION,
)
from uas_audio.schema.validation import (
    DESCRIPTION_WORD_ALLOWANCE,
    EVENT_ALLOWANCE,
    MAX_DESCRIPTION_WORDS_PER_SECOND,
    MAX_EVENTS_PER_SECOND,
    MAX_WORDS_PER_SECOND,
    WORD_ALLOWANCE,
)

_DESCRIPTION, _DISCRETE, _CONTINUOUS = EVENT_KEYS
_LABEL, _CHARACTERISTIC = SOUND_EVENT_KEYS


@dataclass(frozen=True)
class GrammarLimits:
    """Longest string, in characters, the grammar lets the model write per field, and the longest event list.

    The defaults leave room for 30 s of fast speech (~90 words ~ 500 characters) and a one-sentence scene
    description, while bounding every output: see :func:`max_output_bytes`. ``transcription_words``,
    ``description_words`` and ``total_events`` (None: unbounded beyond the character limits) are set from a
    clip's duration by :meth:`for_duration`.
    """

    transcription: int = 512
    accent: int = 64
    prosody: int = 96
    timbre: int = 96
    description: int = 256
    label: int = 48
    characteristic: int = 96
    max_events: int = 4
    transcription_words: int | None = None
    description_words: int | None = None
    total_events: int | None = None

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is None and name in ("transcription_words", "description_words", "total_events"):
                continue
            if name == "total_events" and isinstance(value, int) and value == 0:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GrammarLimits.{name} must be a positive int, got {value!r}")

    def for_duration(self, duration_s: float, share: float = 1.0) -> GrammarLimits:
        """These limits tightened so that any record the grammar accepts passes the validator's duration checks
        (``uas_audio.schema.validation``) for a clip of ``duration_s`` seconds: at most
        ``MAX_WORDS_PER_SECOND·d + WORD_ALLOWANCE`` transcription words, ``MAX_EVENTS_PER_SECOND·d +
        EVENT_ALLOWANCE`` events and ``MAX_DESCRIPTION_WORDS_PER_SECOND·d + DESCRIPTION_WORD_ALLOWANCE``
        description words. ``share`` (0-1] is this window's part of a longer clip whose records are merged:
        the clip's word and event allowances are split so that the merged record stays within them."""
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        if not (math.isfinite(duration_s) and duration_s > 0):
            raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
        words = _floor(MAX_WORDS_PER_SECOND * duration_s + WORD_ALLOWANCE * share, share)
        events = _floor(MAX_EVENTS_PER_SECOND * duration_s + EVENT_ALLOWANCE * share, share)
        description = _floor(MAX_DESCRIPTION_WORDS_PER_SECOND * duration_s / share + DESCRIPTION_WORD_ALLOWANCE, share)
        cap = self.max_events * 2 if self.total_events is None else self.total_events
        return replace(
            self,
            transcription_words=max(1, min(words, self.transcription_words or words)),
            description_words=max(1, min(description, self.description_words or description)),
            total_events=max(0, min(events, cap)),
        )


def _floor(value: float, share: float) -> int:
    # A whole clip's limit is the validator's own float expression, floored; windows of a longer clip leave a
    # hair of margin so that their limits' float sum cannot round above the clip's.
    return math.floor(value) if share == 1.0 else math.floor(value - 1e-9)


# --------------------------------------------------------------------------------------------------- EBNF text


def ebnf_literal(text: str) -> str:
    """``text`` as JSON (ASCII-escaped) inside an EBNF string literal: backslashes and quotes escaped once for
    JSON and once more for EBNF, so the grammar matches exactly ``json.dumps(text)``."""
    return _ebnf_bytes(json.dumps(text, ensure_ascii=True))


def _ebnf_bytes(raw: str) -> str:
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rule_name(path: str) -> str:
    """A grammar rule name for a dotted field path (rule names are letters, digits, ``_``)."""
    return re.sub(r"[^0-9A-Za-z]", "_", path)


# One JSON string character: no quote, no backslash, no control character, no surrogate code point (xgrammar
# would otherwise accept their 3-byte encodings, which are not UTF-8). Written inline as a bounded
# repetition of one character class: xgrammar precomputes masks for that form (~0.02 ms per token), while a
# rule with alternatives (e.g. adding the escapes \" and \\) is matched at runtime (~100 ms per token).
_CHAR_CLASS = r'[^"\\\x00-\x1f\ud800-\udfff]'
# Text with counted words: no whitespace for ``str.split`` but the ASCII space; a word character: not that either.
_TEXT_CLASS = r'[^"\\\x00-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff]'
_WORD_CLASS = r'[^"\\\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff]'
_WS = b" "


# ----------------------------------------------------------------------------------------------- grammar nodes
# Each node knows its EBNF, its shortest text, and how to walk a prefix: ``walk(data, pos)`` returns the end
# positions where the node can finish inside ``data`` and the completions (text to append to ``data``) of the
# parses that reach the end of ``data`` inside the node. ``filler`` is the one character used to fill strings
# that need a minimum length.


class _Node:
    def ebnf(self) -> str:
        raise NotImplementedError

    def shortest(self, filler: bytes) -> bytes:
        raise NotImplementedError

    def walk(self, data: bytes, pos: int, filler: bytes) -> tuple[set[int], list[bytes]]:
        raise NotImplementedError


@dataclass(frozen=True)
class _Lit(_Node):
    text: bytes

    def ebnf(self) -> str:
        return _ebnf_bytes(self.text.decode("ascii"))

    def shortest(self, filler):
        return self.text

    def walk(self, data, pos, filler):
        rest = data[pos:pos + len(self.text)]
        if rest == self.text:
            return {pos + len(self.text)}, []
        if pos + len(rest) == len(data) and self.text.startswith(rest):
            return set(), [self.text[len(rest):]]
        return set(), []


_CONTINUATION = bytes(range(0x80, 0xC0))


def _chars(content: bytes) -> int:
    """Code points in UTF-8 ``content`` (a cut final character counts as one)."""
    return len(content.translate(None, _CONTINUATION))


def _utf8_tail(content: bytes) -> bytes:
    """Continuation bytes that complete a UTF-8 sequence cut at the end of ``content`` (empty when whole).
    0xBF (or the largest byte the lead allows) never makes a whitespace or control character."""
    for back in range(1, min(4, len(content)) + 1):
        byte = content[-back]
        if byte < 0x80:
            return b""
        if byte >= 0xC0:
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            missing = need - back
            if missing <= 0:
                return b""
            first = {0xED: 0x9F, 0xF4: 0x8F}.get(byte, 0xBF) if back == 1 else 0xBF
            return bytes([first] + [0xBF] * (missing - 1))
    return b""


@dataclass(frozen=True)
class _Chars(_Node):
    """String content: ``lo`` to ``hi`` string characters (the quotes are separate literals)."""

    lo: int
    hi: int

    def ebnf(self):
        return f"{_CHAR_CLASS}{{{self.lo},{self.hi}}}"

    def shortest(self, filler):
        return filler * self.lo

    def walk(self, data, pos, filler):
        end = data.find(b'"', pos)
        if end >= 0:
            count = _chars(data[pos:end])
            return ({end} if self.lo <= count <= self.hi else set()), []
        content = data[pos:]
        tail = _utf8_tail(content)
        count = _chars(content)
        if count > self.hi:
            return set(), []
        return {len(data)} if not tail and count >= self.lo else set(), [tail + filler * max(0, self.lo - count)]


@dataclass(frozen=True)
class _Text(_Node):
    """String content with counted words: up to ``hi`` characters, no whitespace but the space, at most
    ``words`` space-separated words (enforced by the decoder, see module docstring); with ``need_word`` the
    first character is no space (so there is at least one word)."""

    hi: int
    words: int
    need_word: bool

    def ebnf(self):
        if self.need_word:
            return f"{_WORD_CLASS} {_TEXT_CLASS}{{0,{self.hi - 1}}}"
        return f"{_TEXT_CLASS}{{0,{self.hi}}}"

    def shortest(self, filler):
        return filler if self.need_word else b""

    def walk(self, data, pos, filler):
        end = data.find(b'"', pos)
        content = data[pos:end] if end >= 0 else data[pos:]
        count = _chars(content)
        if count > self.hi or len(content.split()) > self.words:
            return set(), []
        empty = self.need_word and not content
        if end >= 0:
            return (set() if empty else {end}), []
        tail = _utf8_tail(content)
        return ({len(data)} if not tail and not empty else set()), [tail + (filler if empty else b"")]


@dataclass(frozen=True)
class _Seq(_Node):
    items: tuple[_Node, ...]

    def ebnf(self):
        return " ".join(_group(item) for item in self.items)

    def shortest(self, filler):
        return b"".join(item.shortest(filler) for item in self.items)

    def _rests(self, filler: bytes) -> list[bytes]:
        """The shortest text of the items after each index (cached per filler: the walk needs it every step)."""
        cache = self.__dict__.setdefault("_rest_cache", {})
        if filler not in cache:
            parts = [item.shortest(filler) for item in self.items]
            cache[filler] = [b"".join(parts[index + 1:]) for index in range(len(parts))]
        return cache[filler]

    def walk(self, data, pos, filler):
        states, cuts = {pos}, []
        rests = self._rests(filler)
        for index, item in enumerate(self.items):
            following: set[int] = set()
            for state in states:
                ends, item_cuts = item.walk(data, state, filler)
                following |= ends
                if item_cuts:
                    cuts += [c + rests[index] for c in item_cuts]
            states = following
            if not states:
                break
        return states, cuts


@dataclass(frozen=True)
class _Alt(_Node):
    """Alternatives; with ``prefer_first`` the first one is the shortest way through (``null`` rather than
    an invented string when a record must be closed)."""

    options: tuple[_Node, ...]
    prefer_first: bool = False

    def ebnf(self):
        return " | ".join(_group(o) for o in self.options)

    def shortest(self, filler):
        if self.prefer_first:
            return self.options[0].shortest(filler)
        return min((o.shortest(filler) for o in self.options), key=len)

    def walk(self, data, pos, filler):
        ends, cuts = set(), []
        for option in self.options:
            e, c = option.walk(data, pos, filler)
            ends |= e
            cuts += c
        return ends, cuts


@dataclass(frozen=True)
class _Opt(_Node):
    item: _Node

    def ebnf(self):
        return f"{_group(self.item)}?"

    def shortest(self, filler):
        return b""

    def walk(self, data, pos, filler):
        ends, cuts = self.item.walk(data, pos, filler)
        return ends | {pos}, cuts if pos < len(data) else []


@dataclass(frozen=True)
class _List(_Node):
    """``[`` then 0 to ``hi`` items separated by ``,`` + optional space, then ``]``."""

    item: _Node
    hi: int

    def ebnf(self):
        if self.hi == 0:
            return '"[" "]"'
        more = f' ( "," " "? {_group(self.item)} ){{0,{self.hi - 1}}}' if self.hi > 1 else ""
        return f'"[" ( {_group(self.item)}{more} )? "]"'

    def shortest(self, filler):
        return b"[]"

    def walk(self, data, pos, filler):
        sep = _Seq((_Lit(b","), _Opt(_Lit(_WS))))
        ends, cuts = _Lit(b"[").walk(data, pos, filler)
        if not ends:
            return set(), [c + b"]" for c in cuts]
        close = _Lit(b"]")
        start = ends.pop()
        states, count = {start}, 0
        done: set[int] = set()
        while states:
            following: set[int] = set()
            for state in states:
                e, c = close.walk(data, state, filler)
                done |= e
                cuts += c
                if count >= self.hi:
                    continue
                if count:
                    after_sep, sep_cuts = sep.walk(data, state, filler)
                    cuts += [s + self.item.shortest(filler) + b"]" for s in sep_cuts]
                else:
                    after_sep = {state}
                for s in after_sep:
                    e, c = self.item.walk(data, s, filler)
                    following |= e
                    cuts += [x + b"]" for x in c]
            states, count = following, count + 1
        return done, cuts


@dataclass(frozen=True)
class _Ref(_Node):
    """A named rule: ``name`` in the EBNF, its body emitted once by :class:`Grammar`."""

    name: str
    body: _Node

    def ebnf(self):
        return self.name

    def shortest(self, filler):
        cache = self.__dict__.setdefault("_shortest_cache", {})
        if filler not in cache:
            cache[filler] = self.body.shortest(filler)
        return cache[filler]

    def walk(self, data, pos, filler):
        return self.body.walk(data, pos, filler)


def _group(node: _Node) -> str:
    text = node.ebnf()
    return f"( {text} )" if isinstance(node, (_Seq, _Alt)) else text


def _rules(node: _Node, found: dict[str, _Node]) -> None:
    if isinstance(node, _Ref):
        if node.name in found:
            return
        found[node.name] = node.body
        _rules(node.body, found)
        return
    for child in (getattr(node, "items", None) or getattr(node, "options", None) or ()):
        _rules(child, found)
    for attr in ("item", "body"):
        if isinstance(getattr(node, attr, None), _Node):
            _rules(getattr(node, attr), found)


class Grammar:
    """A grammar over UTF-8 text: its EBNF (``ebnf``) and the shortest completions of any prefix it accepts."""

    def __init__(self, root: _Node):
        self.root = root

    @cached_property
    def word_limits(self) -> tuple[tuple[bytes, int], ...]:
        """(``"key":`` as written, most words) of every string whose words the decoder must count."""
        found: dict[bytes, int] = {}

        def visit(node: _Node, key: bytes | None) -> None:
            if isinstance(node, _Seq):
                for item in node.items:
                    if isinstance(item, _Seq) and item.items and isinstance(item.items[0], _Lit) \
                            and item.items[0].text.endswith(b'":'):
                        key = item.items[0].text
                    else:
                        visit(item, key)
            elif isinstance(node, _Text) and key is not None:
                found[key] = node.words
            else:
                for child in (getattr(node, "options", None) or ()):
                    visit(child, key)
                for attr in ("item", "body"):
                    if isinstance(getattr(node, attr, None), _Node):
                        visit(getattr(node, attr), key)

        visit(self.root, None)
        return tuple(found.items())

    @cached_property
    def ebnf(self) -> str:
        rules: dict[str, _Node] = {}
        _rules(self.root, rules)
        lines = [f"root ::= {self.root.ebnf()}"] + [f"{name} ::= {body.ebnf()}" for name, body in rules.items()]
        return "\n".join(lines) + "\n"

    def shortest(self, filler: bytes = b"a") -> bytes:
        """The shortest text the grammar accepts (strings that need characters filled with ``filler``)."""
        return self.root.shortest(filler)

    def completions(self, prefix: bytes, filler: bytes = b"a") -> list[bytes]:
        """The shortest text that completes ``prefix`` along every parse of it (``b""`` among them when
        ``prefix`` is already complete); empty when ``prefix`` is not a prefix of the grammar."""
        ends, cuts = self.root.walk(prefix, 0, filler)
        return ([b""] if len(prefix) in ends else []) + cuts

    def __str__(self) -> str:
        return self.ebnf


def _string(lo: int, hi: int) -> _Node:
    return _Seq((_Lit(b'"'), _Chars(lo, hi), _Lit(b'"')))


def _text(hi: int, words: int, need_word: bool) -> _Node:
    return _Seq((_Lit(b'"'), _Text(hi, words, need_word), _Lit(b'"')))


def _key(name: str) -> _Node:
    """``"name":`` followed by the optional space."""
    return _Seq((_Lit(json.dumps(name).encode() + b":"), _WS_NODE))


_WS_NODE = _Ref("ws", _Opt(_Lit(_WS)))
_NULL = _Lit(b"null")


def _object(members: list[tuple[str, _Node]]) -> _Node:
    """An object with exactly these (key, value) members in order."""
    items: list[_Node] = [_Lit(b"{"), _WS_NODE]
    for index, (key, value) in enumerate(members):
        if index:
            items += [_Lit(b","), _WS_NODE]
        items += [_key(key), value]
    items.append(_Lit(b"}"))
    return _Seq(tuple(items))


def _categorical(values: tuple[str, ...]) -> _Node:
    return _Alt(tuple(_Lit(json.dumps(v).encode()) for v in values) + (_NULL,))


class _Builder:
    """Builds the nodes of the UAS fields for one set of limits."""

    def __init__(self, limits: GrammarLimits):
        self.limits = limits

    def transcription_string(self) -> _Node:
        lim = self.limits
        if lim.transcription_words is not None:
            return _Ref("transcription_text", _text(lim.transcription, lim.transcription_words, True))
        return _Ref("transcription_text", _string(1, lim.transcription))

    def paralinguistic(self, key: str) -> _Node:
        if key in CATEGORIES:
            body = _categorical(CATEGORIES[key])
        else:
            body = _Alt((_NULL, _string(0, getattr(self.limits, key))), prefer_first=True)
        return _Ref(_rule_name(f"{PARALINGUISTICS}.{key}"), body)

    def event(self) -> _Node:
        return _Ref("event", _object([(_LABEL, _string(1, self.limits.label)),
                                      (_CHARACTERISTIC, _string(0, self.limits.characteristic))]))

    def event_list(self, key: str, most: int | None = None) -> _Node:
        hi = self.limits.max_events if most is None else min(most, self.limits.max_events)
        return _Ref(f"{_rule_name(f'{NON_LINGUISTIC_EVENTS}.{key}')}_{hi}", _List(self.event(), hi))

    def description(self) -> _Node:
        lim = self.limits
        if lim.description_words is not None:
            body = _text(lim.description, lim.description_words, False)
        else:
            body = _string(0, lim.description)
        return _Ref(_rule_name(f"{NON_LINGUISTIC_EVENTS}.{_DESCRIPTION}"), body)

    def leaf(self, path: str) -> _Node:
        """The node for one dotted field path."""
        if path == TRANSCRIPTION:
            return _Ref(TRANSCRIPTION, _Alt((_NULL, self.transcription_string()), prefer_first=True))
        group, key = path.split(".", 1)
        if group == PARALINGUISTICS:
            return self.paralinguistic(key)
        if key == _DESCRIPTION:
            return self.description()
        return self.event_list(key)

    def events(self, keys: tuple[str, ...] = EVENT_KEYS) -> list[tuple[str, _Node]]:
        """Members of the events object for ``keys``; with ``total_events`` and both lists present, the lists
        together hold at most that many events (one alternative per split between the two lists)."""
        total = self.limits.total_events
        if total is None:
            return [(k, self.leaf(f"{NON_LINGUISTIC_EVENTS}.{k}")) for k in keys]
        if not {_DISCRETE, _CONTINUOUS} <= set(keys):
            return [(k, self.description() if k == _DESCRIPTION else self.event_list(k, total)) for k in keys]
        members = [(k, self.leaf(f"{NON_LINGUISTIC_EVENTS}.{k}")) for k in keys if k == _DESCRIPTION]
        splits = []
        for first in range(min(total, self.limits.max_events) + 1):
            splits.append(_Seq((_key(_DISCRETE), self.event_list(_DISCRETE, first), _Lit(b","), _WS_NODE,
                                _key(_CONTINUOUS), self.event_list(_CONTINUOUS, total - first))))
        lists = _Ref("event_lists", _Alt(tuple(splits)))
        return members + [("", lists)]


def _object_with_lists(members: list[tuple[str, _Node]]) -> _Node:
    """``_object`` where a member with an empty key is spliced in as written (the joint event lists)."""
    items: list[_Node] = [_Lit(b"{"), _WS_NODE]
    for index, (key, value) in enumerate(members):
        if index:
            items += [_Lit(b","), _WS_NODE]
        items += [value] if key == "" else [_key(key), value]
    items.append(_Lit(b"}"))
    return _Seq(tuple(items))


def uas_grammar_spec(limits: GrammarLimits | None = None) -> Grammar:
    """The full-record grammar as a :class:`Grammar` (EBNF and shortest completions)."""
    b = _Builder(limits or GrammarLimits())
    para = [(k, b.paralinguistic(k)) for k in PARALINGUISTIC_KEYS]
    events = _Ref(NON_LINGUISTIC_EVENTS, _object_with_lists(b.events()))
    voiced = _Ref("paralinguistics", _object(para))
    silent = _Ref("paralinguistics_null", _object([(k, _NULL) for k in PARALINGUISTIC_KEYS]))
    transcription = b.transcription_string()
    with_voice = _object([(TRANSCRIPTION, transcription), (PARALINGUISTICS, voiced), (NON_LINGUISTIC_EVENTS, events)])
    without_voice = _object([(TRANSCRIPTION, _NULL), (PARALINGUISTICS, silent), (NON_LINGUISTIC_EVENTS, events)])
    return Grammar(_Alt((without_voice, with_voice), prefer_first=True))


def uas_grammar(limits: GrammarLimits | None = None) -> str:
    """EBNF for a complete UAS record; every string the grammar accepts parses with ``json.loads`` into a
    record that ``UAS.model_validate`` accepts, except for repeated event labels (see module docstring)."""
    return uas_grammar_spec(limits).ebnf


def subset_grammar_spec(fields: list[str] | tuple[str, ...], limits: GrammarLimits | None = None) -> Grammar:
    """The subset grammar (see :func:`subset_grammar`) as a :class:`Grammar`."""
    paths = expand_fields(fields)
    b = _Builder(limits or GrammarLimits())
    groups: dict[str, list[str]] = {}
    for path in paths:
        group, _, key = path.partition(".")
        groups.setdefault(group, [])
        if key:
            groups[group].append(key)
    members: list[tuple[str, _Node]] = []
    for group, keys in groups.items():
        if not keys:
            members.append((group, b.leaf(group)))
        elif group == NON_LINGUISTIC_EVENTS:
            members.append((group, _Ref(_rule_name(group) + "_subset", _object_with_lists(b.events(tuple(keys))))))
        else:
            members.append((group, _Ref(_rule_name(group) + "_subset",
                                        _object([(k, b.leaf(f"{group}.{k}")) for k in keys]))))
    return Grammar(_object(members))


def subset_grammar(fields: list[str] | tuple[str, ...], limits: GrammarLimits | None = None) -> str:
    """EBNF for a JSON object holding only ``fields`` (dotted paths from ``FIELD_PATHS``), nested as in the
    record and in schema order, e.g. ``["paralinguistics.emotion"]`` → ``{"paralinguistics":{"emotion":…}}``.
    A group name (``"paralinguistics"``) stands for all its fields."""
    return subset_grammar_spec(fields, limits).ebnf


def choice_grammar_spec(num_options: int) -> Grammar:
    """The one-letter grammar (see :func:`choice_grammar`) as a :class:`Grammar`."""
    if not 1 <= num_options <= 26:
        raise ValueError(f"a choice needs between 1 and 26 options, got {num_options}")
    return Grammar(_Alt(tuple(_Lit(chr(ord("A") + i).encode()) for i in range(num_options))))


def choice_grammar(num_options: int) -> str:
    """EBNF for a single option letter among the first ``num_options`` letters A–Z."""
    return choice_grammar_spec(num_options).ebnf


def expand_fields(fields: list[str] | tuple[str, ...]) -> list[str]:
    """Requested field names as dotted leaf paths in schema order; a group name expands to its fields.

    Raises ValueError naming the unknown field and the known ones."""
    if isinstance(fields, str):
        fields = [fields]
    if not fields:
        raise ValueError("fields must name at least one UAS field")
    wanted: set[str] = set()
    for name in fields:
        matches = [p for p in FIELD_PATHS if p == name or p.startswith(name + ".")]
        if not matches:
            raise ValueError(f"unknown UAS field {name!r}; known fields: {', '.join(FIELD_PATHS)}")
        wanted.update(matches)
    return [p for p in FIELD_PATHS if p in wanted]


def max_output_bytes(fields: list[str] | tuple[str, ...] | None = None, limits: GrammarLimits | None = None) -> int:
    """An upper bound on the UTF-8 bytes of any string the full (``fields=None``) or subset grammar accepts.

    Every token writes at least one byte, so this plus one (the end token) bounds the tokens needed to finish:
    a ``max_new_tokens`` at least this large never makes the decoder close the record early.
    """
    lim = limits or GrammarLimits()
    per_char = 4  # a code point is at most 4 UTF-8 bytes

    def string(n: int) -> int:
        return 2 + per_char * n

    def leaf(path: str) -> int:
        if path == TRANSCRIPTION:
            return string(lim.transcription)
        group, key = path.split(".", 1)
        if group == PARALINGUISTICS:
            if key in CATEGORIES:
                return max(len(json.dumps(v)) for v in CATEGORIES[key] + ("null",))
            return string(getattr(lim, key))
        if key == _DESCRIPTION:
            return string(lim.description)
        event = 2 + sum(len(json.dumps(k)) + 2 for k in SOUND_EVENT_KEYS) + 2 + string(lim.label) + string(lim.characteristic)
        return 2 + lim.max_events * (event + 2)

    paths = list(FIELD_PATHS) if fields is None else expand_fields(fields)
    total = 0
    for path in paths:
        total += leaf(path) + sum(len(json.dumps(part)) + 4 for part in path.split("."))  # key, ":", ws, ","
    return total + 8 * len(paths)  # braces and optional spaces, generously
