"""The task prompts of the UAS model (UAS-SPEC §1), defined once for training data, pipelines and evaluation."""

from __future__ import annotations

from collections.abc import Sequence

#: Holistic output: the full UAS JSON record.
HOLISTIC_PROMPT = "Analyze the audio and output a JSON with transcription, voice features, and non-linguistic events."
#: Speech recognition.
ASR_PROMPT = "Transcribe the following audio content into text."
#: Free-text audio captioning.
CAPTION_PROMPT = "Describe the content of the following audio."
#: Speech synthesis; format with ``text=``.
TTS_PROMPT_TEMPLATE = "Convert the following text into audio: {text}"

#: How the targeted prompt names each field (dotted UAS path → words).
TARGETED_FIELD_NAMES: dict[str, str] = {
    "transcription": "transcription",
    "paralinguistics.age": "speaker's age", "paralinguistics.gender": "speaker's gender",
    "paralinguistics.emotion": "speaker's emotion", "paralinguistics.accent": "speaker's accent",
    "paralinguistics.prosody": "speaker's prosody", "paralinguistics.timbre": "speaker's timbre",
    "nonLinguisticEvents.description": "scene description",
    "nonLinguisticEvents.discreteEvents": "discrete sound events",
    "nonLinguisticEvents.continuousEvents": "continuous sound events",
}

#: Letters of multiple-choice options, in order.
OPTION_LETTERS = "ABCDEFGHIJ"


def tts_prompt(text: str) -> str:
    """The TTS prompt for ``text``."""
    return TTS_PROMPT_TEMPLATE.format(text=text)


def targeted_prompt(paths: Sequence[str]) -> str:
    """The targeted prompt (UAS-SPEC §4: "Identify the speaker's emotion and gender in a concise format") for
    the dotted field ``paths``; the answer is the UAS JSON holding those fields only."""
    unknown = [p for p in paths if p not in TARGETED_FIELD_NAMES]
    if isinstance(paths, str) or not paths or unknown:
        raise ValueError(f"a targeted prompt needs a non-empty list of UAS field paths, got {paths!r}"
                         + (f" (unknown: {unknown})" if unknown and not isinstance(paths, str) else ""))
    names = [TARGETED_FIELD_NAMES[p] for p in paths]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Identify the {listed} in a concise format."


def mcq_prompt(question: str, options: Sequence[str]) -> str:
    """A multiple-choice prompt: the question, a blank line, then one "A. option" line per option."""
    if isinstance(options, str) or not 2 <= len(options) <= len(OPTION_LETTERS):
        raise ValueError(
            f"a multiple-choice prompt needs 2 to {len(OPTION_LETTERS)} options as a list, got {options!r}"
        )
    lines = "\n".join(f"{letter}. {option}" for letter, option in zip(OPTION_LETTERS, options))
    return f"{question}\n\n{lines}"
