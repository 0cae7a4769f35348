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

from ..clip import Clip
from .base import Measurements


def _audio_input(clip: Clip) -> dict[str, Any]:
    return {"array": clip.waveform, "sampling_rate": clip.sampling_rate}


class AudioClassificationExpert:
    """Top labels of an audio-classification model. Columns: ``<field>_label``, ``<field>_score`` and
    ``<field>_labels`` (every label scoring at least ``threshold``, best first)."""

    def __init__(self, model: str, field: str, top_k: int = 5, threshold: float = 0.3, device: str | int | None = None,
                 name: str | None = None):
        from transformers import pipeline

        self.field, self.top_k, self.threshold = field, top_k, threshold
        self.name = name or f"{field}_classifier"
        self.model_id = model
        self._pipe = pipeline("audio-classification", model=model, device=device)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        results = self._pipe([_audio_input(c) for c in batch], top_k=self.top_k)
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


class ASRExpert:
    """Transcribes clips without a transcript. Column ``asr_transcript`` (None when the clip had one)."""

    name = "asr"

    def __init__(self, model: str, device: str | int | None = None, generate_kwargs: dict | None = None):
        from transformers import pipeline

        self.model_id = model
        self.generate_kwargs = generate_kwargs or {}
        self._pipe = pipeline("automatic-speech-recognition", model=model, device=device)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        missing = [c for c in batch if c.transcript is None and not c.ground_truth]
        texts: dict[str, str] = {}
        if missing:
            kwargs = {"generate_kwargs": self.generate_kwargs} if self.generate_kwargs else {}
            results = self._pipe([_audio_input(c) for c in missing], **kwargs)
            for clip, result in zip(missing, results):
                text = result["text"].strip()
                texts[clip.id] = text
                clip.transcript = text or None
        return [{"asr_transcript": texts.get(c.id)} for c in batch]

    def describe(self, m: Measurements) -> str:
        return ""  # the transcript is not part of the acoustic caption; stage 2 receives it separately


class CaptionerExpert:
    """Free-text caption of the clip by a chat audio model. Column ``caption``.

    ``task="audio-to-uas"`` (the default) loads a UAS-Audio checkpoint through its registered pipeline and
    asks it the caption prompt; the pipeline's ``text`` output is the caption.
    """

    name = "captioner"

    def __init__(self, model: str, task: str = "audio-to-uas", device: str | int | None = None,
                 max_new_tokens: int = 96):
        import uas_audio  # noqa: F401  (registers the audio-to-uas task)
        from transformers import pipeline

        from ...schema.prompts import CAPTION_PROMPT

        self.model_id, self.prompt, self.max_new_tokens = model, CAPTION_PROMPT, max_new_tokens
        self._pipe = pipeline(task, model=model, device=device)

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
