"""Stage 1 experts: every one maps a batch of clips to named measurements and words its caption part.

``build_experts(config)`` turns a list of expert specs (from YAML or a dict) into expert objects; the
offline default needs no weights.
"""

from __future__ import annotations

from typing import Any

from .background import BackgroundExpert
from .base import Expert, Measurements
from .events import OnsetEventExpert
from .formants import FormantExpert
from .level import LoudnessExpert, SNRExpert
from .pitch import PitchExpert
from .rate import SpeakingRateExpert
from .tremor import TremorExpert
from .voice import VoiceActivityExpert

#: The signal-processing experts, by config name.
SIGNAL_EXPERTS: dict[str, type] = {
    "pitch": PitchExpert,
    "formants": FormantExpert,
    "tremor": TremorExpert,
    "voice_activity": VoiceActivityExpert,
    "speaking_rate": SpeakingRateExpert,
    "loudness": LoudnessExpert,
    "snr": SNRExpert,
    "events": OnsetEventExpert,
    "background": BackgroundExpert,
}
#: Every signal-processing expert: no weights, the part of the default that is always there.
DEFAULT_EXPERTS: tuple[str, ...] = tuple(SIGNAL_EXPERTS)
#: Model experts embedded in registry wheels (``uas-audio[experts]``): config name -> (module, class).
EMBEDDED_EXPERTS: dict[str, tuple[str, str]] = {
    "silero_vad": ("silero", "SileroVADExpert"),
    "pocketsphinx": ("pocketsphinx_asr", "PocketsphinxASRExpert"),
}
_EMBEDDED_REQUIRES = {"silero_vad": ("onnxruntime", "silero_vad"), "pocketsphinx": ("pocketsphinx",)}


def embedded_experts_available() -> list[str]:
    """The embedded model experts whose wheels are installed (``UAS_AUDIO_EMBEDDED_EXPERTS=0`` turns them off)."""
    import importlib.util
    import os

    if os.environ.get("UAS_AUDIO_EMBEDDED_EXPERTS", "1").strip().lower() in ("0", "false", "no", "off"):
        return []
    return [name for name, modules in _EMBEDDED_REQUIRES.items()
            if all(importlib.util.find_spec(m) is not None for m in modules)]


def default_experts() -> list[str]:
    """The default expert list: every signal expert, plus the embedded model experts that are installed."""
    return list(DEFAULT_EXPERTS) + embedded_experts_available()


def is_signal_expert(spec: str | dict[str, Any]) -> bool:
    """Whether a spec names a signal-processing expert (no model to hold: an engine may run it anywhere)."""
    return (spec if isinstance(spec, str) else spec.get("type") if isinstance(spec, dict) else None) in SIGNAL_EXPERTS


def build_expert(spec: str | dict[str, Any], load: bool = True) -> Expert:
    """One expert from a spec: a signal expert's name ("pitch"), or a dict
    ``{"type": "audio-classification" | "automatic-speech-recognition" | "captioner" | <signal name>, ...}``
    whose other keys are the expert's constructor arguments (``model`` = hub name or local path).
    ``load=False`` leaves a transformers model expert's model unloaded until its first call."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"expert spec must be a name or a dict with a 'type' key, got {spec!r}")
    kind, kwargs = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    if kind in SIGNAL_EXPERTS:
        return SIGNAL_EXPERTS[kind](**kwargs)
    if kind in EMBEDDED_EXPERTS:
        import importlib

        module, cls = EMBEDDED_EXPERTS[kind]
        try:
            factory = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
            return factory(**kwargs)
        except ImportError as err:
            raise ValueError(f"expert {kind!r} needs the optional wheels of `pip install 'uas-audio[experts]'` "
                             f"({err})") from None
    if kind in ("audio-classification", "automatic-speech-recognition", "captioner", "zero-shot-audio-classification"):
        if "model" not in kwargs:
            raise ValueError(f"expert {kind!r} needs a 'model' (hub name or local path); got {spec!r}")
        from .models import ASRExpert, AudioClassificationExpert, CaptionerExpert, ZeroShotAudioClassificationExpert

        if not load:
            kwargs["load"] = False

        if kind == "zero-shot-audio-classification":
            if "labels" not in kwargs:
                raise ValueError(f"a zero-shot-audio-classification expert needs 'labels' to choose from; got {spec!r}")
            return ZeroShotAudioClassificationExpert(**kwargs)

        if kind == "audio-classification":
            if "field" not in kwargs:
                raise ValueError("an audio-classification expert needs 'field' (emotion, age, gender, accent or "
                                 f"events) saying what its labels mean; got {spec!r}")
            return AudioClassificationExpert(**kwargs)
        return ASRExpert(**kwargs) if kind == "automatic-speech-recognition" else CaptionerExpert(**kwargs)
    raise ValueError(
        f"unknown expert type {kind!r}; expected one of {', '.join([*SIGNAL_EXPERTS, *EMBEDDED_EXPERTS])}, audio-classification, "
        "automatic-speech-recognition, zero-shot-audio-classification, captioner"
    )


def build_experts(specs: list[str | dict[str, Any]] | None = None, load: bool = True) -> list[Expert]:
    """Experts in run order. ASR runs first so later experts see its transcripts."""
    experts = [build_expert(s, load) for s in (specs if specs is not None else default_experts())]
    names = [e.name for e in experts]
    if len(set(names)) != len(names):
        raise ValueError(f"expert names must be unique; got {names} (give model experts a 'name')")
    return sorted(experts, key=lambda e: 0 if e.name == "asr" else 1)


def run_experts(experts: list[Expert], batch: list[Any]) -> list[Measurements]:
    """Merged measurements per clip, in batch order; later experts' columns never overwrite earlier ones."""
    merged: list[Measurements] = [{} for _ in batch]
    for expert in experts:
        for row, produced in zip(merged, expert(batch)):
            for key, value in produced.items():
                if key in row:
                    raise ValueError(f"expert {expert.name!r} produced column {key!r} already set by another expert")
                row[key] = value
    return merged


def expert_info(experts: list[Expert]) -> list[dict[str, Any]]:
    """Name, model, revision and licence of every expert of a run (signal experts: the project's own code)."""
    out = []
    for e in experts:
        if hasattr(e, "info"):
            out.append(e.info())
        else:
            model = getattr(e, "model_id", None)
            out.append({"name": e.name, "model": model or "uas-audio signal processing",
                        "revision": getattr(e, "revision", None), "licence": getattr(e, "licence", None)
                        if model else "Apache-2.0 (uas-audio)"})
    return out


def describe(experts: list[Expert], measurements: Measurements) -> str:
    """The acoustic caption: every expert's words joined into one line."""
    parts = [expert.describe(measurements) for expert in experts]
    return "; ".join(p for p in parts if p)


__all__ = [
    "Expert", "Measurements", "BackgroundExpert", "FormantExpert", "OnsetEventExpert", "LoudnessExpert", "SNRExpert", "PitchExpert",
    "SpeakingRateExpert", "TremorExpert", "VoiceActivityExpert", "SIGNAL_EXPERTS", "DEFAULT_EXPERTS", "EMBEDDED_EXPERTS", "default_experts",
    "embedded_experts_available", "expert_info", "build_expert", "is_signal_expert",
    "build_experts", "run_experts", "describe",
]
