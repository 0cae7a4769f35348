"""Model experts: any transformers pipeline chosen by name or path.

- :class:`AudioClassificationExpert`: an ``audio-classification`` pipeline (AudioSet event tagger, emotion,
  age or gender classifier); ``field`` names what its labels mean to stage 2 ("emotion", "age", "gender",
  "accent", "events").
- :class:`ASRExpert`: ``automatic-speech-recognition`` for clips that arrive without a transcript; it also
  fills ``Clip.transcript`` so later experts (speaking rate) and stage 3 (integrity) use it.
- :class:`CaptionerExpert`: a chat audio model answering the caption prompt, e.g. a trained UAS-Audio
  through ``pipeline("audio-to-uas")``; its text joins the acoustic caption.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..clip import Clip
from .base import Measurements


def _device(device: str | int | None) -> str | int | None:
    """``None`` means the first GPU when there is one (model experts run batched there), else the CPU."""
    if device is not None:
        return device
    import torch

    return 0 if torch.cuda.is_available() else None


def _audio_input(clip: Clip) -> dict[str, Any]:
    return {"array": clip.waveform, "sampling_rate": clip.sampling_rate}


class _ModelInfo:
    """Name, revision and licence of a model expert, recorded in the run's report and dataset card; holds the
    expert's transformers pipeline, loaded at construction unless ``load=False`` (then on first use: an engine
    that needs only ``describe`` there, like the Ray engine's synthesis stage, never loads the model)."""

    model_id: str
    revision: str | None = None
    licence: str | None = None
    name: str
    _pipe_instance: Any = None

    def _init_pipe(self, task: str, load: bool, **kwargs: Any) -> None:
        self._pipe_spec = (task, kwargs)
        if load:
            self._pipe  # noqa: B018 - load now: a wrong model path fails at configuration time

    @property
    def _pipe(self):
        if self._pipe_instance is None:
            from transformers import pipeline

            task, kwargs = self._pipe_spec
            self._pipe_instance = pipeline(task, **kwargs)
        return self._pipe_instance

    def info(self) -> dict[str, Any]:
        revision = self.revision
        if revision is None:  # a hub checkpoint records the commit it was loaded from
            revision = getattr(getattr(self._pipe_instance, "model", None), "config", None)
            revision = getattr(revision, "_commit_hash", None)
        return {"name": self.name, "model": self.model_id, "revision": revision,
                "licence": self.licence or "unknown (set 'licence' in the expert spec)"}


class AudioClassificationExpert(_ModelInfo):
    """Top labels of an audio-classification model. Columns: ``<field>_label``, ``<field>_score`` and
    ``<field>_labels`` (every label scoring at least ``threshold``, best first)."""

    def __init__(self, model: str, field: str, top_k: int = 5, threshold: float = 0.3, device: str | int | None = None,
                 name: str | None = None, revision: str | None = None, licence: str | None = None, load: bool = True):
        self.field, self.top_k, self.threshold = field, top_k, threshold
        self.name = name or f"{field}_classifier"
        self.model_id, self.revision, self.licence = model, revision, licence
        self._init_pipe("audio-classification", load, model=model, device=_device(device), revision=revision)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        results = self._pipe([_audio_input(c) for c in batch], top_k=self.top_k, batch_size=len(batch))
        out = []
        for scores in results:
            best = scores[0] if scores else {"label": None, "score": 0.0}
            out.append({
                f"{self.field}_label": best["label"],
                f"{self.field}_score": round(float(best["score"]), 4),
                f"{self.field}_labels": [s["label"] for s in scores if s["score"] >= self.threshold],
            })
        return out

    def describe(self, m: Measurements) -> str:
        label = m.get(f"{self.field}_label")
        if label is None:
            return ""
        if self.field == "events":
            labels = m.get("events_labels") or [label]
            return "tagged sounds: " + ", ".join(labels)
        return f"{self.field}: {label} (score {m.get(f'{self.field}_score', 0):.2f})"


