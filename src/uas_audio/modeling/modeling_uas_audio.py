"""UAS-Audio: a variable-length Whisper-style audio encoder, a frame-stacking projector and any causal LM.

Read top to bottom: frame arithmetic → encoder (attention, layer, windows) → projector → base model (placeholder
scatter) → causal-LM head with generation, vocabulary extension and assembly from pretrained parts.

This file is copied next to saved checkpoints for ``trust_remote_code`` loading, so it imports nothing from the
rest of ``uas_audio`` (only its sibling configuration and audio-encoder files). Each encoder family's frame arithmetic
lives in ``audio_encoders.py``, the one definition the processor uses as well.
"""

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    BaseModelOutputWithPooling,
    CausalLMOutputWithPast,
    ModelOutput,
    MoeCausalLMOutputWithPast,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, slice_logits_to_keep
from transformers.utils import TransformersKwargs, can_return_tuple, logging
from transformers.utils.deprecation import deprecate_kwarg

from .audio_encoders import (
    audio_tokens,
    build_transformers_encoder,
    encode_with_transformers_encoder,
    family_of,
    stacked_frames,
    whisper_encoder_frames,
    window_frames_of,
)
from .configuration_uas_audio import UASAudioConfig, UASAudioEncoderConfig

# transformers 5.24 renamed the KV cache from ``past_key_values`` to ``cache``, both as a forward argument (what
# ``generate`` passes) and as an output field; 5.23 knows only the old name. The installed version's name, read once:
CACHE_NAME = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"

logger = logging.get_logger(__name__)


def _cache_argument(forward: Callable) -> Callable:
    """Where the KV cache is ``cache`` (transformers >= 5.24), ``past_key_values=`` still works and warns as
    transformers' own models do (its removal is announced for 5.40); on 5.23 it is the current name."""
    if CACHE_NAME == "cache":
        return deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")(forward)
    return forward


def audio_code_token(index: int) -> str:
    """The vocabulary entry of speech code ``index`` (as ``uas_audio.processing.audio_code_token``; repeated here
    so ``add_audio_codes`` also works as remote code)."""
    return f"<|code_{index}|>"


# ---------------------------------------------------------------------------------------------------------------
# Audio encoder
# ---------------------------------------------------------------------------------------------------------------


def sinusoid_positions(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's sinusoidal position table ``(length, channels)``: sines in the first half, cosines in the second."""
    log_increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_increment * torch.arange(channels // 2, dtype=torch.float32))
    scaled_time = torch.arange(length, dtype=torch.float32)[:, None] * inv_timescales[None, :]
    return torch.cat([scaled_time.sin(), scaled_time.cos()], dim=1)


def _eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention; ``attention_mask`` is the additive 4D mask of ``create_bidirectional_mask``."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, T, T)
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()  # (B, T, H, D)
    return output, weights


class UASAudioAttention(nn.Module):
    """Bidirectional multi-head self-attention with Whisper's projections (no bias on keys)."""

    def __init__(self, config: UASAudioEncoderConfig):
        super().__init__()
        self.config = config
        self.embed_dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.is_causal = False  # read by the sdpa / flash attention functions

        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=True)
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=False)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=True)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=True)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        batch, length, _ = hidden_states.shape
        shape = (batch, length, self.num_heads, self.head_dim)
        query = self.q_proj(hidden_states).view(shape).transpose(1, 2)  # (B, H, T, D)
        key = self.k_proj(hidden_states).view(shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(shape).transpose(1, 2)

        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, _eager_attention_forward
        )
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        output = self.out_proj(output.reshape(batch, length, self.embed_dim))
        return output, weights


class UASAudioEncoderLayer(GradientCheckpointingLayer):
    """Pre-LayerNorm transformer block: self-attention then a two-layer feed-forward, each residual."""

    def __init__(self, config: UASAudioEncoderConfig):
        super().__init__()
        self.self_attn = UASAudioAttention(config)
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size)
        self.activation_fn = ACT2FN[config.activation_function]
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The block's output and its attention weights (``None`` unless the attention function returns them)."""
        residual = hidden_states
        hidden_states, weights = self.self_attn(self.self_attn_layer_norm(hidden_states), attention_mask)
        hidden_states = residual + nn.functional.dropout(hidden_states, p=self.dropout, training=self.training)

        residual = hidden_states
        hidden_states = self.activation_fn(self.fc1(self.final_layer_norm(hidden_states)))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        hidden_states = self.fc2(hidden_states)
        return residual + nn.functional.dropout(hidden_states, p=self.dropout, training=self.training), weights


