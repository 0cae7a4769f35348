"""Held-out perception items, the two option readouts, the scores and the clip-id split."""

import json

import pytest
import torch

from uas_audio.evaluation import EvalItem
from uas_audio.evaluation.perception import (
    chance_accuracy,
    choose_options,
    perception_accuracy,
    perception_items,
    uas_slot_prefix,
)
from uas_audio.evaluation.perception import _candidates, _scored_positions
from uas_audio.evaluation.splits import split_clip_ids
from uas_audio.synth import synthesize_corpus
from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers.collator import AudioChatCollator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synthesize_corpus(tmp_path_factory.mktemp("synth"), 8, seed=5)


@pytest.fixture(scope="module")
def items(corpus):
    return perception_items(corpus, seed=0)


def test_items_cover_every_field_with_the_answer_among_the_choices(corpus, items):
    assert {i.categories["field"] for i in items} == {"gender", "age", "emotion", "accent", "prosody", "timbre",
                                                      "events", "content"}
    for item in items:
        assert item.answer in item.choices and item.audio
        assert item.categories["group"] == ("content" if item.categories["field"] == "content" else "perception")
    speech = [r for r in corpus if r["uas"]["paralinguistics"]["gender"] is not None]
    gender_mc = [i for i in items if i.categories["field"] == "gender" and i.categories["kind"] == "mc"]
    # one two-option gender question per speech clip, its correct letter alternating
    assert len(gender_mc) == len(speech) > 1
    assert all(sorted(i.choices) == ["Female", "Male"] and "A. " in i.question for i in gender_mc)
    firsts = [i.choices.index(i.answer) for i in gender_mc]
    assert all(a != b for a, b in zip(firsts, firsts[1:]))
    mc_only = perception_items(corpus, seed=0, kinds=("mc",))
    assert mc_only and all(i.categories["kind"] == "mc" for i in mc_only)
    with pytest.raises(ValueError, match="kinds"):
        perception_items(corpus, kinds=("direct",))


def test_uas_slot_prefix_is_the_targeted_json_up_to_the_value():
    assert uas_slot_prefix("paralinguistics.gender") == '{"paralinguistics":{"gender":"'
    assert uas_slot_prefix("transcription") == '{"transcription":"'
    assert uas_slot_prefix("nonLinguisticEvents.discreteEvents") == \
        '{"nonLinguisticEvents":{"discreteEvents":[{"label":"'
    with pytest.raises(ValueError, match="no single-value slot"):
        uas_slot_prefix("nonLinguisticEvents.description")