class ASRExpert(_ModelInfo):
    """Transcribes clips without a transcript. Column ``asr_transcript`` (None when the clip had one)."""

    name = "asr"

    def __init__(self, model: str, device: str | int | None = None, generate_kwargs: dict | None = None,
                 revision: str | None = None, licence: str | None = None, batch_size: int = 8, load: bool = True):
        self.model_id, self.revision, self.licence = model, revision, licence
        self.generate_kwargs = generate_kwargs or {}
        self.batch_size = batch_size
        self._init_pipe("automatic-speech-recognition", load, model=model, device=_device(device), revision=revision)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        missing = [c for c in batch if c.transcript is None and not c.ground_truth]
        texts: dict[str, str] = {}
        if missing:
            kwargs = {"generate_kwargs": self.generate_kwargs} if self.generate_kwargs else {}
            results = self._pipe([_audio_input(c) for c in missing], batch_size=self.batch_size, **kwargs)
            for clip, result in zip(missing, results):
                text = result["text"].strip()
                texts[clip.id] = text
                clip.transcript = text or None
        return [{"asr_transcript": texts.get(c.id)} for c in batch]

    def describe(self, m: Measurements) -> str:
        return ""  # the transcript is not part of the acoustic caption; stage 2 receives it separately


class ZeroShotAudioClassificationExpert(_ModelInfo):
    """Open-vocabulary tagging with a CLAP-style model (``zero-shot-audio-classification``): the clip against
    ``labels`` given in the config. Columns as :class:`AudioClassificationExpert` (``<field>_label``,
    ``<field>_score``, ``<field>_labels`` = labels scoring at least ``threshold``). The audio is resampled to the
    model's own rate (48 kHz for CLAP)."""

    def __init__(self, model: str, labels: list[str], field: str = "events", threshold: float = 0.3,
                 hypothesis_template: str = "This is a sound of {}.", device: str | int | None = None,
                 name: str | None = None, revision: str | None = None, licence: str | None = None, load: bool = True):
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x.strip() for x in labels):
            raise ValueError(f"a zero-shot-audio-classification expert needs 'labels': a list of label strings, got {labels!r}")
        self.labels, self.field, self.threshold, self.template = labels, field, threshold, hypothesis_template
        self.name = name or f"{field}_zero_shot"
        self.model_id, self.revision, self.licence = model, revision, licence
        self._init_pipe("zero-shot-audio-classification", load, model=model, device=_device(device), revision=revision)

    @property
    def _rate(self) -> int:
        return int(self._pipe.feature_extractor.sampling_rate)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        import soxr

        out = []
        for clip in batch:
            wave = clip.waveform if clip.sampling_rate == self._rate else soxr.resample(
                clip.waveform, clip.sampling_rate, self._rate).astype(np.float32)
            scores = self._pipe(wave, candidate_labels=self.labels, hypothesis_template=self.template)
            best = scores[0]
            out.append({
                f"{self.field}_label": best["label"],
                f"{self.field}_score": round(float(best["score"]), 4),
                f"{self.field}_labels": [s["label"] for s in scores if s["score"] >= self.threshold],
            })
        return out

    describe = AudioClassificationExpert.describe


class CaptionerExpert(_ModelInfo):
    """Free-text caption of the clip by a chat audio model. Column ``caption``.

    ``task="audio-to-uas"`` (the default) loads a UAS-Audio checkpoint through its registered pipeline and
    asks it the caption prompt; the pipeline's ``text`` output is the caption.
    """

    name = "captioner"

    def __init__(self, model: str, task: str = "audio-to-uas", device: str | int | None = None,
                 max_new_tokens: int = 96, licence: str | None = None, load: bool = True):
        import uas_audio  # noqa: F401  (registers the audio-to-uas task)

        from ...schema.prompts import CAPTION_PROMPT

        self.model_id, self.prompt, self.max_new_tokens = model, CAPTION_PROMPT, max_new_tokens
        self.licence = licence
        self._init_pipe(task, load, model=model, device=device)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        out = []
        for clip in batch:
            result = self._pipe(_audio_input(clip), question=self.prompt, max_new_tokens=self.max_new_tokens)
            if isinstance(result, list):
                result = result[0]
            text = result.get("text") if isinstance(result, dict) else str(result)
            out.append({"caption": (text or "").strip() or None})
        return out

    def describe(self, m: Measurements) -> str:
        return m.get("caption") or ""
