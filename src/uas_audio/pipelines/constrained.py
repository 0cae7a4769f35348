"""Grammar-constrained generation with xgrammar as a transformers ``LogitsProcessor``, within a token budget.

Four things make a constrained output a complete, valid record whatever the weights, tokenizer or sampler:

- **The decoder's own view of every token.** :class:`TokenTable` holds the exact bytes each token writes
  (xgrammar's decoding of byte-level BPE and SentencePiece vocabularies; WordPiece continuation tokens without
  their ``##``, word-initial ones without the space that ``tokenizer.decode`` would insert). xgrammar compiles
  the grammar against this table and the output text is decoded from it (:meth:`TokenTable.decode`), so the
  text returned is exactly the text the grammar accepted. Special and added tokens (audio placeholders, audio
  codes, chat markers) write nothing and are never allowed; only the stop tokens, once the grammar is complete.
- **A budget-aware logits processor.** :class:`BudgetedGrammarProcessor` knows ``max_new_tokens``. While the
  tokens left exceed what the shortest completion of the record needs by a safety margin, it only applies
  xgrammar's mask. Near the end it checks the most likely allowed tokens against the budget (the grammar's
  shortest completion of the text so far, segmented into the fewest tokens) and, when none fits, forces the
  next token of the shortest completion, so strings and lists close in time.
- **Checks a grammar cannot carry, at decode time.** The processor counts words inside strings with a word
  limit (``Grammar.word_limits``: the transcription and description words the clip's duration allows) and masks
  tokens that would start one too many; :class:`TimbreGenderGuard` masks tokens that would make the timbre
  contradict the gender written before it.
- **A budget floor checked before generation.** :func:`minimal_budget` is the token count of the shortest
  record plus the end token; :func:`check_budget` raises :class:`BudgetTooSmallError` naming it.

Compiling a grammar against a vocabulary costs tens of milliseconds; it is done once per (tokenizer vocabulary,
model vocabulary size, stop tokens, grammar text) and cached for the process. Processors keep per-row matcher
state, so a fresh one is made for every ``generate`` call.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
import xgrammar as xgr
from transformers import LogitsProcessor

from .grammar import Grammar

_lock = threading.Lock()
_tokenizer_fingerprints: dict[int, tuple[Any, str, int]] = {}  # id(tokenizer) -> (tokenizer, hash, size)
_tables: dict[tuple, TokenTable] = {}
_compiled: dict[tuple, xgr.CompiledGrammar] = {}
# Longest token (bytes) the completion segmenter tries; completions are JSON punctuation, keys and ``null``.
_MAX_PIECE = 48
_FILLERS = (b"a", b"e", b"x", b"o", b"i", b"0", b"1")


class BudgetTooSmallError(ValueError):
    """``max_new_tokens`` cannot hold the shortest output the grammar accepts."""


def _fingerprint(tokenizer) -> str:
    """A hash of the tokenizer's vocabulary and special tokens: two tokenizer objects with the same
    vocabulary share compiled grammars, a tokenizer with added tokens does not."""
    cached = _tokenizer_fingerprints.get(id(tokenizer))
    if cached is not None and cached[0] is tokenizer and cached[2] == len(tokenizer):
        return cached[1]
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = json.loads(backend.to_str()).get("decoder") if backend is not None else None
    payload = json.dumps([vocab, sorted(tokenizer.all_special_tokens), decoder], ensure_ascii=False)
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    _tokenizer_fingerprints[id(tokenizer)] = (tokenizer, digest, len(tokenizer))
    return digest


def model_vocab_size(model) -> int:
    """Rows of the model's output layer: the width of the logits the grammar mask must cover (it may exceed
    the tokenizer's vocabulary when the embedding matrix is padded)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.shape[0])
    return int(model.config.get_text_config().vocab_size)


