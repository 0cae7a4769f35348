"""parse_uas, normalize_emotion and the small record helpers of uas_audio.schema."""

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uas_audio.schema import (
    EMOTIONS,
    FIELD_PATHS,
    UAS,
    UASParseError,
    get_field,
    normalize_emotion,
    null_paralinguistics,
    parse_uas,
    parse_uas_reply,
)


def speech_record() -> dict:
    return {
        "transcription": "Put the kettle on, please.",
        "paralinguistics": {"age": "Adult", "gender": "Female", "emotion": "Happiness",
                            "accent": "Scottish English", "prosody": "fast, rising", "timbre": "warm"},
        "nonLinguisticEvents": {
            "description": "A woman speaks in a kitchen while a kettle hisses.",
            "discreteEvents": [{"label": "click", "characteristic": "a single dry switch click"}],
            "continuousEvents": [{"label": "hiss", "characteristic": "steady pink-noise hiss"}],
        },
    }


def music_record() -> dict:
    return {
        "transcription": None,
        "paralinguistics": null_paralinguistics(),
        "nonLinguisticEvents": {"description": "A slow piano melody.", "discreteEvents": [],
                                "continuousEvents": [{"label": "music", "characteristic": "piano, C major"}]},
    }


@pytest.mark.parametrize("record", [speech_record(), music_record()], ids=["speech", "music"])
def test_dict_to_uas_to_json_to_parse_round_trip(record):
    uas = UAS.model_validate(record)
    text = uas.to_json(indent=2)
    assert parse_uas(text) == uas
    assert parse_uas(text).to_dict() == record
    assert json.loads(text) == record


def test_to_dict_uses_the_schema_camel_case_keys():
    uas = UAS.model_validate(speech_record())
    assert list(uas.to_dict()) == ["transcription", "paralinguistics", "nonLinguisticEvents"]
    assert list(uas.to_dict()["nonLinguisticEvents"]) == ["description", "discreteEvents", "continuousEvents"]
    assert uas.non_linguistic_events.discrete_events[0].label == "click"


def test_parse_accepts_a_json_fenced_object_with_surrounding_whitespace():
    text = "\n  ```json\n" + json.dumps(speech_record(), indent=2) + "\n```  \n"
    assert parse_uas(text).to_dict() == speech_record()


def test_parse_accepts_a_bare_fence():
    assert parse_uas("```\n" + json.dumps(music_record()) + "\n```").transcription is None


def test_parse_accepts_a_fence_on_the_same_line_as_the_object():
    assert parse_uas("```json " + json.dumps(music_record()) + "```").to_dict() == music_record()


def test_parse_rejects_two_fenced_blocks():
    block = "```json\n" + json.dumps(music_record()) + "\n```"
    with pytest.raises(UASParseError, match="trailing text") as info:
        parse_uas(block + "\n" + block)
    assert (info.value.line, info.value.col) == (3, 1)  # the first block's closing fence


def test_parse_rejects_invalid_json_inside_a_fence_with_position_in_the_original_text():
    text = '```json\n{"transcription": nul}\n```'
    with pytest.raises(UASParseError) as info:
        parse_uas(text)
    err = info.value
    assert err.reason.startswith("invalid JSON")
    assert (err.line, err.col, err.pos) == (2, 19, text.index("nul"))


def test_parse_rejects_trailing_text_at_its_position():
    text = json.dumps(music_record()) + "\nHope this helps!"
    with pytest.raises(UASParseError) as info:
        parse_uas(text)
    assert info.value.reason == "trailing text after the JSON object"
    assert (info.value.line, info.value.col, info.value.pos) == (2, 1, text.index("Hope"))


def test_parse_rejects_prose_before_the_object():
    with pytest.raises(UASParseError, match="invalid JSON") as info:
        parse_uas("Here is the JSON: " + json.dumps(music_record()))
    assert info.value.pos == 0


def test_parse_rejects_an_array_where_the_object_starts():
    text = "  [" + json.dumps(music_record()) + "]"
    with pytest.raises(UASParseError, match="expected a JSON object, found an array") as info:
        parse_uas(text)
    assert (info.value.line, info.value.col) == (1, 3)