class UASAudioPreTrainedModel(PreTrainedModel):
    config: UASAudioConfig
    config_class = UASAudioConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = True
    # Blocks never split across devices (accelerate's FSDP wrap reads them too): each audio tower and language model
    # names its own, and post_init gathers those of the parts this model has.
    _no_split_modules = []
    _skip_keys_device_placement = [CACHE_NAME]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, use_safetensors: bool | None = True, **kwargs):
        """transformers' ``from_pretrained`` with safetensors required by default: unpickling ``pytorch_model.bin``
        can run arbitrary code, so weights in that form load only with an explicit ``use_safetensors=False``."""
        if use_safetensors and pretrained_model_name_or_path is not None:
            folder = Path(pretrained_model_name_or_path) / kwargs.get("subfolder", "")
            if folder.is_dir() and not any(folder.glob("*.safetensors")) and any(folder.glob("pytorch_model*.bin")):
                raise OSError(
                    f"{folder}: holds only pickled PyTorch weights (pytorch_model*.bin) and uas-audio loads "
                    "safetensors only, since unpickling can run arbitrary code. If you trust the file, load it once "
                    "with from_pretrained(..., use_safetensors=False) and save_pretrained() it as safetensors."
                )
        return super().from_pretrained(pretrained_model_name_or_path, *args, use_safetensors=use_safetensors, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, UASAudioEncoder):
            init.copy_(module.embed_positions.weight, sinusoid_positions(*module.embed_positions.weight.shape))
        elif hasattr(module, "compute_default_singular_positional_embedding"):  # AuT's sinusoids (a buffer)
            init.copy_(module.positional_embedding, module.compute_default_singular_positional_embedding())


@dataclass
class UASAudioEncoderOutput(BaseModelOutputWithPooling):
    """Encoder output: ``last_hidden_state`` ``(B, E, d_audio)`` right-padded and ``output_lengths`` ``(B,)`` valid
    frames. ``get_audio_features`` fills ``pooler_output`` with the projected features ``(num_audio_tokens, d_text)``.
    ``hidden_states`` / ``attentions`` (when asked) are per encoder window, as the layers see them: ``(N, W/2, d)``
    and ``(N, heads, W/2, W/2)`` for the ``N`` windows of the batch (one per clip up to 30 s)."""

    output_lengths: torch.Tensor | None = None