def stop_token_ids(model, tokenizer) -> list[int]:
    """Token ids that end a constrained output: the model's generation ``eos_token_id`` (one or several) and the
    tokenizer's end token, so that the grammar's end always coincides with a token that stops ``generate``."""
    ids: list[int] = []
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if config_eos is not None:
        ids += list(config_eos) if isinstance(config_eos, (list, tuple)) else [config_eos]
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("constrained decoding needs an end token: neither the model's generation_config nor the "
                         "tokenizer defines eos_token_id")
    return sorted(set(int(i) for i in ids))


def _backend_model(tokenizer) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return json.loads(backend.to_str()) if backend is not None else {}


def _token_bytes(tokenizer, vocab_size: int, stop_ids: list[int]) -> list[bytes]:
    """The bytes each token id writes into the output; ``b""`` for special, added and padding ids."""
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_ids)
    table = [bytes(b) for b in info.decoded_vocab][:vocab_size]
    table += [b""] * (vocab_size - len(table))
    spec = _backend_model(tokenizer)
    model = spec.get("model") or {}
    if model.get("type") == "WordPiece":
        # WordPiece decoding joins words with spaces and strips the continuation prefix; under a grammar the
        # JSON decides every character, so a token writes its text alone: "##ing" -> "ing", "word" -> "word".
        prefix = model.get("continuing_subword_prefix") or "##"
        for token, index in tokenizer.get_vocab().items():
            if index < vocab_size:
                table[index] = (token[len(prefix):] if token.startswith(prefix) else token).encode("utf-8")
    elif "\u2581".encode() in b"".join(table[:4096]) and "Metaspace" in json.dumps(spec.get("decoder")):
        table = [t.replace("\u2581".encode(), b" ") for t in table]  # xgrammar kept the metaspace mark
    hidden = set(getattr(tokenizer, "added_tokens_decoder", {}) or {}) | set(tokenizer.all_special_ids)
    for index in list(hidden) + list(range(len(tokenizer), vocab_size)):
        if 0 <= index < vocab_size:
            table[index] = b""
    for index in stop_ids:
        if 0 <= index < vocab_size:
            table[index] = b""
    return table


class TokenTable:
    """The bytes every token writes, the stop tokens, and the fewest tokens that spell a given text."""

    def __init__(self, pieces: list[bytes], stop_ids: list[int]):
        self.pieces = pieces
        self.stop_ids = sorted(stop_ids)
        self.vocab_size = len(pieces)
        self.info = xgr.TokenizerInfo(pieces, xgr.VocabType.RAW, vocab_size=len(pieces), stop_token_ids=self.stop_ids)
        self.compiler = xgr.GrammarCompiler(self.info)
        self._by_bytes: dict[bytes, int] = {}
        self.ids_by_bytes: dict[bytes, list[int]] = defaultdict(list)  # every id, duplicates included
        for index, piece in enumerate(pieces):
            if piece and len(piece) <= _MAX_PIECE:
                self.ids_by_bytes[piece].append(index)
                self._by_bytes.setdefault(piece, index)
        self.filler = next((f for f in _FILLERS if f in self._by_bytes), None)
        if self.filler is None:
            raise ValueError("constrained decoding: the tokenizer has no single-token letter or digit to fill "
                             f"strings with (tried {[f.decode() for f in _FILLERS]})")
        self._segments: dict[bytes, list[int] | None] = {}
        # Words each token starts inside a string (its text up to a closing quote), after a space or after a
        # word character: what a word limit is checked against.
        after_space, after_word = [], []
        for piece in pieces:
            text = piece.split(b'"')[0]
            starts = sum(1 for i, byte in enumerate(text) if byte != 0x20 and i > 0 and text[i - 1] == 0x20)
            first = int(bool(text) and text[0] != 0x20)
            after_space.append(starts + first)
            after_word.append(starts)
        self.words_after_space = torch.tensor(after_space)
        self.words_after_word = torch.tensor(after_word)

    def decode(self, ids: Sequence[int]) -> str:
        """The text the tokens write, up to the first stop token: exactly what the grammar matched."""
        out = bytearray()
        stops = set(self.stop_ids)
        for token in ids:
            token = int(token)
            if token in stops:
                break
            if 0 <= token < self.vocab_size:
                out += self.pieces[token]
        return out.decode("utf-8", errors="replace")

    def segment(self, text: bytes) -> list[int] | None:
        """The fewest tokens whose bytes concatenate to ``text`` (None when no tokens do)."""
        cached = self._segments.get(text)
        if cached is not None or text in self._segments:
            return cached
        n = len(text)
        best: list[tuple[int, int] | None] = [None] * (n + 1)  # (tokens to reach i, last token)
        best[0] = (0, -1)
        by_bytes = self._by_bytes
        for i in range(n):
            if best[i] is None:
                continue
            count = best[i][0] + 1
            for j in range(i + 1, min(n, i + _MAX_PIECE) + 1):
                token = by_bytes.get(text[i:j])
                if token is not None and (best[j] is None or best[j][0] > count):
                    best[j] = (count, token)
        if best[n] is None:
            result = None
        else:
            result, j = [], n
            while j:
                token = best[j][1]
                result.append(token)
                j -= len(self.pieces[token])
            result.reverse()
        if len(self._segments) > 4096:
            self._segments.clear()
        self._segments[text] = result
        return result

    def compile(self, grammar: str) -> xgr.CompiledGrammar:
        key = (id(self), grammar)
        compiled = _compiled.get(key)
        if compiled is None:
            with _lock:
                compiled = _compiled.get(key)
                if compiled is None:
                    compiled = _compiled[key] = self.compiler.compile_grammar(grammar)
        return compiled