def test_parse_rejects_an_unclosed_fence():
    with pytest.raises(UASParseError, match="code fence is not closed"):
        parse_uas("```json\n" + json.dumps(music_record()))


def test_parse_rejects_empty_output():
    with pytest.raises(UASParseError, match="empty output"):
        parse_uas("   \n ")


def test_parse_rejects_duplicate_keys_instead_of_keeping_the_last():
    text = '{"transcription": "a", "transcription": null}'
    with pytest.raises(UASParseError, match="duplicate key 'transcription'"):
        parse_uas(text)


def test_parse_lists_every_schema_violation_by_field_path():
    record = speech_record()
    record["paralinguistics"]["age"] = "Teenager"
    record["nonLinguisticEvents"]["discreteEvents"][0]["label"] = 7
    del record["paralinguistics"]["timbre"]
    with pytest.raises(UASParseError) as info:
        parse_uas(json.dumps(record))
    paths = [path for path, _ in info.value.violations]
    assert paths == ["paralinguistics.age", "paralinguistics.timbre", "nonLinguisticEvents.discreteEvents[0].label"]
    assert "3 schema violation(s)" in str(info.value)


def test_parse_rejects_python_attribute_names_in_data():
    record = speech_record()
    record["non_linguistic_events"] = record.pop("nonLinguisticEvents")
    with pytest.raises(UASParseError) as info:
        parse_uas(json.dumps(record))
    assert {path for path, _ in info.value.violations} == {"nonLinguisticEvents", "non_linguistic_events"}


def test_parse_error_is_a_value_error_that_survives_pickling():
    assert issubclass(UASParseError, ValueError)
    with pytest.raises(UASParseError) as info:
        parse_uas('{"transcription": null}\n]')
    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.line, copy.col, copy.violations) == (str(info.value), 2, 1, [])


@pytest.mark.parametrize("word,category", [
    ("Excitement", "Happiness"), ("frustrated", "Sadness"), ("  ANGRY ", "Anger"), ("scared", "Fear"),
    ("calm", "Neutral"), ("surprise", "Surprise"), ("disgusted", "Disgust"), ("fear", "Fear"),
])
def test_normalize_emotion_maps_unambiguous_synonyms(word, category):
    assert normalize_emotion(word) == category


@pytest.mark.parametrize("word", ["Boredom", "contemplative", "mixed", "", "happy-ish", "not angry"])
def test_normalize_emotion_returns_none_for_unknown_words_never_neutral(word):
    assert normalize_emotion(word) is None


def test_every_category_maps_to_itself():
    assert [normalize_emotion(e) for e in EMOTIONS] == list(EMOTIONS)


def test_parse_maps_emotion_synonyms_and_category_case_when_asked():
    record = speech_record()
    record["paralinguistics"].update(emotion="Excited", gender="female", age=" adult")
    uas = parse_uas(json.dumps(record))
    assert (uas.paralinguistics.emotion, uas.paralinguistics.gender, uas.paralinguistics.age) == (
        "Happiness", "Female", "Adult")


def test_parse_keeps_synonyms_as_violations_without_normalization():
    record = speech_record()
    record["paralinguistics"]["emotion"] = "Excited"
    with pytest.raises(UASParseError) as info:
        parse_uas(json.dumps(record), normalize_synonyms=False)
    assert [path for path, _ in info.value.violations] == ["paralinguistics.emotion"]


def test_parse_rejects_unknown_emotion_even_with_normalization():
    record = speech_record()
    record["paralinguistics"]["emotion"] = "Boredom"
    with pytest.raises(UASParseError, match="paralinguistics.emotion"):
        parse_uas(json.dumps(record))


def test_duplicate_event_labels_are_rejected_by_the_model():
    record = music_record()
    record["nonLinguisticEvents"]["discreteEvents"] = [{"label": "beep", "characteristic": "a"},
                                                       {"label": "beep", "characteristic": "b"}]
    with pytest.raises(UASParseError, match="repeated: beep"):
        parse_uas(json.dumps(record))


