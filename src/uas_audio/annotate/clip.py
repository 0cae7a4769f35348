"""The unit every expert sees: one decoded mono clip, its transcript, and a memo of shared analyses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Clip:
    """A decoded clip. ``waveform`` is float32 mono at ``sampling_rate``; ``transcript`` is the ground truth
    text when the source has one (None otherwise); ``ground_truth`` says the source has a transcript column, so
    a None transcript means "no speech" rather than "unknown" (ASR experts transcribe only clips without it)."""

    id: str
    waveform: np.ndarray
    sampling_rate: int = 16000
    transcript: str | None = None
    ground_truth: bool = False
    _memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def duration_s(self) -> float:
        return len(self.waveform) / float(self.sampling_rate)

    def analysis(self, key: str, compute: Callable[["Clip"], Any]) -> Any:
        """Compute ``compute(self)`` once per clip and share it between experts (STFT, voice activity...)."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]