def token_table(tokenizer, vocab_size: int, stop_ids: list[int]) -> TokenTable:
    """The :class:`TokenTable` of this tokenizer for a model with ``vocab_size`` logits (cached)."""
    key = (_fingerprint(tokenizer), int(vocab_size), tuple(sorted(stop_ids)))
    table = _tables.get(key)
    if table is None:
        with _lock:
            table = _tables.get(key)
            if table is None:
                table = _tables[key] = TokenTable(_token_bytes(tokenizer, int(vocab_size), list(stop_ids)),
                                                  list(stop_ids))
    return table


def compile_grammar(tokenizer, grammar: str | Grammar, vocab_size: int,
                    stop_ids: list[int] | None = None) -> xgr.CompiledGrammar:
    """The grammar compiled for this tokenizer and a model output of ``vocab_size`` logits; cached, so the second
    call with the same vocabulary and grammar text is a dictionary lookup. ``stop_ids`` defaults to the
    tokenizer's end token."""
    if stop_ids is None:
        if tokenizer.eos_token_id is None:
            raise ValueError("compile_grammar: pass stop_ids (the tokenizer has no eos_token_id)")
        stop_ids = [tokenizer.eos_token_id]
    return token_table(tokenizer, vocab_size, stop_ids).compile(str(grammar))


def clear_cache() -> None:
    """Forget every token table and compiled grammar (benchmarks use it to time a first compile)."""
    with _lock:
        _tokenizer_fingerprints.clear()
        _tables.clear()
        _compiled.clear()


def minimal_budget(grammar: Grammar, table: TokenTable) -> int:
    """New tokens the shortest output of ``grammar`` takes with this vocabulary, the end token included."""
    tokens = table.segment(grammar.shortest(table.filler))
    if tokens is None:
        raise ValueError("constrained decoding: this tokenizer cannot write the grammar's shortest output "
                         f"{grammar.shortest(table.filler)[:80]!r}")
    return len(tokens) + 1


def check_budget(grammar: Grammar, table: TokenTable, max_new_tokens: int) -> None:
    """Raise :class:`BudgetTooSmallError` when ``max_new_tokens`` cannot hold the grammar's shortest output."""
    need = minimal_budget(grammar, table)
    if max_new_tokens < need:
        raise BudgetTooSmallError(
            f"max_new_tokens={max_new_tokens} cannot hold a complete constrained output: the shortest one takes "
            f"{need} tokens with this tokenizer (end token included); pass max_new_tokens >= {need}")


