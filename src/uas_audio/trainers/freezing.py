"""What each stage trains (UAS-SPEC §4), applied to a ``UASAudioForConditionalGeneration``.

- ``new_vocab_rows`` (stage 1): only the rows of the input embeddings and LM head from ``config.audio_code_start``
  on. The two layers are replaced by ``SplitRowsEmbedding`` / ``SplitRowsLinear``, which hold the old rows and the
  new rows as two parameters: the old rows do not require grad, so no optimizer, weight decay, gradient clipping or
  sharding (DDP, FSDP2, DeepSpeed ZeRO-3 partition parameters one by one) ever touches them, and they stay
  bit-identical by construction, with no gradient hook or post-step restore. Their ``state_dict`` holds the
  ordinary ``weight`` (so checkpoints load into the plain model), except when FSDP / DeepSpeed shard the model
  (``NewRowsGuard.plain_state_dict(False)``): then it keeps ``old_rows`` / ``new_rows``, the names of the sharded
  parameters that accelerate matches full and sharded state dicts by, and ``merge_split_rows`` turns a gathered
  one into plain keys. ``NewRowsGuard.merge`` (run at the end of
  training by ``NewRowsGuardCallback``) puts plain ``nn.Embedding`` / ``nn.Linear`` layers back.
- ``projector`` (stage 2): only ``model.multi_modal_projector``.
- ``all_but_encoder`` (stages 3 and 4): everything except ``model.audio_tower``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import TrainerCallback


def _full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a possibly sharded (DTensor) parameter; plain tensors as they are."""
    full_tensor = getattr(tensor, "full_tensor", None)
    return full_tensor() if full_tensor is not None else tensor


def _is_sharded(tensor: torch.Tensor) -> bool:
    return hasattr(tensor, "full_tensor") or hasattr(tensor, "ds_id")  # FSDP2 DTensor / DeepSpeed ZeRO-3


