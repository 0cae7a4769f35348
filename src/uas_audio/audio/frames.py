"""Frame arithmetic shared by the feature extractor, the encoder and the processor.

Mel frames are decided here; how many encoder frames and placeholder tokens a clip becomes is decided per encoder
family in ``uas_audio.modeling.audio_encoders`` (which the model ships as remote code), and re-exported here, so
the processor's expansion and the model's encoder output can never disagree.
"""

from __future__ import annotations

SAMPLING_RATE = 16_000
HOP_LENGTH = 160  # 10 ms mel hop at 16 kHz
WINDOW_FRAMES = 3_000  # 30 s of mel frames: the longest stretch the encoder attends over at once


def num_mel_frames(num_samples: int, hop_length: int = HOP_LENGTH) -> int:
    """Mel frames for a clip of ``num_samples`` (Whisper convention: centred STFT, last frame dropped)."""
    return max(1, num_samples // hop_length)


def num_encoder_frames(num_frames: int, window_frames: int = WINDOW_FRAMES, family: str = "whisper") -> int:
    """Encoder output frames of ``family`` (``whisper``, ``qwen2_audio``, ``aut``) for a clip of ``num_frames`` mel
    frames; Whisper cuts audio into windows of ``window_frames`` and keeps ``ceil(t / 2)`` frames of each. The rule
    of each family is defined once, in ``uas_audio.modeling.audio_encoders`` (imported here when first called)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    from ..modeling.audio_encoders import encoder_frames

    return int(encoder_frames(family, num_frames, window_frames))


def num_audio_tokens(num_frames: int, stack_factor: int, window_frames: int = WINDOW_FRAMES,
                     family: str = "whisper") -> int:
    """Placeholder tokens for a clip of ``num_frames`` mel frames: the projector stacks ``stack_factor``
    consecutive encoder frames (the tail zero-padded), so ``ceil(encoder_frames / stack_factor)``."""
    if stack_factor < 1:
        raise ValueError(f"stack_factor must be >= 1, got {stack_factor}")
    from ..modeling.audio_encoders import stacked_frames

    return int(stacked_frames(num_encoder_frames(num_frames, window_frames, family), stack_factor))