class TimbreGenderGuard:
    """Keeps a generated timbre from contradicting the gender written before it (the validator's
    logical-consistency check): inside the ``timbre`` string of a ``Male`` (``Female``) speaker, a token that
    would complete a feminine (masculine) term of ``uas_audio.schema.validation`` as a whole word is masked.

    The rule is stricter than the validator's: a term at the end of the text so far counts as complete (the
    next character may be the closing quote) and "not <term>" is not excused. Candidates are found through an
    index of the tokens that start with the tail of a term or contain a whole term (ASCII lower case), then
    checked with a regular expression, so a step costs little even with a large vocabulary.
    """

    _KEYS = (b'"gender":', b'"timbre":')

    def __init__(self, table: TokenTable):
        from uas_audio.schema.validation import FEMININE_TIMBRE_TERMS, MASCULINE_TIMBRE_TERMS

        self.table = table
        self.terms = {"Male": FEMININE_TIMBRE_TERMS, "Female": MASCULINE_TIMBRE_TERMS}
        self.patterns = {
            gender: re.compile(r"\b(?:" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + r")\b",
                               re.IGNORECASE)
            for gender, terms in self.terms.items()}
        self.longest = max(len(t) for terms in self.terms.values() for t in terms)
        self._index: dict[str, tuple[dict[tuple[str, int], list[int]], list[int]]] = {}

    def index(self, gender: str) -> tuple[dict[tuple[str, int], list[int]], list[int]]:
        """(term, k) -> tokens whose text starts with ``term[k:]``; and the tokens containing a whole term."""
        if gender in self._index:
            return self._index[gender]
        terms = self.terms[gender]
        by_first: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for token, piece in enumerate(self.table.pieces):
            text = piece.split(b'"')[0].decode("utf-8", "ignore").lower()
            if text:
                by_first[text[0]].append((token, text))
        starts: dict[tuple[str, int], list[int]] = {}
        contains: set[int] = set()
        for term in terms:
            for k in range(1, len(term)):
                starts[(term, k)] = [t for t, text in by_first.get(term[k], ()) if text.startswith(term[k:])]
        for token, piece in enumerate(self.table.pieces):
            text = piece.split(b'"')[0].decode("utf-8", "ignore").lower()
            if any(term in text for term in terms):
                contains.add(token)
        self._index[gender] = (starts, sorted(contains))
        return self._index[gender]

    def state(self, text: bytes) -> tuple[str, str] | None:
        """(gender, timbre so far) while ``text`` ends inside the timbre string of a gendered speaker."""
        at = text.find(self._KEYS[1])
        if at < 0:
            return None
        start = at + len(self._KEYS[1])
        start += text[start:start + 1] == b" "
        if text[start:start + 1] != b'"' or b'"' in text[start + 1:]:
            return None
        g = text.find(self._KEYS[0])
        value = text[g + len(self._KEYS[0]):g + len(self._KEYS[0]) + 10].lstrip(b" ")
        gender = "Male" if value.startswith(b'"Male"') else "Female" if value.startswith(b'"Female"') else None
        if gender is None:
            return None
        return gender, text[start + 1:].decode("utf-8", "ignore")

    def banned(self, text: bytes, allowed: torch.Tensor) -> list[int]:
        """Tokens (among the ``allowed`` boolean mask) that would make the timbre contradict the gender."""
        state = self.state(text)
        if state is None:
            return []
        gender, timbre = state
        starts, contains = self.index(gender)
        low = timbre.lower()
        candidates = set(contains)
        for term in self.terms[gender]:
            for k in range(1, len(term)):
                if low.endswith(term[:k]) and (len(low) == k or not (low[-k - 1].isalnum() or low[-k - 1] == "_")):
                    candidates.update(starts[(term, k)])
        tail = timbre[-(self.longest + 1):]
        pattern = self.patterns[gender]
        banned = []
        for token in candidates:
            if not allowed[token]:
                continue
            window = tail + self.table.pieces[token].split(b'"')[0].decode("utf-8", "ignore")
            if any(m.end() > len(tail) for m in pattern.finditer(window)):
                banned.append(token)
        return banned


