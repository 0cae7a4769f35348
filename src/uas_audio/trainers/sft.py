"""Stages 1-3's trainer: TRL's ``SFTTrainer`` with an LM-head loss that scores labelled positions only off CUDA.

Everything else is the stock trainer (the collator carries the audio; ``skip_prepare_dataset`` leaves the rows to
it). See :mod:`uas_audio.trainers.lm_head` for why the loss head is replaced on CPU.
"""

from __future__ import annotations

from accelerate.utils import is_peft_model
from trl import SFTTrainer

from .lm_head import add_labelled_lm_head


class AudioSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose fused LM head projects only the labelled positions, on CPU as on CUDA."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        base = self.model.get_base_model() if is_peft_model(self.model) else self.model
        self.labelled_lm_head = add_labelled_lm_head(base)


__all__ = ["AudioSFTTrainer"]