def test_uas_readout_scores_exactly_the_option_value_tokens(items):
    processor = tiny_processor()
    collator = AudioChatCollator(processor)
    for item in [i for i in items if i.categories["kind"] == "mc"][:6]:
        question, texts, prefix = _candidates(item, "uas")
        rows = [{"messages": [
            {"role": "user", "content": [{"type": "audio", "audio": {"bytes": item.audio, "path": None}, "text": None},
                                         {"type": "text", "audio": None, "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "audio": None, "text": t}]}]} for t in texts]
        batch = collator(rows)
        positions = _scored_positions(processor.tokenizer, batch["labels"], batch["input_ids"], texts, prefix)
        for r, choice in enumerate(item.choices):
            scored = processor.tokenizer.decode(batch["input_ids"][r, positions[r]])
            # the value and the token holding its closing quote, tokenized as in a written record ('"}' or '",');
            # the option's leading characters may share a token with the prefix
            value = json.dumps(choice)[1:-1]
            assert value in prefix[-2:] + scored and len(scored) >= 2
            assert '"' in processor.tokenizer.decode(batch["input_ids"][r, positions[r][-1:]])
            assert '"gender":' not in scored and "characteristic" not in scored
            if item.categories["path"].startswith("paralinguistics."):
                assert scored.endswith('"}'), scored


def _manual_pick(model, processor, item, readout):
    question, texts, prefix = _candidates(item, readout)
    collator = AudioChatCollator(processor)
    scores = []
    for text in texts:
        row = {"messages": [
            {"role": "user", "content": [{"type": "audio", "audio": {"bytes": item.audio, "path": None}, "text": None},
                                         {"type": "text", "audio": None, "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "audio": None, "text": text}]}]}
        batch = collator([row])
        labels = batch.pop("labels")
        with torch.no_grad():
            logp = torch.log_softmax(model(**batch).logits[0], -1)
        pos = _scored_positions(processor.tokenizer, labels, batch["input_ids"], [text], prefix)[0]
        scores.append(sum(float(logp[p - 1, batch["input_ids"][0, p]]) for p in pos) / len(pos))
    return "ABCDEFGH"[max(range(len(scores)), key=scores.__getitem__)]


@pytest.mark.parametrize("readout", ["qa", "uas"])
def test_choose_options_picks_the_most_likely_option(items, readout):
    model, processor = tiny_model(seed=3), tiny_processor()
    chosen = [i for i in items if i.categories["kind"] == "mc"][:5]
    picks = choose_options(model, processor, chosen, readout=readout, progress=False)
    # batched and padded with the other options: the same pick as scoring each option alone
    assert picks == {i.id: _manual_pick(model, processor, i, readout) for i in chosen}


def test_uas_readout_refuses_yes_no_and_unknown_readouts(items):
    model, processor = tiny_model(), tiny_processor()
    yesno = next(i for i in items if i.categories["kind"] == "yesno")
    with pytest.raises(ValueError, match="multiple-choice items only"):
        choose_options(model, processor, [yesno], readout="uas", progress=False)
    with pytest.raises(ValueError, match="unknown readout"):
        choose_options(model, processor, [yesno], readout="caption", progress=False)


def _item(i, choices, group, field, kind="mc"):
    return EvalItem(id=str(i), bench="b", question="q", choices=choices, answer=choices[0],
                    categories={"group": group, "field": field, "kind": kind})


def test_accuracy_by_group_and_field_and_missing_picks_count_wrong():
    items = [_item(0, ["Yes", "No"], "perception", "gender", "yesno"), _item(1, ["a", "b", "c"], "perception", "age"),
             _item(2, ["a", "b", "c", "d"], "content", "content")]
    scores = perception_accuracy(items, {"0": "A", "1": "B"})
    assert scores["perception"] == pytest.approx(0.5) and scores["content"] == 0.0
    assert scores["by_field"] == {"gender": 1.0, "age": 0.0, "content": 0.0}
    assert scores["counts"] == {"perception": 2, "content": 1}


def test_chance_accuracy_is_the_mean_of_one_over_the_options():
    items = [_item(0, ["Yes", "No"], "perception", "gender"), _item(1, ["a", "b", "c", "d"], "perception", "age"),
             _item(2, ["a", "b", "c", "d"], "content", "content")]
    chance = chance_accuracy(items)
    assert chance["perception"] == pytest.approx((0.5 + 0.25) / 2)
    assert chance["content"] == pytest.approx(0.25)
    assert chance["by_field"]["gender"] == pytest.approx(0.5)
    assert chance["counts"] == {"perception": 2, "content": 1}


def test_split_is_disjoint_deterministic_and_seeded():
    ids = [f"clip-{i}" for i in range(20)]
    train, held = split_clip_ids(ids, 0.3, seed=1)
    assert len(held) == 6 and not set(train) & set(held) and sorted(train + held) == sorted(ids)
    assert split_clip_ids(list(reversed(ids)) + ids[:3], 0.3, seed=1) == (train, held)
    assert split_clip_ids(ids, 0.3, seed=2) != (train, held)


@pytest.mark.parametrize("ids, fraction, message", [(["a", "a"], 0.5, "two distinct"), (["a", "b"], 1.0, "(0, 1)")])
def test_split_refuses_bad_input(ids, fraction, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        split_clip_ids(ids, fraction, seed=0)


def test_majority_baseline_picks_the_most_frequent_training_value_among_the_options():
    from uas_audio.evaluation.perception import majority_accuracy

    def item(i, choices, answer, path, field):
        return EvalItem(id=str(i), bench="b", question="q", choices=choices, answer=answer,
                        categories={"group": "perception", "field": field, "kind": "mc", "path": path})

    records = [{"paralinguistics": {"age": "Adult"}, "nonLinguisticEvents": {"discreteEvents": [{"label": "dog bark"}]}}
               for _ in range(3)] + [{"paralinguistics": {"age": "Child"}, "nonLinguisticEvents": {"discreteEvents": []}}]
    items = [item(0, ["Child", "Adult", "Elderly"], "Adult", "paralinguistics.age", "age"),      # prior right
             item(1, ["Child", "Adult", "Elderly"], "Child", "paralinguistics.age", "age"),      # prior wrong
             item(2, ["Dog bark", "siren"], "siren", "nonLinguisticEvents.discreteEvents", "events"),  # prior wrong
             item(3, ["siren", "horn"], "horn", "nonLinguisticEvents.discreteEvents", "events")]  # unseen: a tie
    base = majority_accuracy(items, records)
    assert base["by_field"] == {"age": 0.5, "events": pytest.approx(0.25)}
    assert base["perception"] == pytest.approx((1 + 0 + 0 + 0.5) / 4) and base["counts"]["perception"] == 4
