"""Schema-constrained decoding: the grammars generated from the schema, their compile cache, and generation
under them with a randomly initialised tiny causal LM (the embedded tokenizer, a 2-layer Qwen2)."""

import json
import time
from pathlib import Path

import pytest
import torch
import xgrammar as xgr
from transformers import AutoTokenizer, LogitsProcessor, Qwen2Config, Qwen2ForCausalLM

import uas_audio
from uas_audio.pipelines.constrained import (
    BudgetedGrammarProcessor,
    BudgetTooSmallError,
    TimbreGenderGuard,
    check_budget,
    check_generate_kwargs,
    compile_grammar,
    grammar_logits_processor,
    minimal_budget,
    model_vocab_size,
    token_table,
)
from uas_audio.pipelines.grammar import (
    GrammarLimits,
    choice_grammar,
    ebnf_literal,
    expand_fields,
    max_output_bytes,
    subset_grammar,
    uas_grammar,
    uas_grammar_spec,
)
from uas_audio.pipelines.merge import drop_repeated_labels
from uas_audio.schema import FIELD_PATHS, ONTOLOGY, PARALINGUISTIC_KEYS, UAS, validate

TOKENIZER_DIR = Path(uas_audio.__file__).parent / "processing" / "tokenizer"
SMALL = GrammarLimits(transcription=12, accent=6, prosody=6, timbre=6, description=12, label=6,
                      characteristic=6, max_events=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def _tiny_lm(tokenizer, seed=0, extra_rows=0):
    config = Qwen2Config(vocab_size=len(tokenizer) + extra_rows, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config).eval()


@pytest.fixture(scope="module")
def model(tokenizer):
    return _tiny_lm(tokenizer)


def _generate(model, tokenizer, grammar, prompts, limits=SMALL, fields=None, **kwargs):
    inputs = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    budget = max_output_bytes(fields, limits) + 1 if grammar is not None else 8
    with torch.no_grad():
        out = model.generate(**inputs, logits_processor=[grammar_logits_processor(model, tokenizer, grammar)],
                             max_new_tokens=budget, pad_token_id=tokenizer.pad_token_id, **kwargs)
    new = out[:, inputs.input_ids.shape[1]:]
    return new, [tokenizer.decode(row, skip_special_tokens=True) for row in new]


def _matcher(tokenizer, grammar):
    return xgr.GrammarMatcher(compile_grammar(tokenizer, grammar, len(tokenizer)))


def _accepts(tokenizer, grammar, text):
    matcher = _matcher(tokenizer, grammar)
    return matcher.accept_string(text) and matcher.is_completed()


def _record(**para):
    base = {"age": None, "gender": None, "emotion": None, "accent": None, "prosody": None, "timbre": None}
    base.update(para)
    return base


# ----------------------------------------------------------------------------------------------- grammar text

def test_full_grammar_accepts_compact_and_spaced_json_of_a_valid_record(tokenizer):
    record = {"transcription": "say hi, now: ünïcode ok",
              "paralinguistics": _record(age="Adult", gender="Female", emotion="Neutral", accent="Scottish",
                                         prosody="even", timbre="warm"),
              "nonLinguisticEvents": {"description": "A quiet room.",
                                      "discreteEvents": [{"label": "door slam", "characteristic": "sharp"}],
                                      "continuousEvents": []}}
    grammar = uas_grammar()
    assert _accepts(tokenizer, grammar, json.dumps(record, ensure_ascii=False))
    assert _accepts(tokenizer, grammar, json.dumps(record, ensure_ascii=False, separators=(",", ":")))


def test_full_grammar_rejects_out_of_vocabulary_categories_extra_keys_control_characters_and_escapes(tokenizer):
    grammar = uas_grammar()
    good = {"transcription": "hi", "paralinguistics": _record(emotion="Neutral"),
            "nonLinguisticEvents": {"description": "", "discreteEvents": [], "continuousEvents": []}}
    assert _accepts(tokenizer, grammar, json.dumps(good))
    for bad in (
        {**good, "paralinguistics": _record(emotion="Frustration")},
        {**good, "extra": 1},
        {**good, "transcription": "line\nbreak"},
        {**good, "transcription": 'a "quote"'},
        {"paralinguistics": good["paralinguistics"], "transcription": "hi",
         "nonLinguisticEvents": good["nonLinguisticEvents"]},  # keys out of order
    ):
        assert not _accepts(tokenizer, grammar, json.dumps(bad)), bad


def test_null_transcription_forces_null_paralinguistics(tokenizer):
    grammar = uas_grammar()
    events = {"description": "rain", "discreteEvents": [], "continuousEvents": []}
    silent = {"transcription": None, "paralinguistics": _record(), "nonLinguisticEvents": events}
    contradiction = {"transcription": None, "paralinguistics": _record(gender="Male"), "nonLinguisticEvents": events}
    assert _accepts(tokenizer, grammar, json.dumps(silent))
    assert not _accepts(tokenizer, grammar, json.dumps(contradiction))


def test_string_and_event_list_bounds_are_enforced(tokenizer):
    limits = GrammarLimits(transcription=5, max_events=2)
    grammar = uas_grammar(limits)
    events = {"description": "", "discreteEvents": [], "continuousEvents": []}

    def record(text, n_events):
        ev = [{"label": f"e{i}", "characteristic": ""} for i in range(n_events)]
        return json.dumps({"transcription": text, "paralinguistics": _record(),
                           "nonLinguisticEvents": {**events, "discreteEvents": ev}})

    assert _accepts(tokenizer, grammar, record("12345", 2))
    assert not _accepts(tokenizer, grammar, record("123456", 0))
    assert not _accepts(tokenizer, grammar, record("12345", 3))


def test_ebnf_literal_matches_exactly_the_json_encoding(tokenizer):
    odd = 'a "quoted" \\ key'
    grammar = f"root ::= {ebnf_literal(odd)}\n"
    assert _accepts(tokenizer, grammar, json.dumps(odd))
    assert not _accepts(tokenizer, grammar, f'"{odd}"')


def test_subset_grammar_writes_only_the_requested_fields_nested_in_schema_order(tokenizer):
    grammar = subset_grammar(["nonLinguisticEvents.discreteEvents", "paralinguistics.emotion"])
    ok = {"paralinguistics": {"emotion": "Fear"}, "nonLinguisticEvents": {"discreteEvents": []}}
    assert _accepts(tokenizer, grammar, json.dumps(ok))
    assert not _accepts(tokenizer, grammar, json.dumps({"paralinguistics": {"emotion": "Fear"}}))
    assert not _accepts(tokenizer, grammar, json.dumps({**ok, "transcription": None}))


def test_expand_fields_orders_paths_expands_groups_and_names_unknown_fields():
    assert expand_fields(["paralinguistics.gender", "transcription"]) == ["transcription", "paralinguistics.gender"]
    assert expand_fields(["paralinguistics"]) == [f"paralinguistics.{k}" for k in PARALINGUISTIC_KEYS]
    with pytest.raises(ValueError, match="unknown UAS field 'paralinguistics.mood'"):
        expand_fields(["paralinguistics.mood"])


def test_choice_grammar_accepts_only_the_option_letters(tokenizer):
    grammar = choice_grammar(3)
    assert [_accepts(tokenizer, grammar, c) for c in "ABCD"] == [True, True, True, False]
    with pytest.raises(ValueError):
        choice_grammar(27)


# ------------------------------------------------------------------------------------------------ compile cache

def test_compiled_grammar_is_cached_per_tokenizer_and_grammar(tokenizer):
    grammar = uas_grammar(GrammarLimits(description=77))
    first = compile_grammar(tokenizer, grammar, len(tokenizer))
    start = time.perf_counter()
    second = compile_grammar(tokenizer, grammar, len(tokenizer))
    assert second is first
    assert time.perf_counter() - start < 0.01
    assert compile_grammar(tokenizer, grammar, len(tokenizer) + 8) is not first  # another logits width


# ----------------------------------------------------------------------------------------- generation under it

@pytest.mark.parametrize("do_sample", [False, True])
def test_random_model_under_the_uas_grammar_always_writes_a_valid_record(tokenizer, do_sample):
    prompts = [f"clip {i}:" for i in range(6)]
    grammar = uas_grammar(SMALL)
    for seed in (0, 1):
        model = _tiny_lm(tokenizer, seed=seed)
        torch.manual_seed(seed)
        _, texts = _generate(model, tokenizer, grammar, prompts, do_sample=do_sample)
        for text in texts:
            record = json.loads(text)
            assert ONTOLOGY not in validate(record).codes, text
            UAS.model_validate(drop_repeated_labels(record))


def test_generation_ends_with_the_end_token_within_the_byte_bound(tokenizer, model):
    grammar = uas_grammar(SMALL)
    new, _ = _generate(model, tokenizer, grammar, ["x", "a longer prompt"], do_sample=True)
    for row in new.tolist():
        assert tokenizer.eos_token_id in row


def test_subset_generation_has_exactly_the_requested_fields(tokenizer, model):
    fields = ["paralinguistics.emotion", "paralinguistics.gender"]
    _, texts = _generate(model, tokenizer, subset_grammar(fields, SMALL), ["a", "b"], fields=fields, do_sample=True)
    for text in texts:
        record = json.loads(text)
        assert list(record) == ["paralinguistics"]
        assert list(record["paralinguistics"]) == ["gender", "emotion"]


def test_padded_model_vocabulary_never_emits_padding_rows(tokenizer):
    model = _tiny_lm(tokenizer, seed=3, extra_rows=64)
    assert model_vocab_size(model) == len(tokenizer) + 64
    new, texts = _generate(model, tokenizer, uas_grammar(SMALL), ["p"], do_sample=True)
    assert max(new[0].tolist()) < len(tokenizer)
    json.loads(texts[0])


def test_beam_search_and_min_new_tokens_are_refused():
    with pytest.raises(ValueError, match="beam search"):
        check_generate_kwargs({"num_beams": 2})
    with pytest.raises(ValueError, match="min_new_tokens"):
        check_generate_kwargs({"min_new_tokens": 5})


def test_every_field_path_has_a_subset_grammar(tokenizer):
    for path in FIELD_PATHS:
        compile_grammar(tokenizer, subset_grammar([path]), len(tokenizer))


# ----------------------------------------------------------------------------- shortest completions and budget

_RECORD = {"transcription": "two words",
           "paralinguistics": _record(age="Elderly", gender="Male", emotion="Surprise", accent="", timbre="deep"),
           "nonLinguisticEvents": {"description": "a hall",
                                   "discreteEvents": [{"label": "knock", "characteristic": ""}],
                                   "continuousEvents": [{"label": "hum", "characteristic": "low"}]}}


@pytest.mark.parametrize("limits", [GrammarLimits(), GrammarLimits().for_duration(1.0)])
def test_every_prefix_completes_to_a_record_the_compiled_grammar_accepts(tokenizer, limits):
    # The node tree that computes completions and the EBNF xgrammar compiles are one grammar: every completion
    # of every prefix of a record (spaced and compact) is accepted by xgrammar and parses.
    spec = uas_grammar_spec(limits)
    for separators in ((", ", ": "), (",", ":")):
        text = json.dumps(_RECORD, separators=separators).encode()
        for cut in range(len(text) + 1):
            completions = spec.completions(text[:cut])
            assert completions, cut
            for completion in completions:
                full = (text[:cut] + completion).decode()
                assert _accepts(tokenizer, spec.ebnf, full), (cut, full)
                json.loads(full)
    assert spec.completions(b'{"extra"') == []


def test_shortest_record_is_the_silent_one_with_null_fields():
    shortest = json.loads(uas_grammar_spec().shortest())
    assert shortest["transcription"] is None and set(shortest["paralinguistics"].values()) == {None}
    assert shortest["nonLinguisticEvents"] == {"description": "", "discreteEvents": [], "continuousEvents": []}


def test_a_cut_multibyte_character_is_completed_to_valid_utf8():
    completion = uas_grammar_spec().completions(b'{"transcription":"caf\xc3')[0]
    assert (b'{"transcription":"caf\xc3' + completion).decode("utf-8")


@pytest.mark.parametrize("do_sample", [False, True])
def test_budgeted_processor_closes_the_record_for_every_budget_from_the_minimum(tokenizer, do_sample):
    table = token_table(tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    spec = uas_grammar_spec(GrammarLimits().for_duration(2.0))
    floor = minimal_budget(spec, table)
    model = _tiny_lm(tokenizer, seed=4)
    inputs = tokenizer(["a", "a longer prompt"], return_tensors="pt", padding=True, padding_side="left")
    for budget in (floor, floor + 5, 150):
        torch.manual_seed(budget)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=budget, do_sample=do_sample,
                                 temperature=1.5 if do_sample else None,
                                 pad_token_id=tokenizer.pad_token_id, logits_processor=[
                                     grammar_logits_processor(model, tokenizer, spec, max_new_tokens=budget,
                                                              candidates=8 if do_sample else 1)])
        for row in out[:, inputs.input_ids.shape[1]:].tolist():
            assert tokenizer.eos_token_id in row, budget
            record = json.loads(table.decode(row))
            assert validate(drop_repeated_labels(record), duration_s=2.0).valid, (budget, record)


def test_a_budget_below_the_shortest_record_is_refused_naming_the_minimum(tokenizer):
    table = token_table(tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    spec = uas_grammar_spec()
    floor = minimal_budget(spec, table)
    assert floor == len(table.segment(spec.shortest(table.filler))) + 1
    check_budget(spec, table, floor)
    with pytest.raises(BudgetTooSmallError, match=f"max_new_tokens={floor - 1} .* >= {floor}"):
        check_budget(spec, table, floor - 1)


def test_limits_for_a_duration_bound_words_and_events_as_the_validator_does(tokenizer):
    limits = GrammarLimits().for_duration(0.5)
    assert (limits.transcription_words, limits.total_events, limits.description_words) == (6, 4, 30)
    grammar = uas_grammar(limits)

    def record(text, discrete, continuous):
        events = {"description": "",
                  "discreteEvents": [{"label": f"d{i}", "characteristic": ""} for i in range(discrete)],
                  "continuousEvents": [{"label": f"c{i}", "characteristic": ""} for i in range(continuous)]}
        return json.dumps({"transcription": text, "paralinguistics": _record(), "nonLinguisticEvents": events})

    assert _accepts(tokenizer, grammar, record("one two three four five six", 3, 1))
    assert not _accepts(tokenizer, grammar, record("one two", 3, 2))
    assert not _accepts(tokenizer, grammar, record(" x", 0, 0))  # a transcription starts with a word: never blank
    assert not _accepts(tokenizer, grammar, record("a\u00a0b\u3000c", 0, 0))  # only the space separates words
    # The word limit is the decoder's (a grammar cannot count words under a character limit): the completions
    # refuse a seventh word, and the processor masks every token that would start one.
    spec = uas_grammar_spec(limits)
    assert dict(spec.word_limits) == {b'"transcription":': 6, b'"description":': 30}
    six = b'{"transcription":"one two three four five six'
    assert spec.completions(six) and not spec.completions(six + b" seven")
    table = token_table(tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    processor = BudgetedGrammarProcessor(table, spec, max_new_tokens=500)
    prompt = torch.tensor([[1]])
    ids = table.segment(six + b" ")
    scores = processor(prompt, torch.zeros(1, len(tokenizer)))
    for step, token in enumerate(ids):
        scores = processor(torch.tensor([[1] + ids[:step + 1]]), torch.zeros(1, len(tokenizer)))
    allowed = [table.pieces[i] for i in torch.isfinite(scores[0]).nonzero().flatten().tolist()]
    assert b'"' in allowed and all(not piece.split(b'"')[0].strip() for piece in allowed), allowed[:10]
    # Windows of a long clip share its allowance, so the merged record stays within the clip's limits.
    shares = [GrammarLimits().for_duration(25.0, 25 / 70), GrammarLimits().for_duration(25.0, 25 / 70),
              GrammarLimits().for_duration(20.0, 20 / 70)]
    assert sum(s.transcription_words for s in shares) <= 6 * 70 + 3
    assert sum(s.total_events for s in shares) <= 2 * 70 + 3


# ---------------------------------------------------------------------------------------- tokens and vocabularies

def _trained(kind):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [json.dumps(_RECORD), "the quick brown fox jumps over the lazy dog", "Adult Male Neutral warm"] * 20
    if kind == "wordpiece":
        backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        backend.normalizer = normalizers.BertNormalizer(lowercase=False)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[UNK]", "<eos>", "<|audio|>"])
    else:
        backend = Tokenizer(models.Unigram())
        backend.pre_tokenizer = pre_tokenizers.Metaspace()
        backend.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=200, special_tokens=["<eos>", "<|audio|>"], unk_token="<eos>")
    backend.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<eos>",
                                   additional_special_tokens=["<|audio|>"])


@pytest.mark.parametrize("kind", ["wordpiece", "unigram"])
def test_decoding_is_exactly_the_text_the_grammar_accepted(kind):
    tok = _trained(kind)
    table = token_table(tok, len(tok), [tok.eos_token_id])
    vocab = tok.get_vocab()
    if kind == "wordpiece":
        assert table.pieces[vocab["##s"]] == b"s"  # no "##", and no space before word-initial tokens
    else:
        assert any(p.startswith(b" ") for p in table.pieces)  # the metaspace mark is a space
    assert table.pieces[vocab["<|audio|>"]] == b"" and table.pieces[tok.eos_token_id] == b""
    model = _tiny_lm(tok, seed=2)
    spec = uas_grammar_spec(GrammarLimits().for_duration(1.5))
    inputs = tok(["x", "y"], return_tensors="pt", padding=True)
    budget = minimal_budget(spec, table) + 30  # a 200-token vocabulary spells the shortest record in ~100 tokens
    for do_sample in (False, True):
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=budget, do_sample=do_sample, pad_token_id=tok.pad_token_id,
                                 logits_processor=[grammar_logits_processor(model, tok, spec, max_new_tokens=budget)])
        for row in out[:, inputs.input_ids.shape[1]:].tolist():
            text = table.decode(row)
            assert _accepts_compiled(table, spec.ebnf, text), text
            assert validate(drop_repeated_labels(json.loads(text)), duration_s=1.5).valid, text


