"""Task prompts of UAS-SPEC §1."""

import pytest

from uas_audio.schema import ASR_PROMPT, CAPTION_PROMPT, HOLISTIC_PROMPT, TTS_PROMPT_TEMPLATE, mcq_prompt, tts_prompt


def test_prompt_texts():
    assert HOLISTIC_PROMPT == ("Analyze the audio and output a JSON with transcription, voice features, "
                               "and non-linguistic events.")
    assert ASR_PROMPT == "Transcribe the following audio content into text."
    assert CAPTION_PROMPT == "Describe the content of the following audio."
    assert TTS_PROMPT_TEMPLATE.format(text="Hi there.") == "Convert the following text into audio: Hi there."
    assert tts_prompt("Hi there.") == "Convert the following text into audio: Hi there."


def test_mcq_prompt_is_question_blank_line_lettered_options():
    assert mcq_prompt("What is the speaker's emotion?", ["Anger", "Fear", "Neutral"]) == (
        "What is the speaker's emotion?\n\nA. Anger\nB. Fear\nC. Neutral")


@pytest.mark.parametrize("options", [["only one"], "AB", [str(i) for i in range(11)]])
def test_mcq_prompt_rejects_bad_option_lists(options):
    with pytest.raises(ValueError, match="options"):
        mcq_prompt("Q?", options)


def test_targeted_prompt_names_the_fields_in_order():
    from uas_audio.schema import targeted_prompt

    assert targeted_prompt(["paralinguistics.emotion", "paralinguistics.gender"]) == \
        "Identify the speaker's emotion and speaker's gender in a concise format."
    assert targeted_prompt(["paralinguistics.gender"]) == "Identify the speaker's gender in a concise format."
    assert targeted_prompt(["transcription", "paralinguistics.age", "nonLinguisticEvents.discreteEvents"]) == \
        "Identify the transcription, speaker's age and discrete sound events in a concise format."
    for bad in ([], "paralinguistics.gender", ["paralinguistics.pitch"]):
        with pytest.raises(ValueError, match="targeted prompt"):
            targeted_prompt(bad)