def _growth_bound(grammar: Grammar, table: TokenTable) -> int:
    """How many tokens one token can add to the shortest completion, at most: it may open list items (one per
    ``{`` or ``,`` it writes) and start the longest categorical value or a multi-byte character."""
    opens = max((p.count(b"{") + p.count(b",") for p in table.pieces), default=1)
    event = b',{"label":"' + table.filler + b'","characteristic":""}'
    event_tokens = len(table.segment(event) or event)
    return max(1, opens) * event_tokens + 16


class BudgetedGrammarProcessor(LogitsProcessor):
    """Constrains each batch row to its grammar and closes the output before ``max_new_tokens`` runs out.

    ``grammars``: one :class:`Grammar` for every row or one per row. ``candidates``: how many of the most
    likely allowed tokens are checked against the budget once it is tight (1 suffices for greedy decoding).
    The check needs the remaining budget, so the processor is given ``max_new_tokens`` (or ``max_length``,
    counted from the prompt length it sees first).
    """

    def __init__(self, table: TokenTable, grammars: Grammar | Sequence[Grammar], max_new_tokens: int | None = None,
                 max_length: int | None = None, candidates: int = 8, guard: TimbreGenderGuard | None = None):
        if max_new_tokens is None and max_length is None:
            raise ValueError("BudgetedGrammarProcessor needs max_new_tokens or max_length")
        self.table = table
        self.grammars = [grammars] if isinstance(grammars, Grammar) else list(grammars)
        self.compiled = [table.compile(g.ebnf) for g in self.grammars]
        self.max_new_tokens = max_new_tokens
        self.max_length = max_length
        self.candidates = max(1, int(candidates))
        self.guard = guard
        self.growth = max(_growth_bound(g, table) for g in self.grammars)
        self.horizon = max(len(g.shortest(table.filler)) for g in self.grammars) + 2 * self.growth + 32
        self.matchers: list[xgr.GrammarMatcher] = []
        self.texts: list[bytearray] = []
        self.rows: list[int] = []  # which grammar each row follows
        self.prompt_length = 0
        self.bitmask = None
        self.forced_steps = 0

    def _start(self, input_ids: torch.LongTensor) -> None:
        batch = input_ids.shape[0]
        if len(self.grammars) not in (1, batch):
            raise ValueError(f"{len(self.grammars)} grammars for a batch of {batch} rows")
        self.rows = [0 if len(self.grammars) == 1 else i for i in range(batch)]
        self.matchers = [xgr.GrammarMatcher(self.compiled[r]) for r in self.rows]
        self.texts = [bytearray() for _ in range(batch)]
        self.word_state = [{} for _ in range(batch)]  # key -> content start, or -1 once the string closed
        self.prompt_length = input_ids.shape[1]
        if self.max_new_tokens is None:
            self.max_new_tokens = self.max_length - self.prompt_length
        self.bitmask = xgr.allocate_token_bitmask(batch, self.table.vocab_size)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[-1] != self.table.vocab_size:
            raise ValueError(
                f"the grammar was compiled for {self.table.vocab_size} logits but the model produced "
                f"{scores.shape[-1]}; compile with vocab_size=model_vocab_size(model)")
        if not self.matchers:
            self._start(input_ids)
        else:
            for row, matcher in enumerate(self.matchers):
                if matcher.is_terminated():
                    continue
                token = int(input_ids[row, -1])
                if not matcher.accept_token(token):
                    raise RuntimeError(f"row {row}: token {token} was generated outside the grammar")
                self.texts[row] += self.table.pieces[token]
        remaining = self.max_new_tokens - (input_ids.shape[1] - self.prompt_length)
        scores, device = _apply_grammar_masks(self.matchers, self.bitmask, scores)
        for row, matcher in enumerate(self.matchers):
            if not matcher.is_terminated() and self.grammars[self.rows[row]].word_limits:
                self._limit_words(row, scores)
        if self.guard is not None:
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_terminated() and self.texts[row].find(b'"timbre":') >= 0:
                    banned = self.guard.banned(bytes(self.texts[row]), torch.isfinite(scores[row]))
                    if banned:
                        scores[row, banned] = float("-inf")
        if remaining <= self.horizon:
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_terminated():
                    self._fit_budget(row, scores, remaining)
        return scores.to(device)

    def _limit_words(self, row: int, scores: torch.Tensor) -> None:
        """Inside a string with a word limit, mask the tokens that would start a word too many."""
        text = self.texts[row]
        state = self.word_state[row]
        for key, limit in self.grammars[self.rows[row]].word_limits:
            start = state.get(key)
            if start == -1:
                continue
            if start is None:
                at = text.find(key)
                if at < 0:
                    continue
                value = at + len(key)
                value += text[value:value + 1] == b" "
                if value >= len(text):
                    continue
                if text[value] != 0x22:  # null: no string to count
                    state[key] = -1
                    continue
                start = state[key] = value + 1
            content = bytes(text[start:])
            if b'"' in content:
                state[key] = -1
                continue
            left = limit - len(content.split())
            starts = self.table.words_after_space if not content or content.endswith(b" ") else \
                self.table.words_after_word
            scores[row, starts.to(scores.device) > left] = float("-inf")

    def _need(self, row: int, text: bytes, allowed: torch.Tensor | None = None) -> tuple[int, int] | None:
        """Tokens the shortest completion of ``text`` takes (end token included) and its first token; with
        ``allowed`` (a boolean mask of this step's logits), the first token is one the mask allows. (xgrammar
        0.2.9's mask can leave out a token that its matcher accepts, e.g. ``otion`` after ``"em`` with a small
        WordPiece vocabulary, so the forced token is chosen among the allowed ones.)"""
        grammar = self.grammars[self.rows[row]]
        best = None
        completions = sorted(set(grammar.completions(text, self.table.filler)))  # sorted: the same choice every run
        for completion in completions:
            if not completion:
                return 1, self.table.stop_ids[0]
            if allowed is None:
                tokens = self.table.segment(completion)
                if tokens is not None and (best is None or len(tokens) + 1 < best[0]):
                    best = (len(tokens) + 1, tokens[0])
                continue
            for length in range(1, min(len(completion), _MAX_PIECE) + 1):
                first = next((i for i in self.table.ids_by_bytes.get(completion[:length], ()) if allowed[i]), None)
                if first is None:
                    continue
                rest = self.table.segment(completion[length:]) if length < len(completion) else []
                if rest is not None and (best is None or len(rest) + 2 < best[0]):
                    best = (len(rest) + 2, first)
        return best

    def _fit_budget(self, row: int, scores: torch.Tensor, remaining: int) -> None:
        text = bytes(self.texts[row])
        now = self._need(row, text, torch.isfinite(scores[row]))
        if now is None:
            raise RuntimeError(f"row {row}: the text so far is no prefix of the grammar: {text[-80:]!r}")
        need, forced = now
        if need + self.growth + 1 <= remaining:
            return  # no single token can push the shortest completion past the budget
        row_scores = scores[row]
        allowed = torch.isfinite(row_scores).sum().item()
        order = torch.topk(row_scores, min(self.candidates, int(allowed))).indices.tolist() if allowed else []
        keep = []
        stops = set(self.table.stop_ids)
        for token in order:
            if token in stops:
                keep.append(token)  # the grammar allows a stop token only once the output is complete
            else:
                after = self._need(row, text + self.table.pieces[token])
                if after is not None and after[0] <= remaining - 1:
                    keep.append(token)
        if not keep:
            keep = [forced]
            self.forced_steps += 1
        mask = torch.full_like(row_scores, float("-inf"))
        mask[keep] = row_scores[keep]
        if not torch.isfinite(mask[keep]).all():  # the forced token must never be masked out by the grammar
            raise RuntimeError(f"row {row}: the shortest completion's token {forced} is outside the grammar "
                               f"{self.table.pieces[forced]!r} after {text[-60:]!r} remaining {remaining} "
                               f"mask bit {int(self.bitmask[row, forced // 32]) >> (forced % 32) & 1} "
                               f"score {float(row_scores[forced])} shape {tuple(scores.shape)}")
        scores[row] = mask


