"""Speech presence from Silero VAD, the ONNX model that the ``silero-vad`` wheel ships (``uas-audio[experts]``).

The model file is read from the installed wheel (``silero_vad/data/silero_vad.onnx``, MIT licence) and run with
onnxruntime: no network, no hub, and no ``torch.load`` of a pickle (the wheel's TorchScript ``.jit`` is not used).
Its interface (Silero VAD v5): 512-sample windows at 16 kHz preceded by the last 64 samples of the previous
window, a recurrent state of shape (2, batch, 128), the rate as an int64; it returns the speech probability of
each window. The clips of a batch run as one ONNX batch, shorter ones padded with silence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..clip import Clip
from .base import Measurements

WINDOW, CONTEXT, RATE = 512, 64, 16000
#: A window is speech when the model's probability reaches this (the model's documented default).
SPEECH_PROB = 0.5
MODEL_NAME = "silero-vad"
MODEL_LICENCE = "MIT"


def silero_model_path() -> str:
    """The ONNX file inside the installed ``silero-vad`` wheel (ImportError when the wheel is missing)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("silero_vad")  # located, not imported (its __init__ imports torch)
    if spec is None or spec.origin is None:
        raise ImportError("the silero-vad wheel is not installed (pip install 'uas-audio[experts]')")
    path = Path(spec.origin).parent / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise ImportError(f"the silero-vad wheel has no {path}")
    return str(path)


def silero_version() -> str:
    from importlib.metadata import version

    return version("silero-vad")


class SileroVADExpert:
    """Columns: ``vad_speech_s`` (seconds of windows with probability >= 0.5), ``vad_speech_fraction``,
    ``vad_max_prob`` and ``vad_mean_top_prob`` (mean of the 10 most speech-like windows: the confidence)."""

    name = "silero_vad"

    def __init__(self, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.model_path = silero_model_path()
        self.model_id, self.revision, self.licence = MODEL_NAME, silero_version(), MODEL_LICENCE
        self._session = ort.InferenceSession(self.model_path, sess_options=options,
                                             providers=["CPUExecutionProvider"])

    def probabilities(self, batch: list[Clip]) -> list[np.ndarray]:
        """Per clip, the speech probability of each 32 ms window (16 kHz audio expected)."""
        for clip in batch:
            if clip.sampling_rate != RATE:
                raise ValueError(f"{clip.id}: Silero VAD needs 16 kHz audio, got {clip.sampling_rate} Hz")
        lengths = [int(np.ceil(len(c.waveform) / WINDOW)) for c in batch]
        steps = max(lengths) if lengths else 0
        audio = np.zeros((len(batch), steps * WINDOW), dtype=np.float32)
        for i, clip in enumerate(batch):
            audio[i, :len(clip.waveform)] = clip.waveform
        state = np.zeros((2, len(batch), 128), dtype=np.float32)
        context = np.zeros((len(batch), CONTEXT), dtype=np.float32)
        rate = np.array(RATE, dtype=np.int64)
        probs = np.zeros((len(batch), steps), dtype=np.float32)
        for t in range(steps):
            window = audio[:, t * WINDOW:(t + 1) * WINDOW]
            out, state = self._session.run(None, {"input": np.concatenate([context, window], axis=1),
                                                  "state": state, "sr": rate})
            probs[:, t] = out[:, 0]
            context = window[:, -CONTEXT:]
        return [probs[i, :n] for i, n in enumerate(lengths)]

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        return [self.summarise(p) for p in self.probabilities(batch)]

    @staticmethod
    def summarise(p: np.ndarray) -> Measurements:
        """The expert's columns from one clip's window probabilities (``probabilities``)."""
        top = np.sort(p)[-10:] if p.size else np.zeros(1)
        return {
            "vad_speech_s": round(float((p >= SPEECH_PROB).sum() * WINDOW / RATE), 3),
            "vad_speech_fraction": round(float((p >= SPEECH_PROB).mean()) if p.size else 0.0, 4),
            "vad_max_prob": round(float(p.max()) if p.size else 0.0, 4),
            "vad_mean_top_prob": round(float(top.mean()), 4),
        }

    def describe(self, m: Measurements) -> str:
        return ""  # speech presence is stated by the voice-activity words and the transcript

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model_id, "revision": self.revision, "licence": self.licence}
