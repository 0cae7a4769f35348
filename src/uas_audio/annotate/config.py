"""The annotation run's configuration: which experts, which synthesizer, how to batch and shard.

Read from YAML or a dict; unknown keys are errors (a typo must not silently fall back to a default).
The ``--llm`` / ``--endpoint`` command-line options fill ``synthesizer``.

Example::

    experts:
      - pitch
      - voice_activity
      - {type: audio-classification, model: ./emotion-model, field: emotion}
    synthesizer: {type: llm, endpoint: http://127.0.0.1:8000/v1, model: Qwen/Qwen2.5-7B-Instruct,
                  api_key_env: LLM_API_KEY, max_concurrency: 16, timeout_s: 60, max_retries: 3}
    batch_size: 16
    shard_size: 512
    ray: {workers: 4, experts: {emotion_classifier: {num_gpus: 0.5}}}   # only read by --engine ray
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .confidence import MIN_ASR_CONFIDENCE, MIN_EVENT_CONFIDENCE, MIN_GENDER_CONFIDENCE
from .experts import default_experts


@dataclass
class AnnotateConfig:
    #: Expert specs in run order: a signal expert's name or a dict with ``type`` (see ``experts.build_expert``).
    experts: list[Any] = field(default_factory=default_experts)
    #: Stage-2 synthesizer: None / {"type": "rules"} or {"type": "llm", "endpoint" | "model": ..., ...}.
    synthesizer: dict[str, Any] | None = None
    #: Clips handed to the experts (and to the synthesizer) at once.
    batch_size: int = 16
    #: Rows per output parquet shard: the unit of resumption.
    shard_size: int = 256
    #: Worker processes for stage 1-3 within one shard (``datasets.map(num_proc=...)``).
    num_proc: int = 1
    sampling_rate: int = 16000
    id_column: str = "id"
    audio_column: str = "audio"
    #: Ground-truth transcript column; a missing column means "no ground truth" (ASR fills it if configured).
    transcript_column: str = "transcript"
    #: Copy the source's audio reference (bytes/path) into the output, so UAS-QA rows can point at it.
    keep_audio: bool = True
    #: Below this posterior the speaker's gender is not guessed: the row is rejected (``low_confidence``) unless
    #: stage 2 leaves gender null (the caption states the uncertainty). 0 turns the check off.
    min_gender_confidence: float = MIN_GENDER_CONFIDENCE
    #: Signal event labels below this confidence (precision on real dev audio) are not emitted. 0 keeps all.
    min_event_confidence: float = MIN_EVENT_CONFIDENCE
    #: An ASR transcript below this confidence does not count: speech without a transcript is ``needs_transcript``.
    min_asr_confidence: float = MIN_ASR_CONFIDENCE
    #: Placement on a Ray cluster for ``engine="ray"`` (the local runner ignores it): ``address``, ``workers``,
    #: resources and batch size per model expert, synthesis actors; see ``uas_audio.annotate.ray_engine.RayOptions``.
    #: Like ``num_proc`` it never changes the rows, so it is not part of the fingerprint.
    ray: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("batch_size", "shard_size", "num_proc", "sampling_rate"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"config {name!r} must be a positive integer, got {value!r}")
        for name in ("min_gender_confidence", "min_event_confidence", "min_asr_confidence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"config {name!r} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.ray, dict):
            raise ValueError(f"config 'ray' must be a mapping (address, workers, experts, synthesis), got {self.ray!r}")
        if not isinstance(self.experts, list):
            raise ValueError(f"config 'experts' must be a list of expert specs, got {self.experts!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "AnnotateConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; expected some of {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "AnnotateConfig":
        import yaml

        text = Path(path).read_text()
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
        return cls.from_dict(data, source=str(path))

    def fingerprint(self) -> str:
        """A hash of everything that changes the output rows (not ``num_proc``), stored in the manifest so a
        restart with a different configuration is refused instead of mixing outputs."""
        data = asdict(self)
        data.pop("num_proc")
        data.pop("ray")
        if isinstance(data.get("synthesizer"), dict):  # concurrency and timeouts do not change records
            data["synthesizer"] = {k: v for k, v in data["synthesizer"].items()
                                   if k not in ("max_concurrency", "timeout_s", "max_retries", "backoff_s")}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
