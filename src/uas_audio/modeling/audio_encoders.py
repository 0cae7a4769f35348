"""Audio encoder families of UAS-Audio: each one's frame arithmetic and the way it encodes a variable-length batch.

A family is chosen by the ``model_type`` of ``UASAudioConfig.audio_config``:

- ``whisper``: ``UASAudioEncoderConfig`` (``uas_audio_encoder``), run by ``UASAudioEncoder`` (modeling_uas_audio.py);
- ``qwen2_audio``: ``Qwen2AudioEncoderConfig`` (``qwen2_audio_encoder``), transformers' ``Qwen2AudioEncoder`` modules;
- ``aut``: ``Qwen3ASREncoderConfig`` (``qwen3_asr_encoder``), transformers' ``Qwen3ASREncoder`` (Qwen3-Omni's AuT).

Every family maps ``num_frames`` mel frames to encoder frames with one function below (``encoder_frames``), written
with integer floor divisions only, so the same code runs on Python ints (the processor) and on tensors (the model);
the projector then stacks ``k`` frames: ``ceil(encoder_frames / k)`` placeholder tokens per clip.

No family pads clips to 30 s: a batch is as long as its longest clip and each clip's output equals its output alone.
The transformers families keep their parameter names, so their checkpoints' ``audio_tower.*`` tensors load as they are.

This file is copied next to saved checkpoints for ``trust_remote_code`` loading (a relative import of the modeling
file): it imports nothing from the rest of ``uas_audio``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask

FAMILIES = ("whisper", "qwen2_audio", "aut")
#: Mel frames per window of each family as released: 30 s for Whisper and Qwen2-Audio, AuT's 100-frame chunk.
DEFAULT_WINDOW_FRAMES = {"whisper": 3000, "qwen2_audio": 3000, "aut": 100}
#: ``audio_config.model_type`` → family.
FAMILY_OF_MODEL_TYPE = {
    "uas_audio_encoder": "whisper",
    "qwen2_audio_encoder": "qwen2_audio",
    "qwen3_asr_encoder": "aut",
}


# ---------------------------------------------------------------------------------------------------------------
# Frame arithmetic: the one definition per family (ints or LongTensors)
# ---------------------------------------------------------------------------------------------------------------


def _stride2(n):
    """Frames after a kernel-3, stride-2, padding-1 convolution (0 stays 0)."""
    return (n - 1) // 2 + 1


def whisper_encoder_frames(num_frames, window_frames: int):
    """Whisper: windows of ``window_frames`` mel frames, one stride-2 convolution each: ``ceil(t / 2)`` per window."""
    full, rest = num_frames // window_frames, num_frames % window_frames
    return full * ((window_frames + 1) // 2) + (rest + 1) // 2


def qwen2_audio_encoder_frames(num_frames, window_frames: int):
    """Qwen2-Audio: a stride-2 convolution then average pooling by 2 (the odd last frame dropped) per window."""
    full, rest = num_frames // window_frames, num_frames % window_frames
    return full * (_stride2(window_frames) // 2) + _stride2(rest) // 2


def aut_encoder_frames(num_frames, window_frames: int):
    """AuT (Qwen3-Omni / Qwen3-ASR): chunks of ``window_frames`` (``2 * n_window``) mel frames, three stride-2
    convolutions each: 13 frames per 100-frame chunk, the remainder through the same three steps."""
    full, rest = num_frames // window_frames, num_frames % window_frames
    return full * _stride2(_stride2(_stride2(window_frames))) + _stride2(_stride2(_stride2(rest)))


_ENCODER_FRAMES = {
    "whisper": whisper_encoder_frames,
    "qwen2_audio": qwen2_audio_encoder_frames,
    "aut": aut_encoder_frames,
}


def encoder_frames(family: str, num_frames, window_frames: int):
    """Encoder frames of ``family`` for clips of ``num_frames`` mel frames (an int or a LongTensor)."""
    if family not in _ENCODER_FRAMES:
        raise ValueError(f"unknown audio encoder family {family!r}; expected one of {FAMILIES}")
    return _ENCODER_FRAMES[family](num_frames, window_frames)


def stacked_frames(num_frames, stack_factor: int):
    """Groups of ``stack_factor`` consecutive frames, the last one possibly partial: ``ceil(n / k)``."""
    return (num_frames + stack_factor - 1) // stack_factor


def audio_tokens(family: str, num_frames, window_frames: int, stack_factor: int):
    """Placeholder tokens for clips of ``num_frames`` mel frames: encoder frames, stacked by the projector."""
    return stacked_frames(encoder_frames(family, num_frames, window_frames), stack_factor)


def family_of(audio_config) -> str:
    """The family an audio config selects (by its ``model_type``)."""
    model_type = getattr(audio_config, "model_type", None)
    if model_type not in FAMILY_OF_MODEL_TYPE:
        raise ValueError(
            f"UAS-Audio: no audio encoder family for audio_config.model_type={model_type!r}; supported: "
            + ", ".join(f"{t} ({f})" for t, f in FAMILY_OF_MODEL_TYPE.items())
        )
    return FAMILY_OF_MODEL_TYPE[model_type]


def window_frames_of(audio_config) -> int:
    """Mel frames over which the family's convolutions (and positions) restart."""
    family = family_of(audio_config)
    if family == "aut":
        return 2 * audio_config.n_window
    return 2 * audio_config.max_source_positions


