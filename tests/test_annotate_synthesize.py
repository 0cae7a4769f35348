"""Stage 2: the rule synthesizer's documented mapping, and the LLM synthesizer on a local causal LM whose
decoding is constrained to the UAS grammar."""

import pytest

from uas_audio.annotate.synthesize import LLMSynthesizer, RuleSynthesizer, SynthesisInput, build_synthesizer
from uas_audio.schema import validate


def _item(transcript="hello there", **m):
    base = {"f0_median_hz": 120.0, "pitch_level": "low", "pitch_range": "narrow",
            "speaking_rate": "fast", "voice_centroid_hz": 900.0, "snr_db": 35.0, "event_labels": [],
            "event_onsets_s": [], "event_characteristics": [], "background_labels": []}
    return SynthesisInput("x", transcript, 3.0, {**base, **m})


def _voice(**m):
    """A voiced clip's measurements: calm spread and pace unless given (syllables over a 2 s speech span)."""
    base = {"speech_voiced_fraction": 0.6, "speech_f0_spread_st": 4.1, "syllables": 9, "speech_span_s": 2.0,
            "speaking_rate_syl_per_s": 4.5}
    return RuleSynthesizer().record(_item(**{**base, **m}))["paralinguistics"]


def test_gender_and_age_come_from_the_closest_voice_of_pitch_and_formants():
    # the four voices at their calm centres
    def gender_age(f0, f4):
        para = _voice(speech_f0_median_hz=f0, f4_hz=f4)
        return para["gender"], para["age"]

    assert gender_age(100.0, 3425.0) == ("Male", "Adult")
    assert gender_age(196.0, 3925.0) == ("Female", "Adult")
    assert gender_age(263.0, 4370.0) == ("Female", "Child")
    # a boy: a man's voice with pitch and formants raised together (x1.3) keeps a man's F0-to-formant ratio
    assert gender_age(134.0, 4200.0) == ("Male", "Child")
    # the same F0 with a woman's formants and a sad woman's flat, slow delivery is a woman
    sad = _voice(speech_f0_median_hz=137.0, f4_hz=3925.0, speech_f0_spread_st=1.4, syllables=6)
    assert (sad["gender"], sad["age"], sad["emotion"]) == ("Female", "Adult", "Sadness")
    # ... and with a man's formants and a happy, lively delivery it is a man
    happy = _voice(speech_f0_median_hz=139.0, f4_hz=3425.0, speech_f0_spread_st=4.2, syllables=11)
    assert (happy["gender"], happy["age"], happy["emotion"]) == ("Male", "Adult", "Happiness")


def test_emotion_reads_pitch_height_against_the_voice_with_spread_and_pace():
    assert _voice(speech_f0_median_hz=196.0, f4_hz=3925.0)["emotion"] == "Neutral"
    def emotion(f0, f4, spread, syllables):
        return _voice(speech_f0_median_hz=f0, f4_hz=f4, speech_f0_spread_st=spread, syllables=syllables)["emotion"]

    assert emotion(272.0, 3925.0, 4.2, 11) == "Happiness"  # raised pitch, lively
    assert emotion(108.0, 3425.0, 1.6, 11) == "Anger"  # a little raised, flat and fast
    assert emotion(70.0, 3425.0, 1.4, 6) == "Sadness"  # low, flat and slow


def test_whispers_are_read_from_the_formants_alone_and_are_neutral():
    # under 5 % voiced: the F0 (here a spurious reading) is ignored
    woman = _voice(speech_f0_median_hz=90.0, speech_voiced_fraction=0.01, f4_hz=3950.0, syllables=6)
    man = _voice(speech_f0_median_hz=None, speech_voiced_fraction=0.0, f4_hz=3400.0)
    assert (woman["gender"], woman["emotion"]) == ("Female", "Neutral")
    assert (man["gender"], man["emotion"]) == ("Male", "Neutral")


