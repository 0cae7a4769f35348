"""The offline experts + rules against the synthetic corpus's exact ground truth.

Targets (issue 6): gender >= 95 %, presence of a continuous background >= 90 %, discrete-event count within
±1 in >= 80 % of clips. Measured numbers (held-out seeds 0 and 3, 200 clips each; the rules' constants were
chosen on seeds 1 and 2) are in docs/annotation.md.

The fast tests run a 40-clip corpus (seed 0, 25 speech clips, where one clip is 4 %): they assert the
background and event targets and, for the voice fields, the measured values with a margin of one or two
clips (gender 24/25, age 19/25, emotion 22/25 measured). The gender target itself is asserted where it
means something, on the two full 200-clip held-out corpora (``slow``): measured 122/128 = 95.3 % and
122/127 = 96.1 %.
"""

import pytest

from uas_audio.annotate import annotate, load_annotations
from uas_audio.schema import NON_LINGUISTIC_EVENTS, PARALINGUISTICS

NUM_CLIPS, SEED = 40, 0
HELD_OUT_SEEDS, HELD_OUT_CLIPS = (0, 3), 200
GENDER_TARGET = 0.95


def _annotated_pairs(root, num_clips: int, seed: int) -> list[tuple[dict, dict]]:
    from uas_audio.synth import synthesize_corpus

    truth = synthesize_corpus(root / "corpus", num_clips, seed=seed)
    # the signal rules against the generator's ground truth: the confidence gates, chosen on real recordings
    # (benchmarks/annotate_real.py), are off here so every field the rules read is scored
    annotate(root / "corpus" / "dataset", root / "out",
             {"shard_size": 64, "min_gender_confidence": 0.0, "min_event_confidence": 0.0}, progress=False)
    predicted = {r["id"]: r for r in load_annotations(root / "out").to_list()}
    return [(row, predicted[row["id"]]) for row in truth]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return _annotated_pairs(tmp_path_factory.mktemp("gt"), NUM_CLIPS, SEED)


def _field_accuracy(pairs, field: str) -> float:
    speech = [(t, p) for t, p in pairs if t["uas"][PARALINGUISTICS][field] is not None]
    assert len(speech) >= 20
    return sum(t["uas"][PARALINGUISTICS][field] == p["uas"][PARALINGUISTICS][field] for t, p in speech) / len(speech)


def test_every_synthetic_clip_is_accepted(pairs):
    assert [p["id"] for _, p in pairs if p["status"] != "accepted"] == []


def test_gender_from_pitch_formants_spread_and_pace(pairs):
    assert _field_accuracy(pairs, "gender") >= 0.92  # measured 24/25; the 95 % target: test below


def test_age_from_the_chosen_voice_and_tremor(pairs):
    # measured 19/25; always "Adult" scores 19/25 on these few clips, 69 % against the rule's 73-76 % held out
    assert _field_accuracy(pairs, "age") >= 0.72


def test_emotion_from_pitch_height_spread_and_pace(pairs):
    assert _field_accuracy(pairs, "emotion") >= 0.80  # measured 22/25; always "Neutral" scores 9/25


def test_presence_of_a_continuous_background(pairs):
    agree = sum(bool(t["uas"][NON_LINGUISTIC_EVENTS]["continuousEvents"])
                == bool(p["uas"][NON_LINGUISTIC_EVENTS]["continuousEvents"]) for t, p in pairs)
    assert agree / len(pairs) >= 0.90


def test_discrete_event_count_within_one(pairs):
    close = sum(abs(len(t["uas"][NON_LINGUISTIC_EVENTS]["discreteEvents"])
                    - len(p["uas"][NON_LINGUISTIC_EVENTS]["discreteEvents"])) <= 1 for t, p in pairs)
    assert close / len(pairs) >= 0.80


def test_speech_and_non_speech_clips_are_told_apart(pairs):
    for truth, pred in pairs:
        assert (pred["uas"]["transcription"] is None) == (truth["transcript"] is None)
        assert pred["uas"]["transcription"] == truth["transcript"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", HELD_OUT_SEEDS)
def test_gender_meets_the_target_on_a_held_out_corpus(tmp_path, seed):
    """Issue 6's target on a full held-out corpus (about 128 speech clips): measured 95.3 % (seed 0) and
    96.1 % (seed 3)."""
    assert _field_accuracy(_annotated_pairs(tmp_path, HELD_OUT_CLIPS, seed), "gender") >= GENDER_TARGET
