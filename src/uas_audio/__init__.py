"""uas-audio: Unified Audio Schema supervision for audio LLMs on the Hugging Face stack.

Importing the package is light: ``uas_audio.schema``, ``uas_audio.audio`` and ``uas_audio.synth`` need neither torch
nor transformers. The Auto classes and the ``audio-to-uas`` pipeline task are registered with transformers as soon
as it is loaded (at once if it already is; see ``uas_audio.registration``), so ``import uas_audio`` followed by
``AutoModel.from_pretrained(...)`` or ``pipeline("audio-to-uas", ...)`` works. Subpackages and ``tiny_*`` load on
first attribute access.
"""

__version__ = "0.1.0"

from .registration import install as _install_registration

_install_registration()

_TINY = ("tiny_config", "tiny_model", "tiny_processor", "tiny_speech_tokenizer")
_SUBPACKAGES = ("annotate", "audio", "evaluation", "hub_cards", "modeling", "pipelines", "processing", "qa",
                "review", "schema", "synth", "trainers")


def __getattr__(name: str):
    import importlib

    if name in _TINY:
        return getattr(importlib.import_module(".tiny", __name__), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'uas_audio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_TINY, *_SUBPACKAGES})