# ---------------------------------------------------------------------------------------------------------------
# Encoding a variable-length batch with transformers' own encoders
# ---------------------------------------------------------------------------------------------------------------


def frame_lengths(input_features: torch.Tensor, input_features_mask: torch.Tensor | None) -> torch.Tensor:
    """``(B,)`` real mel frames per clip from a right-padding mask (all frames without one)."""
    batch, _, total = input_features.shape
    if input_features_mask is None:
        return torch.full((batch,), total, dtype=torch.long, device=input_features.device)
    if input_features_mask.shape != (batch, total):
        raise ValueError(
            f"audio encoder: input_features_mask has shape {tuple(input_features_mask.shape)}, expected "
            f"{(batch, total)} to match input_features {tuple(input_features.shape)}"
        )
    lengths = input_features_mask.to(torch.long).sum(-1)
    if bool((lengths == 0).any()):
        empty = (lengths == 0).nonzero().flatten().tolist()
        raise ValueError(f"audio encoder: clips {empty} have no frames (input_features_mask is all zeros)")
    prefix = torch.arange(total, device=lengths.device)[None, :] < lengths[:, None]
    if not torch.equal(prefix, input_features_mask.to(torch.bool)):
        raise ValueError("audio encoder: input_features_mask must mark real frames as a prefix (right padding)")
    return lengths


