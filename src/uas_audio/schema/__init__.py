"""The Unified Audio Schema: types, vocabularies, parsing, JSON Schema, datasets features, validation, prompts.

Pure Python: this module imports nothing else of the package and nothing heavy (no torch; ``datasets`` only
inside the functions that return or take datasets objects).
"""

from .features import uas_features
from .json_schema import subset_json_schema, uas_json_schema
from .parsing import UASParseError, get_field, normalize_emotion, null_paralinguistics, parse_uas, parse_uas_reply
from .prompts import (ASR_PROMPT, CAPTION_PROMPT, HOLISTIC_PROMPT, TARGETED_FIELD_NAMES, TTS_PROMPT_TEMPLATE,
                      mcq_prompt, targeted_prompt, tts_prompt)
from .types import UAS, NonLinguisticEvents, Paralinguistics, SoundEvent
from .validation import (
    DURATION_ALIGNMENT,
    LOGICAL_CONSISTENCY,
    NOT_GIVEN,
    ONTOLOGY,
    REASON_CODES,
    TRANSCRIPTION_INTEGRITY,
    Reason,
    ValidationResult,
    validate,
    validate_dataset,
)
from .vocab import (
    AGES,
    CATEGORIES,
    EMOTION_SYNONYMS,
    EMOTIONS,
    EVENT_KEYS,
    FIELD_PATHS,
    FREE_TEXT_PARALINGUISTICS,
    GENDERS,
    NON_LINGUISTIC_EVENTS,
    PARALINGUISTIC_KEYS,
    PARALINGUISTICS,
    SOUND_EVENT_KEYS,
    TOP_LEVEL_KEYS,
    TRANSCRIPTION,
)

__all__ = [
    # types
    "UAS", "NonLinguisticEvents", "Paralinguistics", "SoundEvent",
    # vocabularies and keys
    "AGES", "CATEGORIES", "EMOTION_SYNONYMS", "EMOTIONS", "EVENT_KEYS", "FIELD_PATHS",
    "FREE_TEXT_PARALINGUISTICS", "GENDERS", "NON_LINGUISTIC_EVENTS", "PARALINGUISTIC_KEYS",
    "PARALINGUISTICS", "SOUND_EVENT_KEYS", "TOP_LEVEL_KEYS", "TRANSCRIPTION",
    # parsing
    "UASParseError", "parse_uas", "parse_uas_reply", "normalize_emotion", "get_field", "null_paralinguistics",
    # JSON Schema and datasets features
    "uas_json_schema", "subset_json_schema", "uas_features",
    # validation
    "validate", "validate_dataset", "ValidationResult", "Reason", "NOT_GIVEN", "REASON_CODES",
    "ONTOLOGY", "TRANSCRIPTION_INTEGRITY", "LOGICAL_CONSISTENCY", "DURATION_ALIGNMENT",
    # prompts
    "HOLISTIC_PROMPT", "ASR_PROMPT", "CAPTION_PROMPT", "TTS_PROMPT_TEMPLATE", "tts_prompt", "mcq_prompt",
    "TARGETED_FIELD_NAMES", "targeted_prompt",
]
