"""Embedded English ASR: PocketSphinx with the acoustic model, dictionary and language model its wheel ships
(``pocketsphinx/model/en-us``, BSD-2-Clause; ``uas-audio[experts]``). Offline, CPU, no weights fetched.

It transcribes only clips that arrived without a ground-truth transcript (ground truth always wins) and
reports a confidence: the decoder's posterior probability of the best hypothesis, taken per word (its
geometric mean over the words), so a long sentence and a single word are on one scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..clip import Clip
from .base import Measurements

MODEL_NAME = "pocketsphinx en-us (cmusphinx-en-us-ptm-5.2, en-us.lm.bin, cmudict-en-us)"
MODEL_LICENCE = "BSD-2-Clause"


class PocketsphinxASRExpert:
    """Columns ``asr_transcript`` (None for clips with ground truth or when nothing was recognised) and
    ``asr_confidence`` (0-1, per-word posterior)."""

    name = "asr"

    def __init__(self, **decoder_options: Any):
        from importlib.metadata import version

        import pocketsphinx  # noqa: F401  (fail here, at configuration time, when the wheel is missing)

        self.model_id, self.revision, self.licence = MODEL_NAME, version("pocketsphinx"), MODEL_LICENCE
        self._options = decoder_options
        self._decoder_instance = None  # loaded on the first clip without ground truth (about 1 s)

    @property
    def _decoder(self):
        if self._decoder_instance is None:
            from pocketsphinx import Decoder

            self._decoder_instance = Decoder(samprate=16000, logfn="/dev/null", **self._options)
        return self._decoder_instance

    def transcribe(self, waveform: np.ndarray, sampling_rate: int = 16000) -> tuple[str, float]:
        """(text, confidence) for one 16 kHz mono float clip."""
        if sampling_rate != 16000:
            raise ValueError(f"pocketsphinx expects 16 kHz audio here, got {sampling_rate} Hz")
        pcm = (np.clip(waveform, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        d = self._decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        text = (hyp.hypstr if hyp is not None else "").strip()
        if not text:
            return "", 0.0
        words = len(text.split())
        prob = float(min(1.0, max(0.0, hyp.prob)))
        return text, round(prob ** (1.0 / words), 4)

    def __call__(self, batch: list[Clip]) -> list[Measurements]:
        out = []
        for clip in batch:
            if clip.ground_truth:
                out.append({"asr_transcript": None, "asr_confidence": None})
                continue
            text, confidence = self.transcribe(clip.waveform, clip.sampling_rate)
            clip.transcript = text or None  # later experts (speaking rate) read it; the runner weighs the confidence
            out.append({"asr_transcript": text or None, "asr_confidence": confidence if text else None})
        return out

    def describe(self, m: Measurements) -> str:
        return ""  # the transcript goes to stage 2 separately

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model_id, "revision": self.revision, "licence": self.licence}
