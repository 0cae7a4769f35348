"""An LM-head loss that scores only the labelled positions, for devices where TRL's fused head scores them all.

TRL's ``SFTTrainer`` patches the model with a fused LM head (``trl.trainer.utils.add_fused_lm_head``): the forward
returns per-token log-probabilities, entropy and top-1 hits instead of logits. On devices with Triton it projects
only the positions whose label is not -100; elsewhere (CPU) it projects every position, with the prompt and the
audio placeholders included, to keep tile shapes constant for compilers. An audio chat batch is mostly prompt and
audio: on CPU that doubled the cost of a training step of the tiny model.

:func:`add_labelled_lm_head` wraps the forward once more. Calls with ``fused_lm_head=True`` on a non-CUDA device
run the backbone, keep the hidden states of the labelled positions, and project them through the LM head in
chunks of :data:`TOKEN_CHUNK` positions; when there are more than :data:`RECOMPUTE_ABOVE` logits in all, each chunk
is recomputed in backward, so at most one chunk of logits is held at a time. The outputs are TRL's ``FusedCausalLMOutput`` with the same fields (zero on ignored positions), so the
trainer's loss and its ``entropy`` / ``mean_token_accuracy`` metrics are unchanged. On CUDA, and for models whose
logits are scaled, soft-capped or come with a router loss, the call goes to TRL's head unchanged.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

#: Labelled positions projected at once; bounds the logits held in memory to TOKEN_CHUNK × vocabulary floats.
TOKEN_CHUNK = 1024
#: Below this many logits (positions × vocabulary) they are kept for backward instead of recomputed: 32 M floats.
RECOMPUTE_ABOVE = 1 << 25
_UNSUPPORTED_CONFIG = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                       "logits_scaling", "output_router_logits")


def _score(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor,
           inv_temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log-probability of each target, and (without gradient) the entropy and whether the target is the argmax."""
    logits = F.linear(hidden, weight, bias).float()
    if inv_temperature != 1.0:
        logits = logits * inv_temperature
    log_norm = torch.logsumexp(logits, dim=-1)
    log_probs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_norm
    with torch.no_grad():
        detached = logits.detach()
        probs = torch.softmax(detached, dim=-1)
        entropy = log_norm.detach() - (probs * detached).sum(-1)
        is_top1 = detached.argmax(-1) == targets
    return log_probs, entropy, is_top1


def _unpack(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-position values back to the mask's (batch, positions) shape, zero where unlabelled. ``masked_scatter``
    keeps the loss connected to the model even when no position is labelled."""
    return values.new_zeros(mask.shape).masked_scatter(mask, values)


def _supported(model: Any) -> bool:
    text_config = model.config.get_text_config()
    return not any(getattr(text_config, name, None) for name in _UNSUPPORTED_CONFIG)


def add_labelled_lm_head(model: Any, temperature: float = 1.0) -> bool:
    """Patch ``model`` (already given TRL's fused head) so fused calls off CUDA score labelled positions only.

    Returns whether the model was patched (models with scaled or soft-capped logits, or MoE router losses, keep
    TRL's head).
    """
    if not _supported(model):
        return False
    from trl.trainer.utils import FusedCausalLMOutput

    previous_forward = model.forward
    inv_temperature = 1.0 / temperature

    @functools.wraps(type(model).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None,
                **kwargs):
        if fused_lm_head:
            lm_head = self.get_output_embeddings()
            # read once: a layer may build its weight on access (stage 1's split old/new rows concatenate them)
            weight, bias = lm_head.weight, lm_head.bias
        if not fused_lm_head or weight.device.type == "cuda":
            return previous_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                                    num_items_in_batch=num_items_in_batch, **kwargs)
        kwargs["use_cache"] = False
        hidden_states = self.base_model(*args, **kwargs).last_hidden_state
        if shift_labels is None:
            hidden_states, labels = hidden_states[:, :-1], labels[:, 1:]
        else:
            labels = shift_labels
        mask = labels.to(weight.device) != -100
        hidden = hidden_states.to(weight.device)[mask]
        targets = labels.to(weight.device)[mask]
        needs_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
        recompute = needs_grad and hidden.size(0) * weight.size(0) > RECOMPUTE_ABOVE
        parts = []
        for start in range(0, max(1, hidden.size(0)), TOKEN_CHUNK):
            stop = start + TOKEN_CHUNK
            chunk = (hidden[start:stop], weight, bias, targets[start:stop], inv_temperature)
            parts.append(checkpoint(_score, *chunk, use_reentrant=False) if recompute else _score(*chunk))
        log_probs, entropy, is_top1 = (_unpack(torch.cat(column), mask) for column in zip(*parts))
        denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-log_probs.sum() / denominator, log_probs=log_probs, entropy=entropy,
                                   is_top1=is_top1, label_mask=mask)

    model.forward = types.MethodType(forward, model)
    return True


__all__ = ["add_labelled_lm_head", "TOKEN_CHUNK", "RECOMPUTE_ABOVE"]