def _split_windows(features: torch.Tensor, lengths: torch.Tensor, window: int):
    """``(B, M, T)`` → the non-empty windows ``(N, M, min(T, window))`` with their real lengths, and the keep mask
    ``(B * nW,)`` of which of the ``nW`` windows per clip hold frames."""
    batch, bins, total = features.shape
    num_windows = -(-total // window)
    if num_windows == 1:
        return features, lengths, torch.ones(batch, dtype=torch.bool, device=features.device), 1
    padded = nn.functional.pad(features, (0, num_windows * window - total))
    windows = padded.view(batch, bins, num_windows, window).transpose(1, 2).reshape(batch * num_windows, bins, window)
    starts = torch.arange(num_windows, device=lengths.device) * window
    window_lengths = (lengths[:, None] - starts[None, :]).clamp(0, window).reshape(-1)
    keep = window_lengths > 0
    return windows[keep], window_lengths[keep], keep, num_windows


def encode_qwen2_audio(tower: nn.Module, input_features: torch.Tensor, input_features_mask: torch.Tensor | None):
    """Run transformers' ``Qwen2AudioEncoder`` (its own convolutions, layers, pooling and norm) over variable-length
    clips. Its ``forward`` insists on 30 s of frames; here each window is only as long as its clip, and a clip's
    frames equal what ``Qwen2AudioEncoder`` gives for the same features zero-padded to 30 s: the convolutions see the
    zero frames after the clip's end, including the one frame past it that Qwen2-Audio's stride-2 step reads.

    Returns ``(hidden (B, E, d), lengths (B,))``, ``E`` the longest clip's encoder frames."""
    config = tower.config
    window = 2 * config.max_source_positions
    lengths = frame_lengths(input_features, input_features_mask)
    windows, window_lengths, keep, num_windows = _split_windows(input_features, lengths, window)
    encoded = _qwen2_audio_windows(tower, windows, window_lengths)  # (N, P, d)
    batch, per_window = lengths.shape[0], qwen2_audio_encoder_frames(window, window)
    if num_windows == 1:
        hidden = encoded
    else:  # every window of a clip but its last is full: its frames are a prefix of the concatenation
        rows = encoded.new_zeros(batch * num_windows, per_window, encoded.shape[-1])
        rows[keep] = encoded  # windows are whole here: (N, per_window, d)
        hidden = rows.view(batch, num_windows * per_window, -1)
    output_lengths = qwen2_audio_encoder_frames(lengths, window)
    return hidden[:, : int(output_lengths.max())], output_lengths


def _qwen2_audio_windows(tower: nn.Module, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Windows ``(N, M, T <= 2 * max_source_positions)`` with ``lengths`` real frames → ``(N, ceil(T / 2) // 2,
    d)``."""
    total = features.shape[-1]
    positions = torch.arange(total + 1, device=features.device)[None, :]
    # The real frames, then zeros; one extra zero frame so the conv1 output at index `length` exists for every clip.
    real = (positions[:, :total] < lengths[:, None]).to(features.dtype)
    features = nn.functional.pad(features * real[:, None], (0, 1))
    hidden = nn.functional.gelu(tower.conv1(features))
    # conv1 outputs past index `length` would come from other clips' padding in a batch: zero them as a clip alone.
    hidden = hidden * (positions <= lengths[:, None]).to(hidden.dtype)[:, None]
    hidden = nn.functional.gelu(tower.conv2(hidden))[..., : (total + 1) // 2]  # (N, d, ceil(T / 2))
    hidden = hidden.transpose(1, 2)
    conv_len = hidden.shape[1]
    hidden = hidden + tower.embed_positions.weight[:conv_len].to(hidden.dtype)
    hidden = nn.functional.dropout(hidden, p=tower.config.dropout, training=tower.training)
    valid = torch.arange(conv_len, device=features.device)[None, :] < _stride2(lengths)[:, None]
    mask = create_bidirectional_mask(config=tower.config, inputs_embeds=hidden, attention_mask=valid)
    for layer in tower.layers:
        hidden = layer(hidden, mask)
    if conv_len < 2:  # one frame pools to none (AvgPool1d refuses an empty output)
        return hidden[:, :0]
    hidden = tower.avg_pooler(hidden.transpose(1, 2)).transpose(1, 2)  # (N, conv_len // 2, d)
    return tower.layer_norm(hidden)


def encode_aut(tower: nn.Module, input_features: torch.Tensor, input_features_mask: torch.Tensor | None):
    """Run transformers' ``Qwen3ASREncoder`` (AuT) as it is: features zeroed after each clip's end and padded to
    whole chunks of ``2 * n_window`` frames (its convolutions run per chunk, so a clip's output does not depend on
    its batch); its packed output is unpacked to ``(B, E, d)``. Returns ``(hidden, lengths)``."""
    chunk = 2 * tower.config.n_window
    lengths = frame_lengths(input_features, input_features_mask)
    total = input_features.shape[-1]
    padded_total = -(-total // chunk) * chunk
    mask = torch.arange(padded_total, device=lengths.device)[None, :] < lengths[:, None]
    features = nn.functional.pad(input_features, (0, padded_total - total)) * mask[:, None].to(input_features.dtype)
    packed = tower(input_features=features, input_features_mask=mask.to(torch.long), return_dict=True).last_hidden_state
    output_lengths = aut_encoder_frames(lengths, chunk)
    clips = torch.split(packed, output_lengths.tolist(), dim=0)
    return nn.utils.rnn.pad_sequence(list(clips), batch_first=True), output_lengths


_ENCODE = {"qwen2_audio": encode_qwen2_audio, "aut": encode_aut}


def build_transformers_encoder(audio_config) -> nn.Module:
    """transformers' own encoder for a ``qwen2_audio`` or ``aut`` audio config."""
    if family_of(audio_config) == "qwen2_audio":
        from transformers.models.qwen2_audio.modeling_qwen2_audio import Qwen2AudioEncoder

        return Qwen2AudioEncoder(audio_config)
    from transformers.models.qwen3_asr.modeling_qwen3_asr import Qwen3ASREncoder

    if aut_encoder_frames(2 * audio_config.n_window, 2 * audio_config.n_window) != 13:
        # transformers' attention windows (get_audio_cu_seqlens) count 13 frames per chunk, AuT's 100-frame chunk
        raise ValueError(
            f"AuT encoder: n_window={audio_config.n_window} gives chunks of {2 * audio_config.n_window} mel frames; "
            "transformers' Qwen3ASREncoder assumes 13 encoder frames per chunk (n_window=50, as released)"
        )
    return Qwen3ASREncoder(audio_config)


def encode_with_transformers_encoder(tower, family: str, input_features, input_features_mask):
    """Encode with a ``qwen2_audio`` or ``aut`` tower: ``(hidden (B, E, d) right-padded, lengths (B,))``."""
    return _ENCODE[family](tower, input_features, input_features_mask)


__all__ = [
    "DEFAULT_WINDOW_FRAMES",
    "FAMILIES",
    "build_transformers_encoder",
    "encode_with_transformers_encoder",
    "audio_tokens",
    "encoder_frames",
    "family_of",
    "stacked_frames",
    "window_frames_of",
]
