"""Stages 1-3's trainer: TRL's ``SFTTrainer`` with an LM-head loss that scores labelled positions only off CUDA,
and a per-step FLOPs estimate that does not recount the parameters every step.

Everything else is the stock trainer (the collator carries the audio; ``skip_prepare_dataset`` leaves the rows to
it). See :mod:`uas_audio.trainers.lm_head` for why the loss head is replaced on CPU.
"""

from __future__ import annotations

from typing import Any

from accelerate.utils import is_peft_model
from trl import SFTTrainer

from .lm_head import add_labelled_lm_head


class AudioSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose fused LM head projects only the labelled positions, on CPU as on CUDA."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        base = self.model.get_base_model() if is_peft_model(self.model) else self.model
        self.labelled_lm_head = add_labelled_lm_head(base)
        self._non_embedding_parameters: int | None = None

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """``Trainer``'s estimate (6 × input tokens × non-embedding parameters), with the parameter count taken once:
        it does not change while training, and counting walks every parameter on every step."""
        main_input = getattr(self.model, "main_input_name", "input_ids")
        if main_input not in inputs or not hasattr(self.model, "num_parameters"):
            return 0
        if self._non_embedding_parameters is None:
            self._non_embedding_parameters = self.model.num_parameters(exclude_embeddings=True)
        return 6 * inputs[main_input].numel() * self._non_embedding_parameters


__all__ = ["AudioSFTTrainer"]