def grammar_logits_processor(model, tokenizer, grammar: str | Grammar | Sequence[Grammar],
                             max_new_tokens: int | None = None, max_length: int | None = None,
                             candidates: int = 8) -> LogitsProcessor:
    """A fresh logits processor constraining ``model.generate`` to ``grammar`` (compiled grammar cached).

    With a :class:`Grammar` (or one per batch row) and the budget (``max_new_tokens`` or ``max_length``) it is
    a :class:`BudgetedGrammarProcessor`, which closes the output in time; with EBNF text only, xgrammar's mask
    alone (the output may be cut short by the budget)."""
    table = token_table(tokenizer, model_vocab_size(model), stop_token_ids(model, tokenizer))
    if isinstance(grammar, str):
        return GrammarLogitsProcessor(table.compile(grammar), table.vocab_size)
    if max_new_tokens is None and max_length is None:
        raise ValueError("grammar_logits_processor: a Grammar needs max_new_tokens or max_length")
    return BudgetedGrammarProcessor(table, grammar, max_new_tokens=max_new_tokens, max_length=max_length,
                                    candidates=candidates)


class GrammarLogitsProcessor(LogitsProcessor):
    """xgrammar's mask alone, one matcher per batch row (no budget)."""

    def __init__(self, compiled: xgr.CompiledGrammar, vocab_size: int):
        self.compiled = compiled
        self.full_vocab_size = vocab_size
        self.matchers: list[xgr.GrammarMatcher] = []
        self.bitmask = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if scores.shape[-1] != self.full_vocab_size:
            raise ValueError(
                f"the grammar was compiled for {self.full_vocab_size} logits but the model produced "
                f"{scores.shape[-1]}; compile with vocab_size=model_vocab_size(model)")
        if not self.matchers:
            self.matchers = [xgr.GrammarMatcher(self.compiled) for _ in range(input_ids.shape[0])]
            self.bitmask = xgr.allocate_token_bitmask(input_ids.shape[0], self.full_vocab_size)
        else:
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_terminated() and not matcher.accept_token(int(input_ids[row, -1])):
                    raise RuntimeError(f"row {row}: token {int(input_ids[row, -1])} was generated outside the grammar")
        scores, device = _apply_grammar_masks(self.matchers, self.bitmask, scores)
        return scores.to(device)