class _SplitRows(nn.Module):
    """Rows ``[:first_new_row]`` of a vocabulary matrix as the frozen parameter ``old_rows``, the rest as the
    trainable ``new_rows``; ``weight`` is their concatenation, in the state dict as in attribute reads."""

    def __init__(self, weight: torch.Tensor, first_new_row: int):
        super().__init__()
        if not 0 < first_new_row < weight.shape[0]:
            raise ValueError(f"first_new_row must split the {weight.shape[0]} rows, got {first_new_row}")
        self.old_rows = nn.Parameter(weight.detach()[:first_new_row].clone(), requires_grad=False)
        self.new_rows = nn.Parameter(weight.detach()[first_new_row:].clone(), requires_grad=True)
        self.plain_state_dict = True
        self._register_state_dict_hook(_SplitRows._to_weight)
        self._register_load_state_dict_pre_hook(self._from_weight)

    @property
    def first_new_row(self) -> int:
        return self.old_rows.shape[0]

    @property
    def weight(self) -> torch.Tensor:
        return torch.cat([self.old_rows, self.new_rows])

    @staticmethod
    def _to_weight(module, state_dict, prefix, local_metadata):
        old, new = state_dict.get(prefix + "old_rows"), state_dict.get(prefix + "new_rows")
        if not module.plain_state_dict or old is None or new is None or _is_sharded(old) or _is_sharded(new):
            return state_dict  # keys follow the parameters (see merge_split_rows)
        del state_dict[prefix + "old_rows"], state_dict[prefix + "new_rows"]
        state_dict[prefix + "weight"] = torch.cat([old, new]).detach()
        return state_dict

    def _from_weight(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        weight = state_dict.pop(prefix + "weight", None)
        if weight is not None:
            state_dict[prefix + "old_rows"] = weight[: self.first_new_row]
            state_dict[prefix + "new_rows"] = weight[self.first_new_row:]

    def merged_weight(self) -> nn.Parameter:
        if _is_sharded(self.old_rows):
            raise RuntimeError("the split vocabulary rows are sharded; merge them from the unwrapped model")
        return nn.Parameter(self.weight.detach().clone())


class SplitRowsEmbedding(_SplitRows):
    """An ``nn.Embedding`` whose rows from ``first_new_row`` on are the only trainable ones."""

    def __init__(self, embedding: nn.Embedding, first_new_row: int):
        super().__init__(embedding.weight, first_new_row)
        self.num_embeddings, self.embedding_dim = embedding.weight.shape
        self.padding_idx = embedding.padding_idx

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Two lookups instead of one in the concatenated matrix: no copy of the vocabulary matrix per forward.
        start = self.first_new_row
        is_new = input_ids >= start
        old = F.embedding(torch.where(is_new, 0, input_ids), self.old_rows)
        new = F.embedding(torch.where(is_new, input_ids - start, 0), self.new_rows)
        return torch.where(is_new.unsqueeze(-1), new, old)

    def merged(self) -> nn.Embedding:
        plain = nn.Embedding(self.num_embeddings, self.embedding_dim, self.padding_idx, device="meta")
        plain.weight = self.merged_weight()
        return plain


class SplitRowsLinear(_SplitRows):
    """A bias-free ``nn.Linear`` (the LM head) whose output rows from ``first_new_row`` on are the only trainable
    ones."""

    def __init__(self, linear: nn.Linear, first_new_row: int):
        if linear.bias is not None:
            raise ValueError("SplitRowsLinear: the LM head has a bias; only bias-free heads are supported")
        super().__init__(linear.weight, first_new_row)
        self.out_features, self.in_features = linear.weight.shape
        self.bias = None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # The concatenated weight (vocab x hidden) is smaller than concatenated logits (tokens x vocab).
        return F.linear(hidden_states, self.weight)

    def merged(self) -> nn.Linear:
        plain = nn.Linear(self.in_features, self.out_features, bias=False, device="meta")
        plain.weight = self.merged_weight()
        return plain


@dataclass
class NewRowsGuard:
    """The stage-1 split of ``model``'s input embeddings and LM head at ``first_new_row``; ``merge()`` puts plain
    layers holding the trained weights back (a no-op once merged)."""

    model: nn.Module
    first_new_row: int
    merged: bool = False

    def plain_state_dict(self, plain: bool) -> None:
        """Whether the split layers' ``state_dict`` shows the plain ``weight`` (False under FSDP / DeepSpeed)."""
        for layer in (self.model.get_input_embeddings(), self.model.get_output_embeddings()):
            if isinstance(layer, _SplitRows):
                layer.plain_state_dict = plain

    def merge(self) -> None:
        if self.merged:
            return
        embeddings, head = self.model.get_input_embeddings(), self.model.get_output_embeddings()
        if isinstance(embeddings, SplitRowsEmbedding):
            self.model.set_input_embeddings(embeddings.merged())
        if isinstance(head, SplitRowsLinear):
            self.model.set_output_embeddings(head.merged())
        self.merged = True


class NewRowsGuardCallback(TrainerCallback):
    """Merges the split layers back into plain ones when a ``Trainer`` ends training, unless the parameters are
    sharded (FSDP2 / ZeRO-3: that model is not reused; ``sharding.save_trained_model`` merges its gathered rows)."""

    def __init__(self, guard: NewRowsGuard):
        self.guard = guard

    def on_train_begin(self, args, state, control, **kwargs):
        if self.guard.merged:
            raise RuntimeError("this stage-1 trainer has finished and merged its vocabulary rows; build a new one")

    def on_train_end(self, args, state, control, **kwargs):
        if not _is_sharded(self.guard.model.get_input_embeddings().new_rows):
            self.guard.merge()


def has_split_rows(model) -> bool:
    """Whether ``model``'s input embeddings or LM head are stage 1's split layers."""
    return any(isinstance(layer, _SplitRows) for layer in (model.get_input_embeddings(), model.get_output_embeddings()))


def merge_split_rows(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A gathered state dict with each ``X.old_rows`` / ``X.new_rows`` pair replaced by the plain ``X.weight``."""
    merged = dict(state_dict)
    for key in [k for k in state_dict if k.endswith(".old_rows")]:
        prefix = key[: -len("old_rows")]
        if prefix + "new_rows" not in merged:
            raise KeyError(f"{key} has no {prefix}new_rows next to it")
        old, new = merged.pop(key), merged.pop(prefix + "new_rows")
        merged[prefix + "weight"] = torch.cat([_full(old), _full(new)])
    return merged


def _audio_tower(model) -> nn.Module | None:
    return model.model.audio_tower


def _split_vocab_rows(model, start: int) -> NewRowsGuard:
    embeddings, head = model.get_input_embeddings(), model.get_output_embeddings()
    if embeddings.weight is head.weight:
        raise ValueError("stage 1 needs untied input embeddings and LM head (tie_word_embeddings=False)")
    for layer, kind in ((embeddings, nn.Embedding), (head, nn.Linear)):
        if type(layer) is not kind:
            raise ValueError(f"stage 1 splits a plain {kind.__name__}; this model has {type(layer).__name__}")
    model.requires_grad_(False)
    model.set_input_embeddings(SplitRowsEmbedding(embeddings, start))
    model.set_output_embeddings(SplitRowsLinear(head, start))
    return NewRowsGuard(model=model, first_new_row=start)


def apply_stage_freezing(model, trainable: str) -> NewRowsGuard | None:
    """Set ``requires_grad`` for ``trainable`` (new_vocab_rows, projector, all_but_encoder); for new_vocab_rows,
    split the vocabulary layers and return the ``NewRowsGuard`` whose ``merge`` restores plain layers after
    training (``NewRowsGuardCallback`` does it)."""
    if trainable == "all_but_encoder":
        model.requires_grad_(True)
        tower = _audio_tower(model)
        if tower is not None:
            tower.requires_grad_(False)
        return None
    if trainable == "projector":
        projector = model.model.multi_modal_projector
        if projector is None:
            raise ValueError("stage 2 trains the projector, but this model (input_mode='discrete') has none")
        model.requires_grad_(False)
        projector.requires_grad_(True)
        return None
    if trainable == "new_vocab_rows":
        start = model.config.audio_code_start
        if not model.config.num_audio_codes or start is None:
            raise ValueError(
                "stage 1 trains the vocabulary rows of the audio codes, but the model has none; "
                "call model.add_audio_codes(n, tokenizer) first"
            )
        return _split_vocab_rows(model, start)
    raise ValueError(f"unknown trainable set {trainable!r}; choose new_vocab_rows, projector or all_but_encoder")


def count_trainable(model) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


__all__ = ["apply_stage_freezing", "count_trainable", "has_split_rows", "merge_split_rows", "NewRowsGuard",
           "NewRowsGuardCallback", "SplitRowsEmbedding", "SplitRowsLinear"]
