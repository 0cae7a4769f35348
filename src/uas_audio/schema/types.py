"""The UAS record as pydantic v2 models: one definition gives validation, JSON Schema and clear errors."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from .vocab import AGES, EMOTIONS, GENDERS

Age = Literal[AGES]  # type: ignore[valid-type]
Gender = Literal[GENDERS]  # type: ignore[valid-type]
Emotion = Literal[EMOTIONS]  # type: ignore[valid-type]

_STRICT = ConfigDict(extra="forbid", strict=True)
# Models with camelCase aliases: Python code may construct them by attribute name, while data (dicts, JSON)
# is read by alias only when the caller passes ``by_name=False`` (parse_uas and validate do).
_STRICT_ALIASED = ConfigDict(extra="forbid", strict=True, validate_by_alias=True, validate_by_name=True)

#: pydantic error type raised for repeated event labels; the validator reports it as a logical-consistency
#: problem rather than an ontology one, because JSON Schema cannot express it.
DUPLICATE_LABEL_ERROR = "duplicate_event_label"


class SoundEvent(BaseModel):
    """One sound event: a short label and how it sounds."""

    model_config = _STRICT
    label: str
    characteristic: str


class Paralinguistics(BaseModel):
    """Speaker traits; every field is null when the clip has no human voice."""

    model_config = _STRICT
    age: Optional[Age]
    gender: Optional[Gender]
    emotion: Optional[Emotion]
    accent: Optional[str]
    prosody: Optional[str]
    timbre: Optional[str]


class NonLinguisticEvents(BaseModel):
    """The acoustic scene: one sentence, one-shot sounds, and sounds that persist."""

    model_config = _STRICT_ALIASED
    description: str
    discrete_events: list[SoundEvent] = Field(alias="discreteEvents")
    continuous_events: list[SoundEvent] = Field(alias="continuousEvents")

    @field_validator("discrete_events", "continuous_events")
    @classmethod
    def _unique_labels(cls, events: list[SoundEvent]) -> list[SoundEvent]:
        seen: set[str] = set()
        dupes: set[str] = set()
        for event in events:  # compared as validate() compares them: case-insensitive, outer whitespace ignored
            key = event.label.strip().casefold()
            (dupes if key in seen else seen).add(key)
        if dupes:
            raise PydanticCustomError(
                DUPLICATE_LABEL_ERROR,
                "event labels must be unique within a list; repeated: {labels}",
                {"labels": ", ".join(sorted(dupes))},
            )
        return events


class UAS(BaseModel):
    """A Unified Audio Schema record: transcription, paralinguistics, non-linguistic events."""

    model_config = _STRICT_ALIASED
    transcription: Optional[str]
    paralinguistics: Paralinguistics
    non_linguistic_events: NonLinguisticEvents = Field(alias="nonLinguisticEvents")

    def to_dict(self) -> dict:
        """The record as plain JSON-ready data with the schema's camelCase keys."""
        return self.model_dump(by_alias=True)

    def to_json(self, indent: int | None = None) -> str:
        """The record as JSON text with the schema's camelCase keys."""
        return self.model_dump_json(by_alias=True, indent=indent)