class UASAudioEncoder(UASAudioPreTrainedModel):
    """Whisper-architecture encoder over variable-length log-mel input.

    Clips are not padded to 30 s: a batch is as long as its longest clip, and a padding mask keeps padded frames out
    of attention (and out of the convolutions, so a clip's output does not depend on its batch). Clips longer than
    ``config.window_frames`` (30 s) are cut into windows encoded independently, positions restarting in each window,
    and the windows' outputs are concatenated.
    """

    config: UASAudioEncoderConfig
    config_class = UASAudioEncoderConfig
    main_input_name = "input_features"
    input_modalities = ("audio",)
    _input_embed_layer = "conv1"
    _no_split_modules = ["UASAudioEncoderLayer"]

    def __init__(self, config: UASAudioEncoderConfig):
        super().__init__(config)
        dim = config.hidden_size
        self.window_frames = config.window_frames
        self.conv1 = nn.Conv1d(config.num_mel_bins, dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(config.max_source_positions, dim)
        self.embed_positions.requires_grad_(False)  # sinusoids, as in Whisper
        self.layers = nn.ModuleList([UASAudioEncoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.layer_norm = nn.LayerNorm(dim)
        self.gradient_checkpointing = False
        self.post_init()

    def output_lengths(self, num_frames: torch.Tensor) -> torch.Tensor:
        """Encoder frames produced for clips of ``num_frames`` mel frames (``uas_audio.audio.frames`` rule)."""
        return whisper_encoder_frames(num_frames, self.window_frames)

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor,
        input_features_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> UASAudioEncoderOutput:
        """Encode ``input_features`` ``(B, num_mel_bins, T)`` with ``input_features_mask`` ``(B, T)`` (1 on real
        frames, right padding) into ``(B, E, d)`` where ``E`` is the longest clip's encoder length."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if output_attentions is None:
            output_attentions = self.config.output_attentions
        record = {"hidden_states": [] if output_hidden_states else None, "attentions": [] if output_attentions else None}
        batch, num_bins, total = input_features.shape
        if num_bins != self.config.num_mel_bins:
            raise ValueError(
                f"UASAudioEncoder: input_features have {num_bins} mel bins, the encoder expects "
                f"{self.config.num_mel_bins} (shape (batch, num_mel_bins, frames))"
            )
        lengths = self._frame_lengths(input_features, input_features_mask)

        window = self.window_frames
        num_windows = math.ceil(total / window)
        if num_windows == 1:
            hidden_states = self._encode_windows(input_features, lengths, record)
        else:
            # (B, M, nW * W) -> (B * nW, M, W); windows past a clip's end are dropped before encoding
            padded = nn.functional.pad(input_features, (0, num_windows * window - total))
            windows = padded.view(batch, num_bins, num_windows, window).transpose(1, 2)
            windows = windows.reshape(batch * num_windows, num_bins, window)
            starts = torch.arange(num_windows, device=lengths.device) * window
            window_lengths = (lengths[:, None] - starts[None, :]).clamp(0, window).reshape(-1)
            keep = window_lengths > 0
            encoded = self._encode_windows(windows[keep], window_lengths[keep], record)  # (N, W/2, d)
            # Every window of a clip but its last is full, so each clip's frames form a prefix of its row.
            per_window = encoded.new_zeros(batch * num_windows, window // 2, encoded.shape[-1])
            per_window[keep] = encoded
            hidden_states = per_window.view(batch, num_windows * (window // 2), -1)

        output_lengths = self.output_lengths(lengths)
        hidden_states = hidden_states[:, : int(output_lengths.max())]
        return UASAudioEncoderOutput(
            last_hidden_state=hidden_states,
            output_lengths=output_lengths,
            hidden_states=tuple(record["hidden_states"]) if output_hidden_states else None,
            attentions=tuple(record["attentions"]) if output_attentions else None,
        )

    def _frame_lengths(self, input_features: torch.Tensor, input_features_mask: torch.Tensor | None) -> torch.Tensor:
        batch, _, total = input_features.shape
        if input_features_mask is None:
            return torch.full((batch,), total, dtype=torch.long, device=input_features.device)
        if input_features_mask.shape != (batch, total):
            raise ValueError(
                f"UASAudioEncoder: input_features_mask has shape {tuple(input_features_mask.shape)}, expected "
                f"{(batch, total)} to match input_features {tuple(input_features.shape)}"
            )
        lengths = input_features_mask.to(torch.long).sum(-1)
        if bool((lengths == 0).any()):
            empty = (lengths == 0).nonzero().flatten().tolist()
            raise ValueError(f"UASAudioEncoder: clips {empty} have no frames (input_features_mask is all zeros)")
        prefix = torch.arange(total, device=lengths.device)[None, :] < lengths[:, None]
        if not torch.equal(prefix, input_features_mask.to(torch.bool)):
            raise ValueError("UASAudioEncoder: input_features_mask must mark real frames as a prefix (right padding)")
        return lengths

    def _encode_windows(self, features: torch.Tensor, lengths: torch.Tensor, record: dict) -> torch.Tensor:
        """Encode windows ``(N, M, T <= window)`` with ``lengths`` real frames each into ``(N, ceil(T / 2), d)``;
        each layer's input (and the last layer's output) and attention weights go to ``record``'s lists."""
        total = features.shape[-1]
        frame_mask = (torch.arange(total, device=lengths.device)[None, :] < lengths[:, None]).to(features.dtype)
        # Zero padded frames before each convolution: a clip then sees exactly the zero padding it would see alone.
        hidden = nn.functional.gelu(self.conv1(features * frame_mask[:, None, :]))
        hidden = nn.functional.gelu(self.conv2(hidden * frame_mask[:, None, :]))
        hidden = hidden.transpose(1, 2)  # (N, T', d)
        out_len = hidden.shape[1]
        hidden = hidden + self.embed_positions.weight[:out_len].to(hidden.dtype)
        hidden = nn.functional.dropout(hidden, p=self.config.dropout, training=self.training)

        valid = torch.arange(out_len, device=lengths.device)[None, :] < ((lengths + 1) // 2)[:, None]
        attention_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=valid)
        for layer in self.layers:
            if record["hidden_states"] is not None:
                record["hidden_states"].append(hidden)
            hidden, weights = layer(hidden, attention_mask)
            if record["attentions"] is not None:
                record["attentions"].append(weights)
        hidden = self.layer_norm(hidden)
        if record["hidden_states"] is not None:
            record["hidden_states"].append(hidden)
        return hidden

    @classmethod
    def from_whisper(
        cls, whisper: str | os.PathLike | PreTrainedModel, dtype: torch.dtype | None = None
    ) -> "UASAudioEncoder":
        """Build an encoder with the weights of a transformers Whisper checkpoint (``WhisperModel``,
        ``WhisperForConditionalGeneration`` or ``WhisperEncoder``): a local folder, a Hub id or a loaded model."""
        if isinstance(whisper, PreTrainedModel):
            whisper_config, source = whisper.config, type(whisper).__name__
        else:
            folder = _resolve_checkpoint_folder(whisper)
            whisper_config, source = AutoConfig.from_pretrained(folder), str(whisper)
        if getattr(whisper_config, "model_type", None) != "whisper":
            raise ValueError(
                f"{source}: not a Whisper checkpoint (model_type={getattr(whisper_config, 'model_type', None)!r})"
            )
        if isinstance(whisper, PreTrainedModel):
            state = _whisper_encoder_state_from_model(whisper)
        else:
            state = _whisper_encoder_state_from_files(folder)
        config = UASAudioEncoderConfig(
            num_mel_bins=whisper_config.num_mel_bins,
            hidden_size=whisper_config.d_model,
            num_hidden_layers=whisper_config.encoder_layers,
            num_attention_heads=whisper_config.encoder_attention_heads,
            intermediate_size=whisper_config.encoder_ffn_dim,
            max_source_positions=whisper_config.max_source_positions,
            activation_function=whisper_config.activation_function,
            dropout=whisper_config.dropout,
            attention_dropout=whisper_config.attention_dropout,
            activation_dropout=whisper_config.activation_dropout,
        )
        encoder = cls(config)
        missing, unexpected = encoder.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{source}: Whisper encoder weights do not fit: missing {missing}, unexpected {unexpected}"
            )
        return encoder.to(dtype) if dtype is not None else encoder


#: Audio LLMs (and their encoders) whose audio tower ``audio_encoder_from_checkpoint`` takes: model_type -> whether
#: the checkpoint is a composite (its ``audio_config`` describes the encoder) or the bare encoder.
_TRANSFORMERS_AUDIO_CHECKPOINTS = {
    "qwen2_audio": True, "qwen3_asr": True, "qwen2_audio_encoder": False, "qwen3_asr_encoder": False,
}


def audio_encoder_from_checkpoint(path_or_id: str | os.PathLike, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """The audio encoder of a checkpoint, with its weights: Whisper (``UASAudioEncoder.from_whisper``), or the encoder
    of a Qwen2-Audio / Qwen3-ASR checkpoint (transformers' ``Qwen2AudioEncoder`` / ``Qwen3ASREncoder``, the
    ``qwen2_audio`` and ``aut`` families); only the encoder's tensors are read from the safetensors files. A loaded
    Whisper model is taken as ``from_whisper`` takes it."""
    if isinstance(path_or_id, PreTrainedModel):
        return UASAudioEncoder.from_whisper(path_or_id, dtype=dtype)
    folder = _resolve_checkpoint_folder(path_or_id)
    config = AutoConfig.from_pretrained(folder)
    model_type = getattr(config, "model_type", None)
    if model_type == "whisper":
        return UASAudioEncoder.from_whisper(folder, dtype=dtype)
    if model_type not in _TRANSFORMERS_AUDIO_CHECKPOINTS:
        raise ValueError(
            f"{path_or_id}: no audio encoder UAS-Audio can use (model_type={model_type!r}); expected a Whisper, "
            "Qwen2-Audio or Qwen3-ASR checkpoint"
        )
    audio_config = config.audio_config if _TRANSFORMERS_AUDIO_CHECKPOINTS[model_type] else config
    encoder = build_transformers_encoder(audio_config)
    expected = encoder.state_dict()
    first = next(iter(expected))
    files = _safetensors_files(folder)
    prefix = next((p for p in ("model.audio_tower.", "audio_tower.", "") if p + first in files), None)
    if prefix is None:
        raise ValueError(f"{path_or_id}: no {type(encoder).__name__} weights found (looked for {first!r})")
    from safetensors import safe_open

    state = {}
    for name in expected:
        with safe_open(files[prefix + name], framework="pt") as f:
            state[name] = f.get_tensor(prefix + name)
    encoder.load_state_dict(state, strict=True)
    return encoder.to(dtype) if dtype is not None else encoder


def _safetensors_files(folder: Path) -> dict[str, Path]:
    """Tensor name -> the safetensors file holding it, for a single-file or sharded checkpoint."""
    from safetensors import safe_open

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return {name: folder / shard for name, shard in json.loads(index.read_text())["weight_map"].items()}
    if (folder / "model.safetensors").is_file():
        with safe_open(folder / "model.safetensors", framework="pt") as f:
            return {name: folder / "model.safetensors" for name in f.keys()}
    raise FileNotFoundError(f"{folder}: no model.safetensors or model.safetensors.index.json")


def _resolve_checkpoint_folder(path_or_id: str | os.PathLike) -> Path:
    """A local checkpoint folder, or the snapshot of a Hub repository (configs and safetensors only)."""
    path = Path(path_or_id)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(path_or_id), allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"]))


def _whisper_encoder_prefix(keys) -> str:
    for prefix in ("model.encoder.", "encoder.", ""):
        if f"{prefix}conv1.weight" in keys:
            return prefix
    raise ValueError(
        "no Whisper encoder weights found (expected conv1.weight under model.encoder., encoder. or the root)"
    )


def _whisper_encoder_state_from_model(whisper: PreTrainedModel) -> dict[str, torch.Tensor]:
    state = whisper.state_dict()
    prefix = _whisper_encoder_prefix(state.keys())
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix) and "decoder" not in k[len(prefix) :]}