def _apply_grammar_masks(matchers, bitmask, scores: torch.Tensor) -> tuple[torch.Tensor, torch.device]:
    """Mask ``scores`` (B, V) in place to what each running matcher allows; returns them (float, on the CPU unless
    on CUDA, where xgrammar applies masks) and the device they came from."""
    for row, matcher in enumerate(matchers):
        if not matcher.is_terminated():
            matcher.fill_next_token_bitmask(bitmask, row)
    if scores.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        scores = scores.float()
    device = scores.device
    if device.type != "cuda":
        scores = scores.to("cpu")
    xgr.apply_token_bitmask_inplace(scores, bitmask.to(scores.device))
    return scores, device


def check_generate_kwargs(generate_kwargs: dict) -> None:
    """Refuse generation settings under which per-row grammar matchers would see the wrong tokens."""
    if int(generate_kwargs.get("num_beams", 1) or 1) > 1:
        raise ValueError("constrained decoding supports greedy and sampled decoding, not beam search (num_beams > 1)")
    if int(generate_kwargs.get("num_return_sequences", 1) or 1) > 1:
        raise ValueError("constrained decoding returns one sequence per input (num_return_sequences must be 1)")
    if generate_kwargs.get("min_new_tokens") or generate_kwargs.get("min_length"):
        raise ValueError("min_new_tokens/min_length forbid the end token the grammar requires; leave them unset")
