"""Held-out loss of chat rows: how well a model predicts the assistant turns of rows it did not train on, with each
row's own audio and with the audio rotated to another clip's (what the model gets from the prompt and its priors
alone). Stage 2's report uses it to show the projector aligning, and how much of the fall comes from listening."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any


def _clip_key(part: dict[str, Any]) -> Any:
    audio = part.get("audio") or {}
    return audio.get("path") or audio.get("bytes")


def rotate_audio(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``rows`` whose audio parts are replaced by the next distinct clip's (a rotation over the clips in
    order of first appearance, so no row keeps its own audio and every clip is still heard as often)."""
    rows = [copy.deepcopy(dict(r)) for r in rows]
    parts = [p for r in rows for m in r["messages"] for p in (m["content"] or []) if p.get("type") == "audio"]
    clips = list(dict.fromkeys(_clip_key(p) for p in parts))
    if len(clips) < 2:
        raise ValueError("rotate_audio: the rows hold fewer than two distinct clips; nothing to rotate")
    audio_of = {}
    for p in parts:
        audio_of.setdefault(_clip_key(p), dict(p["audio"]))
    following = {c: clips[(k + 1) % len(clips)] for k, c in enumerate(clips)}
    for p in parts:
        p["audio"] = dict(audio_of[following[_clip_key(p)]])
    return rows


def rows_loss(model, processor, rows: Sequence[dict[str, Any]], batch_size: int = 16) -> dict[str, float | int]:
    """Mean cross-entropy (nats per token) over the assistant tokens of ``rows`` (labels as in training: the
    assistant content and its ``<|im_end|>``), with the model in eval mode and no gradient; also the token count."""
    import torch

    from .collator import AudioChatCollator

    if not rows:
        raise ValueError("rows_loss: no rows")
    collator = AudioChatCollator(processor)
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                batch = collator([dict(r) for r in rows[start:start + batch_size]])
                labels = batch.pop("labels")
                logits = model(**batch).logits[:, :-1].float()
                target = labels[:, 1:]
                keep = target != -100
                losses = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum")
                total += float(losses)
                tokens += int(keep.sum())
    finally:
        model.train(was_training)
    if tokens == 0:
        raise ValueError("rows_loss: the rows have no assistant tokens")
    return {"loss": total / tokens, "tokens": tokens}


__all__ = ["rotate_audio", "rows_loss"]