def test_get_field_reads_every_field_path():
    record = speech_record()
    values = {path: get_field(record, path) for path in FIELD_PATHS}
    assert values["transcription"] == "Put the kettle on, please."
    assert values["paralinguistics.emotion"] == "Happiness"
    assert values["nonLinguisticEvents.continuousEvents"] == [
        {"label": "hiss", "characteristic": "steady pink-noise hiss"}]
    assert len(values) == 10


def test_get_field_names_unknown_paths_and_missing_fields():
    with pytest.raises(KeyError, match="unknown UAS field path 'paralinguistics.mood'"):
        get_field(speech_record(), "paralinguistics.mood")
    with pytest.raises(KeyError, match="missing 'paralinguistics'"):
        get_field({"transcription": None}, "paralinguistics.age")


def test_null_paralinguistics_has_the_six_keys_all_null():
    assert null_paralinguistics() == {k: None for k in ("age", "gender", "emotion", "accent", "prosody", "timbre")}


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(max_size=60),
    st.sampled_from(["```json\n", "```", "Here:\n```json\n", "{", "[", '{"transcription": ', "}"]).flatmap(
        lambda head: st.text(max_size=40).map(lambda tail: head + tail)),
))
def test_any_text_gives_a_record_or_a_parse_error_never_another_exception(text):
    for parse in (parse_uas, parse_uas_reply):
        try:
            parse(text)
        except UASParseError as err:
            assert 0 <= err.pos <= len(text) and err.line >= 1 and err.col >= 1


# --- parse_uas_reply: prose around one fenced block (chat-model replies, the official release's fenced output) ---


def test_reply_accepts_plain_and_fenced_json_as_parse_uas_does():
    plain = json.dumps(speech_record())
    assert parse_uas_reply(plain).to_dict() == speech_record()
    assert parse_uas_reply("```json\n" + plain + "\n```").to_dict() == speech_record()


def test_reply_accepts_prose_before_and_after_one_json_fence():
    reply = ("Sure! Here is the analysis of the audio:\n\n```json\n" + json.dumps(speech_record(), indent=2)
             + "\n```\n\nThe speaker sounds cheerful.")
    assert parse_uas_reply(reply).to_dict() == speech_record()
    assert parse_uas_reply("Result: ```" + json.dumps(music_record()) + "``` done").to_dict() == music_record()


def test_reply_keeps_backticks_inside_an_unfenced_objects_strings():
    record = speech_record() | {"transcription": "type ``` then enter"}
    assert parse_uas_reply(json.dumps(record)).transcription == "type ``` then enter"


def test_reply_locates_invalid_json_inside_the_fence_in_the_whole_reply():
    reply = 'Here it is:\n```json\n{"transcription": nul}\n```\nThanks.'
    with pytest.raises(UASParseError, match="invalid JSON") as info:
        parse_uas_reply(reply)
    assert (info.value.pos, info.value.line, info.value.col) == (reply.index("nul"), 3, 19)
    assert info.value.text == reply


def test_reply_reports_schema_violations_of_the_fenced_record():
    reply = "Answer:\n```json\n" + json.dumps({"transcription": "hi"}) + "\n```"
    with pytest.raises(UASParseError, match="schema violation") as info:
        parse_uas_reply(reply)
    assert info.value.pos == reply.index("{")
    assert "paralinguistics" in {path for path, _ in info.value.violations}


@pytest.mark.parametrize(
    ("reply", "message", "at"),
    [
        ("Here:\n```json\n{}", "code fence is not closed", "```"),
        ("A\n```json\n{}\n```\nB\n```json\n{}\n```", "2 fenced blocks: expected one", "```json\n{}\n```\n"),
        ("Code:\n```python\nprint(1)\n```", "marked 'python', expected json", "```"),
        ("I could not analyse this audio.", "invalid JSON", "I"),
        ("", "empty output", ""),
    ],
)
def test_reply_without_exactly_one_json_block_is_a_positioned_error(reply, message, at):
    with pytest.raises(UASParseError, match=message) as info:
        parse_uas_reply(reply)
    expected = reply.index(at) if at else 0
    if message.startswith("2 fenced"):
        expected = reply.index("```", reply.index("B"))
    assert info.value.pos == expected


def test_reply_refuses_a_non_string():
    with pytest.raises(TypeError, match="as str"):
        parse_uas_reply(b"{}")