def _whisper_encoder_state_from_files(folder: Path) -> dict[str, torch.Tensor]:
    """Read only the encoder tensors from a (possibly sharded) safetensors checkpoint."""
    from safetensors import safe_open

    files = _safetensors_files(folder)
    prefix = _whisper_encoder_prefix(files.keys())
    state = {}
    for name, file in files.items():
        if name.startswith(prefix) and "decoder" not in name[len(prefix) :]:
            with safe_open(file, framework="pt") as f:
                state[name[len(prefix) :]] = f.get_tensor(name)
    return state


# ---------------------------------------------------------------------------------------------------------------
# Projector
# ---------------------------------------------------------------------------------------------------------------


class UASAudioProjector(nn.Module):
    """Stack ``k`` consecutive encoder frames (each clip's tail zero-padded) and project them to the LLM width:
    one linear layer (the paper's linear projection) or Linear-act-Linear with ``projector_type="mlp"`` (through
    ``projector_intermediate_size`` features, the LLM width by default)."""

    def __init__(self, config: UASAudioConfig):
        super().__init__()
        self.stack_factor = config.projector_stack_factor
        audio_dim, text_dim = config.audio_config.hidden_size, config.text_config.hidden_size
        if config.projector_type == "linear":
            self.linear_1 = nn.Linear(self.stack_factor * audio_dim, text_dim, bias=config.projector_bias)
        else:
            inner = config.projector_intermediate_size or text_dim
            self.linear_1 = nn.Linear(self.stack_factor * audio_dim, inner, bias=config.projector_bias)
            self.act = ACT2FN[config.projector_hidden_act]
            self.linear_2 = nn.Linear(inner, text_dim, bias=config.projector_bias)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``frames`` ``(B, E, d_audio)`` with ``lengths`` valid frames each → ``(sum_b ceil(len_b / k), d_text)``,
        clips in batch order."""
        batch, num_frames, dim = frames.shape
        k = self.stack_factor
        valid = torch.arange(num_frames, device=frames.device)[None, :] < lengths[:, None]
        frames = frames.masked_fill(~valid[..., None], 0.0)
        frames = nn.functional.pad(frames, (0, 0, 0, (-num_frames) % k))
        stacked = frames.reshape(batch, -1, k * dim)  # (B, G, k * d_audio)
        groups = stacked_frames(lengths, k)
        keep = torch.arange(stacked.shape[1], device=frames.device)[None, :] < groups[:, None]
        hidden = self.linear_1(stacked[keep])
        if hasattr(self, "linear_2"):
            hidden = self.linear_2(self.act(hidden))
        return hidden


# ---------------------------------------------------------------------------------------------------------------
# Base model
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class UASAudioModelOutputWithPast(BaseModelOutputWithPast):
    """LLM outputs aligned with ``input_ids``; ``audio_hidden_states`` are the projected audio features
    ``(num_audio_tokens, d_text)`` that replaced the placeholders (prefill only)."""

    audio_hidden_states: torch.Tensor | None = None
    router_logits: tuple[torch.Tensor, ...] | None = None


class UASAudioModel(UASAudioPreTrainedModel):
    """Audio tower + projector + LLM backbone (no LM head). Audio placeholder tokens in ``input_ids`` are replaced
    in place by projected audio features, so ``last_hidden_state`` stays aligned with ``input_ids`` and labels."""

    def __init__(self, config: UASAudioConfig):
        super().__init__(config)
        if config.input_mode == "continuous":
            self.audio_family = family_of(config.audio_config)
            if self.audio_family == "whisper":
                self.audio_tower = UASAudioEncoder(config.audio_config)
            else:  # transformers' own encoder, parameter names as in its checkpoints
                self.audio_tower = build_transformers_encoder(config.audio_config)
            self.multi_modal_projector = UASAudioProjector(config)
        else:  # discrete: audio arrives as code tokens of the vocabulary
            self.audio_family = None
            self.audio_tower = None
            self.multi_modal_projector = None
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module):
        self.language_model.set_input_embeddings(value)

    def num_audio_tokens(self, num_frames: torch.Tensor) -> torch.Tensor:
        """Placeholder tokens for clips of ``num_frames`` mel frames (``uas_audio.audio.frames.num_audio_tokens``)."""
        audio_config = self.config.audio_config
        return audio_tokens(family_of(audio_config), num_frames, window_frames_of(audio_config),
                            self.config.projector_stack_factor)

    @can_return_tuple
    def get_audio_features(
        self, input_features: torch.Tensor, input_features_mask: torch.Tensor | None = None, **kwargs
    ) -> UASAudioEncoderOutput:
        """Encode and project clips. ``pooler_output`` holds the projected features ``(sum of num_audio_tokens over
        clips, d_text)``, clips in batch order: exactly what fills the clips' placeholder tokens;
        ``last_hidden_state`` the encoder output ``(B, E, d_audio)`` (``output_hidden_states`` /
        ``output_attentions`` ask for the encoder's, per window)."""
        if self.audio_tower is None:
            raise ValueError("UASAudioModel: input_mode='discrete' has no audio encoder; audio enters as code tokens")
        # Features arrive in float32 from the processor; run them in the tower's dtype (e.g. bfloat16).
        input_features = input_features.to(self.audio_tower.dtype)
        if self.audio_family == "whisper":
            encoded = self.audio_tower(input_features, input_features_mask, return_dict=True, **kwargs)
        else:
            hidden, lengths = encode_with_transformers_encoder(
                self.audio_tower, self.audio_family, input_features, input_features_mask
            )
            encoded = UASAudioEncoderOutput(last_hidden_state=hidden, output_lengths=lengths)
        encoded.pooler_output = self.multi_modal_projector(encoded.last_hidden_state, encoded.output_lengths)
        return encoded

    def _placeholder_mask(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` True on audio placeholders, found by id, or by embedding when only embeddings are given."""
        if self.config.audio_token_id is None:
            raise ValueError("UASAudioModel: config.audio_token_id is not set, so audio placeholders cannot be found")
        if input_ids is not None:
            return input_ids == self.config.audio_token_id
        token = torch.tensor(self.config.audio_token_id, device=inputs_embeds.device)
        return (inputs_embeds == self.get_input_embeddings()(token)).all(-1)

    @can_return_tuple
    @_cache_argument
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        input_features_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        past_key_values: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> UASAudioModelOutputWithPast:
        """``cache`` is the KV cache (``past_key_values`` is its pre-5.24 name, still what 5.23's ``generate`` passes).

        Each audio placeholder of ``input_ids`` takes one projected frame of ``input_features``, clips in order. Without
        ``input_features``, placeholder ids are embedded as the text tokens they are (as in transformers' Voxtral
        and Qwen2-Audio; a warning says so once). With a non-empty ``cache`` and no placeholder among the new
        ``input_ids``, the features were consumed when the cache was filled and are not encoded again.
        """
        cache = cache if cache is not None else past_key_values
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("UASAudioModel: pass exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, L, d_text)

        prefill = self._is_prefill(cache)
        placeholders = None  # (B, L), found where they matter: with features, or in a prefill of ids
        if input_features is not None or (prefill and input_ids is not None and self.config.audio_token_id is not None):
            placeholders = self._placeholder_mask(input_ids, inputs_embeds)
        if input_features is not None and not prefill and not bool(placeholders.any()):
            input_features = None  # continuing from a cache that already holds these clips

        audio_embeds = None
        if input_features is not None:
            audio_embeds = self.get_audio_features(input_features, input_features_mask).pooler_output
            num_placeholders = int(placeholders.sum())
            if num_placeholders != audio_embeds.shape[0]:
                raise ValueError(
                    f"UASAudioModel: {num_placeholders} audio placeholder tokens (id {self.config.audio_token_id}) in "
                    f"the text but the {input_features.shape[0]} clip(s) give {audio_embeds.shape[0]} audio "
                    "features; expand each clip's placeholder to num_audio_tokens(frames) (the processor does)"
                )
            inputs_embeds = inputs_embeds.masked_scatter(
                placeholders[..., None].to(inputs_embeds.device), audio_embeds.to(inputs_embeds)
            )
        elif placeholders is not None and bool(placeholders.any()):
            logger.warning_once(
                f"UASAudioModel: input_ids hold {int(placeholders.sum())} audio placeholder tokens but no "
                "input_features were given, so they are embedded as text tokens; pass the processor's input_features "
                "and input_features_mask to fill them with audio"
            )

        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **{CACHE_NAME: cache},
            **kwargs,
        )
        return UASAudioModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            audio_hidden_states=audio_embeds,
            router_logits=getattr(outputs, "router_logits", None),  # MoE LMs asked for output_router_logits
        )

    @staticmethod
    def _is_prefill(cache: Cache | None) -> bool:
        return cache is None or cache.get_seq_length() == 0


# ---------------------------------------------------------------------------------------------------------------
# Causal LM
# ---------------------------------------------------------------------------------------------------------------


def _logit_scale(text_config) -> float | None:
    """The factor some LMs apply to their head's logits (the language model's own forward does it after its head):
    Cohere's ``logit_scale``, Granite's and MiniCPM3's ``1 / logits_scaling`` (HyperCLOVA X multiplies by it),
    Falcon-H1's ``lm_head_multiplier``. None for LMs that use their logits as they come."""
    for name in ("logit_scale", "output_multiplier", "lm_head_multiplier"):
        if getattr(text_config, name, None) is not None:
            return float(getattr(text_config, name))
    scaling = getattr(text_config, "logits_scaling", None)
    if scaling is not None:
        return float(scaling) if text_config.model_type == "hyperclovax" else 1.0 / float(scaling)
    return None


def lm_logits(hidden_states: torch.Tensor, lm_head: nn.Module, text_config) -> torch.Tensor:
    """Logits as the source language model computes them: its head, then its scale and Gemma's final soft-cap."""
    logits = lm_head(hidden_states)
    scale = _logit_scale(text_config)
    if scale is not None and scale != 1.0:
        logits = logits * scale
    cap = getattr(text_config, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits


def _router_balance_loss(router_logits, text_config, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The load-balancing loss MoE LMs (Mixtral, Qwen3-MoE, …) add in training, from the router logits."""
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    num_experts = getattr(text_config, "num_experts", None) or getattr(text_config, "num_local_experts")
    return load_balancing_loss_func(router_logits, num_experts, text_config.num_experts_per_tok, attention_mask)


class UASAudioForConditionalGeneration(UASAudioPreTrainedModel, GenerationMixin):
    """UAS-Audio with its LM head: audio + text in, text (and speech-code tokens) out."""

    # Applies only when the composite config sets tie_word_embeddings (it is False by default).
    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}
    # Tensor parallelism: the LLM's own plan shards its embeddings; the head is sharded over the vocabulary with the
    # logits gathered, as transformers' causal LMs do, so a tied head and its embedding are sharded together.
    _tp_plan = {"lm_head": "colwise_gather_output"}

    def __init__(self, config: UASAudioConfig):
        super().__init__(config)
        self.model = UASAudioModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear):
        self.lm_head = new_embeddings

    def get_audio_features(
        self, input_features: torch.Tensor, input_features_mask: torch.Tensor | None = None, **kwargs
    ) -> UASAudioEncoderOutput:
        """Encoder output with the projected features in ``pooler_output``; see ``UASAudioModel.get_audio_features``."""
        return self.model.get_audio_features(input_features, input_features_mask, **kwargs)

    def num_audio_tokens(self, num_frames: torch.Tensor) -> torch.Tensor:
        """Placeholder tokens for clips of ``num_frames`` mel frames."""
        return self.model.num_audio_tokens(num_frames)

    @can_return_tuple
    @_cache_argument
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        input_features_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        past_key_values: Cache | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> CausalLMOutputWithPast:
        """Logits ``(B, L, vocab)`` and, with ``labels`` ``(B, L)``, the shifted causal-LM loss (-100 ignored).
        ``cache`` is the KV cache (``past_key_values``: its pre-5.24 name)."""
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            input_features=input_features,
            input_features_mask=input_features_mask,
            position_ids=position_ids,
            cache=cache if cache is not None else past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        text_config = self.config.get_text_config()
        logits = lm_logits(slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep), self.lm_head, text_config)
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=text_config.vocab_size, **kwargs)
        fields = {
            "loss": loss,
            "logits": logits,
            CACHE_NAME: getattr(outputs, CACHE_NAME),
            "hidden_states": outputs.hidden_states,
            "attentions": outputs.attentions,
        }
        if outputs.router_logits is None:
            return CausalLMOutputWithPast(**fields)
        aux_loss = _router_balance_loss(outputs.router_logits, text_config, attention_mask)
        if loss is not None:
            fields["loss"] = loss + text_config.router_aux_loss_coef * aux_loss.to(loss.device)
        return MoeCausalLMOutputWithPast(**fields, aux_loss=aux_loss, router_logits=outputs.router_logits)

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool | None = False, **kwargs):
        """Audio features enter the forward that fills an empty cache only; later steps read the audio from the KV
        cache. An assistant model in assisted decoding is never told it is at its first iteration, yet its first
        forward starts from an empty cache, so the cache decides (its audio is then encoded, not read as text)."""
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None and cache.get_seq_length() == 0:
            is_first_iteration = True
        model_inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        if not is_first_iteration and kwargs.get("use_cache", True):
            model_inputs.pop("input_features", None)
            model_inputs.pop("input_features_mask", None)
        return model_inputs

    def _expand_inputs_for_generation(
        self,
        expand_size: int = 1,
        is_encoder_decoder: bool = False,
        input_ids: torch.LongTensor | None = None,
        **model_kwargs,
    ):
        """Beam search / several return sequences repeat each prompt; clips are rows of their own (a prompt may
        hold several clips, or none), so each prompt's clips are repeated with it, keeping placeholder order."""
        features = model_kwargs.pop("input_features", None)
        features_mask = model_kwargs.pop("input_features_mask", None)
        if expand_size > 1 and features is not None and input_ids is not None:
            index = self._clips_of_expanded_rows(input_ids, expand_size, features.shape[0])
            features = features[index]
            features_mask = features_mask[index] if features_mask is not None else None
        input_ids, model_kwargs = super()._expand_inputs_for_generation(
            expand_size, is_encoder_decoder, input_ids, **model_kwargs
        )
        if features is not None:
            model_kwargs["input_features"] = features
            model_kwargs["input_features_mask"] = features_mask
        return input_ids, model_kwargs

    def _clips_of_expanded_rows(self, input_ids: torch.Tensor, expand_size: int, num_clips: int) -> torch.Tensor:
        """Clip indices for rows repeated ``expand_size`` times; a clip is one run of placeholder tokens."""
        placeholders = input_ids == self.config.audio_token_id
        run_starts = placeholders & ~nn.functional.pad(placeholders[:, :-1], (1, 0))
        clips_per_row = run_starts.sum(-1).tolist()
        if sum(clips_per_row) != num_clips:
            raise ValueError(
                f"UASAudioForConditionalGeneration: the prompts hold {sum(clips_per_row)} runs of audio placeholders "
                f"but {num_clips} clips of input_features were given"
            )
        firsts = [sum(clips_per_row[:row]) for row in range(len(clips_per_row))]
        index = []
        for first, count in zip(firsts, clips_per_row):
            index += list(range(first, first + count)) * expand_size
        return torch.tensor(index, dtype=torch.long, device=input_ids.device)

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """Resize input embeddings and LM head together; ``config.text_config.vocab_size`` follows."""
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        self.model.language_model.config.vocab_size = self.config.text_config.vocab_size
        return embeddings

    def add_audio_codes(self, num_codes: int, tokenizer=None) -> range:
        """Extend the vocabulary with ``num_codes`` speech-code tokens ``<|code_i|>`` (normal tokens, so they stay
        in decoded text) and record their range in the config. With ``tokenizer`` the tokens are added to it and
        their ids are the ones it assigns; without, they take the rows after the current vocabulary."""
        if num_codes < 1:
            raise ValueError(f"add_audio_codes: num_codes must be >= 1, got {num_codes}")
        if self.config.num_audio_codes:
            raise ValueError(
                f"add_audio_codes: the model already has {self.config.num_audio_codes} audio codes "
                f"starting at id {self.config.audio_code_start}"
            )
        vocab_size = self.config.text_config.vocab_size
        if tokenizer is None:
            start = vocab_size
        else:
            names = [audio_code_token(i) for i in range(num_codes)]
            present = [name for name in names if name in tokenizer.get_vocab()]
            if present:
                raise ValueError(f"add_audio_codes: the tokenizer already has {present[:3]}…")
            tokenizer.add_tokens(names, special_tokens=False)
            ids = tokenizer.convert_tokens_to_ids(names)
            start = ids[0]
            if ids != list(range(start, start + num_codes)):
                raise ValueError("add_audio_codes: the tokenizer gave the code tokens non-contiguous ids")
        if start + num_codes > vocab_size:
            self.resize_token_embeddings(start + num_codes)
        self.config.audio_code_start = start
        self.config.num_audio_codes = num_codes
        return range(start, start + num_codes)

    def save_pretrained(self, save_directory, *args, **kwargs):
        # With remote code, also map the base model and the multimodal Auto class to this file.
        if self._auto_class is not None:
            module = Path(__file__).stem
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.setdefault("AutoModel", f"{module}.UASAudioModel")
            auto_map.setdefault("AutoModelForMultimodalLM", f"{module}.{type(self).__name__}")
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_components(
        cls,
        audio_encoder: str | os.PathLike,
        language_model: str | os.PathLike,
        *,
        stack_factor: int = 4,
        projector_type: str = "linear",
        projector_hidden_act: str = "gelu",
        tokenizer=None,
        dtype: torch.dtype | None = None,
        attn_implementation: str | None = None,
    ):
        """Assemble a model from an audio encoder checkpoint and a causal-LM checkpoint (weights copied) and a
        matching ``UASAudioProcessor``: the audio and chat special tokens are added to the LLM's tokenizer (or
        ``tokenizer``), the embeddings resized, the LM head untied. Returns ``(model, processor)``.

        ``audio_encoder`` is a Whisper checkpoint (the ``whisper`` family), a Qwen2-Audio one (its encoder: the
        ``qwen2_audio`` family) or a Qwen3-ASR one (its AuT encoder: the ``aut`` family); only the encoder's tensors
        are read. To keep a whole audio LLM instead, with its own projector and LM, see ``convert_audio_llm``."""
        try:
            from uas_audio.processing import UASAudioFeatureExtractor, UASAudioProcessor
            from uas_audio.processing.chatml import (
                AUDIO_BOS,
                AUDIO_EOS,
                AUDIO_TOKEN,
                CHAT_TEMPLATE,
                IM_END,
                IM_START,
                SPEECH_BOS,
                SPEECH_EOS,
            )
        except ImportError as error:  # this file also runs as remote code, without the package
            raise ImportError("from_components needs the uas_audio package (pip install uas-audio)") from error
        from transformers import AutoTokenizer

        lm = AutoModelForCausalLM.from_pretrained(language_model, dtype=dtype, use_safetensors=True)
        encoder = audio_encoder_from_checkpoint(audio_encoder, dtype=lm.dtype)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(language_model)
        special = (AUDIO_TOKEN, AUDIO_BOS, AUDIO_EOS, SPEECH_BOS, SPEECH_EOS, IM_START, IM_END)
        vocab = tokenizer.get_vocab()
        tokenizer.add_special_tokens(
            {"additional_special_tokens": [token for token in special if token not in vocab]},
            replace_extra_special_tokens=False,
        )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        ids = tokenizer.convert_tokens_to_ids

        text_config = lm.config
        text_config.tie_word_embeddings = False
        config = cls.config_class(
            audio_config=encoder.config,
            text_config=text_config,
            projector_type=projector_type,
            projector_stack_factor=stack_factor,
            projector_hidden_act=projector_hidden_act,
            audio_token_id=ids(AUDIO_TOKEN),
            audio_bos_token_id=ids(AUDIO_BOS),
            audio_eos_token_id=ids(AUDIO_EOS),
            speech_bos_token_id=ids(SPEECH_BOS),
            speech_eos_token_id=ids(SPEECH_EOS),
            tie_word_embeddings=False,
        )
        # Build the skeleton on the meta device, then move the pretrained parts in (no second copy of the LLM).
        with torch.device("meta"):
            model = cls(config)
        model.model.audio_tower = encoder
        model.model.language_model = lm.base_model
        head = lm.get_output_embeddings()
        model.lm_head = nn.Linear(head.in_features, head.out_features, bias=False, dtype=head.weight.dtype)
        with torch.no_grad():
            model.lm_head.weight.copy_(head.weight)  # a copy: the head is untied from the input embeddings
        projector = UASAudioProjector(config).to(dtype=lm.dtype)
        projector.apply(model._init_weights)
        model.model.multi_modal_projector = projector
        model.generation_config = lm.generation_config
        # ChatML turns end with <|im_end|>: stop there as well as at the LLM's own end of sequence.
        eos = model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        model.generation_config.eos_token_id = list(dict.fromkeys([ids(IM_END), *eos]))
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        if len(tokenizer) > config.text_config.vocab_size:
            model.resize_token_embeddings(len(tokenizer))
        if attn_implementation is not None:
            model.set_attn_implementation(attn_implementation)

        feature_extractor = UASAudioFeatureExtractor(feature_size=encoder.config.num_mel_bins)
        processor = UASAudioProcessor(
            feature_extractor=feature_extractor,
            tokenizer=tokenizer,
            chat_template=CHAT_TEMPLATE,
            stack_factor=stack_factor,
            encoder_family=family_of(encoder.config),
            window_frames=window_frames_of(encoder.config),
        )
        return model, processor


__all__ = [
    "UASAudioEncoder",
    "UASAudioForConditionalGeneration",
    "UASAudioModel",
    "UASAudioPreTrainedModel",
    "UASAudioProjector",
]