def _accepts_compiled(table, grammar, text):
    matcher = xgr.GrammarMatcher(table.compile(grammar))
    return matcher.accept_string(text) and matcher.is_completed()


class _Prefer(LogitsProcessor):
    """A model that wants these tokens above all others."""

    def __init__(self, ids):
        self.ids = ids

    def __call__(self, input_ids, scores):
        scores[:, self.ids] += 1000.0
        return scores


def test_special_tokens_and_gender_contradicting_timbres_are_never_written(tokenizer):
    table = token_table(tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    specials = sorted(set(tokenizer.added_tokens_decoder) - {tokenizer.eos_token_id})
    assert all(table.pieces[i] == b"" for i in specials)
    feminine = [i for i, p in enumerate(table.pieces) if p.strip().lower() in (b"female", b"feminine", b"soprano")]
    male = [i for i, p in enumerate(table.pieces) if p in (b'"Male', b'Male', b'"Male"')]
    assert feminine and male
    model = _tiny_lm(tokenizer, seed=5)
    spec = uas_grammar_spec(GrammarLimits().for_duration(3.0))
    inputs = tokenizer(["p", "q"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=400, do_sample=True, temperature=1.5,
                             pad_token_id=tokenizer.pad_token_id, logits_processor=[
                                 _Prefer(specials + feminine + male),
                                 BudgetedGrammarProcessor(table, spec, max_new_tokens=400,
                                                          guard=TimbreGenderGuard(table))])
    for row in out[:, inputs.input_ids.shape[1]:].tolist():
        assert not set(row[:row.index(tokenizer.eos_token_id)]) & set(specials)
        record = json.loads(table.decode(row))
        assert validate(drop_repeated_labels(record), duration_s=3.0).valid, record
    guard = TimbreGenderGuard(table)
    prefix = b'{"transcription":"hi","paralinguistics":{"age":null,"gender":"Male","emotion":null,"accent":null,' \
             b'"prosody":null,"timbre":"a '
    banned = {table.pieces[i] for i in guard.banned(prefix, torch.ones(table.vocab_size, dtype=torch.bool))}
    assert b" female" in banned and b" warm" not in banned and b" male" not in banned