def test_age_reads_elderly_from_tremor_at_a_slow_pace_and_falls_back_on_f0():
    def age(**m):
        return _voice(**{"speech_f0_median_hz": 196.0, "f4_hz": 3925.0, **m})["age"]

    assert age() == "Adult"
    assert age(tremor_ratio=20.0, speaking_rate_syl_per_s=4.0) == "Elderly"
    assert age(tremor_ratio=20.0, speaking_rate_syl_per_s=6.0) == "Adult"  # a fast pace is not elderly
    assert age(tremor_ratio=8.0) == "Adult"
    # without formants or voiced F0 the clip's median F0 decides alone
    assert age(f4_hz=None, speech_f0_median_hz=None, f0_median_hz=320.0) == "Child"
    assert age(f4_hz=None, speech_f0_median_hz=None, f0_median_hz=200.0) == "Adult"
    assert _voice(f4_hz=None, speech_f0_median_hz=None, f0_median_hz=120.0)["gender"] == "Male"
    assert _voice(f4_hz=None, speech_f0_median_hz=None, f0_median_hz=210.0)["gender"] == "Female"


def test_a_classifier_label_restricts_the_voices_the_other_fields_are_read_from():
    # a gender classifier says Female: the boy-like measurements become a girl's or a woman's, never Male
    para = _voice(speech_f0_median_hz=134.0, f4_hz=4200.0, gender_label="female")
    assert para["gender"] == "Female"
    # an age classifier says Adult: the same measurements are read among adults only
    assert _voice(speech_f0_median_hz=134.0, f4_hz=4200.0, age_label="Adult")["age"] == "Adult"
    # an emotion classifier says sad: the low F0 is a sad woman's, not a calm man's
    assert _voice(speech_f0_median_hz=137.0, f4_hz=3700.0, emotion_label="sad")["gender"] == "Female"


def test_a_classifier_label_wins_over_the_signal_rules():
    record = RuleSynthesizer().record(_item(gender_label="female", age_label="Elderly", emotion_label="furious",
                                            accent_label="Scottish English"))
    assert record["paralinguistics"] == {"age": "Elderly", "gender": "Female", "emotion": "Anger",
                                         "accent": "Scottish English", "prosody": "fast pace, low pitch, narrow intonation",
                                         "timbre": "warm, dark, clear voice"}


def test_without_speech_every_paralinguistic_field_is_null():
    record = RuleSynthesizer().record(_item(transcript=None, background_labels=["music"]))
    assert record["transcription"] is None
    assert set(record["paralinguistics"].values()) == {None}
    assert record["nonLinguisticEvents"]["description"] == "A steady music fills the recording."


def test_repeated_onsets_of_one_label_become_one_event_and_backgrounds_continuous_events():
    record = RuleSynthesizer().record(_item(
        event_labels=["knock", "knock", "beep"], event_onsets_s=[0.5, 0.8, 2.0],
        event_characteristics=["dull", "dull", "tonal"], background_labels=["mains hum"], hum_hz=50.0))
    events = record["nonLinguisticEvents"]
    assert [e["label"] for e in events["discreteEvents"]] == ["knock", "beep"]
    assert events["discreteEvents"][0]["characteristic"] == "dull, 2 times at 0.5, 0.8 s"
    assert events["continuousEvents"] == [{"label": "mains hum",
                                           "characteristic": "steady 50 Hz electrical hum with harmonics"}]
    assert events["description"] == "A man speaks over mains hum, with a knock, a beep."


def test_rule_records_pass_validation():
    item = _item(event_labels=["click"], event_onsets_s=[1.0], event_characteristics=["sharp"],
                 background_labels=["hiss"], hiss_colour="pink")
    assert validate(RuleSynthesizer().record(item), transcript="hello there", duration_s=3.0).valid


def test_unknown_synthesizer_type_is_refused():
    with pytest.raises(ValueError, match="'rules' or 'llm'"):
        build_synthesizer({"type": "oracle"})


def test_a_local_causal_lm_constrained_to_the_grammar_always_gives_uas_json(tmp_path):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    import uas_audio

    tokenizer = uas_audio.tiny_processor().tokenizer
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.eos_token_id)
    Qwen2ForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    synth = build_synthesizer({"type": "llm", "model": str(tmp_path), "max_new_tokens": 1200})
    assert isinstance(synth, LLMSynthesizer)
    out = synth.synthesize([_item(), _item(transcript=None)])
    for result in out:
        assert result.error is None and result.uas is not None  # parsed: valid JSON with the UAS keys
        reasons = validate(result.uas).reasons
        assert all(r.code != "ontology" for r in reasons), reasons
