"""FSDP2 (accelerate `fsdp_version: 2`) with UAS-Audio: the LM-head unit, and a final save that loads as a plain model.

- accelerate's ``fsdp2_prepare_model`` shards the LM head as its own unit together with the final norm it finds among
  the direct children of the base model. UAS-Audio's final norm sits in ``model.language_model``, so the head unit
  is alone, and nothing gathers it when the fused LM-head losses (TRL's on CUDA, ``lm_head.py`` elsewhere) read
  ``lm_head.weight`` without calling the module: the matmul then meets a sharded DTensor. ``LMHeadUnshardCallback``
  gathers that unit at the start of every forward of the model; FSDP2's end-of-backward callback reduce-scatters
  its gradient and reshards it like any unit whose post-backward hook did not run.
- ``Trainer.save_model`` under FSDP2 calls ``save_pretrained`` on the wrapped model, whose class FSDP2 replaced:
  the custom-code files and ``auto_map`` written then name torch's FSDP modules. ``save_trained_model`` gathers the
  full state dict on every rank and has rank 0 save it through a plain instance of the model's own class (split
  stage-1 vocabulary rows merged back; under DeepSpeed the same for a stage-1 model, whose gathered ZeRO state dict
  names the split rows).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import TrainerCallback

from .freezing import has_split_rows, merge_split_rows


def _fsdp_module_class():
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch without FSDP2
        return None
    return FSDPModule


class LMHeadUnshardCallback(TrainerCallback):
    """Gathers an FSDP2-sharded LM head at the start of each forward of the model (a no-op without FSDP2)."""

    def __init__(self):
        self._handle = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        fsdp_module = _fsdp_module_class()
        head = model.get_output_embeddings() if model is not None else None
        if fsdp_module is None or not isinstance(head, fsdp_module) or self._handle is not None:
            return
        self._handle = model.register_forward_pre_hook(lambda module, args: head.unshard())

    def on_train_end(self, args, state, control, **kwargs):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


def _own_class(model) -> type:
    """The model's class before FSDP2 replaced it with ``FSDP<class>``."""
    fsdp_module = _fsdp_module_class()
    for cls in type(model).__mro__:
        if fsdp_module is None or not issubclass(cls, fsdp_module):
            return cls
    raise TypeError(f"no model class under {type(model).__name__}")


def save_trained_model(trainer, output_dir: str | Path) -> None:
    """``trainer.save_model``, except under FSDP2 (and DeepSpeed with stage 1's split rows, untested): the gathered
    weights saved by rank 0 through the model's own class, with split rows merged, so the folder loads with
    ``from_pretrained`` (and with remote code) like an unsharded run's. PEFT models keep ``trainer.save_model``."""
    fsdp_module = _fsdp_module_class()
    model = trainer.model
    fsdp2 = getattr(trainer, "is_fsdp_enabled", False) and fsdp_module is not None and isinstance(model, fsdp_module)
    deepspeed = getattr(trainer, "is_deepspeed_enabled", False) and has_split_rows(model)
    if hasattr(model, "peft_config") or not (fsdp2 or deepspeed):
        trainer.save_model(str(output_dir))
        return
    # a collective: every rank takes part (ZeRO-3 needs zero3_save_16bit_model / gather_16bit_weights_on_model_save)
    state = merge_split_rows(trainer.accelerator.get_state_dict(trainer.deepspeed if deepspeed else model))
    if trainer.is_world_process_zero():
        cls = _own_class(model)
        with torch.device("meta"):
            plain = cls(model.config)
        plain.load_state_dict(state, assign=True, strict=True)
        plain.generation_config = model.generation_config
        plain.save_pretrained(str(output_dir))
    trainer.accelerator.wait_for_everyone()


__all__ = ["LMHeadUnshardCallback", "save_trained_model"]
