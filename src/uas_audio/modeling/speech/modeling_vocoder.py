"""UASVocoder: a HiFi-GAN generator (log-mel → waveform), its multi-period and multi-scale discriminators and
the standard losses (least-squares adversarial, feature matching, mel L1 × 45).

Each transposed convolution upsamples by exactly its rate (kernel ``2r`` for even ``r``, ``2r + 1`` for odd, padding
``(k - r) / 2``), and the rates multiply to the hop length, so ``frames`` mel frames give ``frames × hop`` samples.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm
from transformers import PreTrainedModel

from .configuration_speech import UASVocoderConfig
from .mel import speech_log_mel

MEL_LOSS_WEIGHT = 45.0
FEATURE_MATCHING_WEIGHT = 2.0
# features are (log10(power) + 4) / 4: one unit is 4·ln(10) in natural-log mel, the unit the ×45 weight assumes
_FEATURE_TO_LN = 4.0 * math.log(10.0)


def _upsample_kernel(rate: int) -> int:
    return 2 * rate if rate % 2 == 0 else 2 * rate + 1


class _ResBlock(nn.Module):
    """HiFi-GAN V1 residual block: per dilation, LeakyReLU → dilated conv → LeakyReLU → conv, added back."""

    def __init__(self, channels: int, kernel_size: int, dilations: list[int], slope: float):
        super().__init__()
        self.slope = slope
        self.dilated = nn.ModuleList(
            [weight_norm(nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2)) for d in dilations]
        )
        self.plain = nn.ModuleList(
            [weight_norm(nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2)) for _ in dilations]
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        for dilated, plain in zip(self.dilated, self.plain):
            residual = hidden
            hidden = dilated(nn.functional.leaky_relu(hidden, self.slope))
            hidden = plain(nn.functional.leaky_relu(hidden, self.slope))
            hidden = hidden + residual
        return hidden


class UASVocoder(PreTrainedModel):
    """HiFi-GAN generator: ``forward(mel (B, n_mels, T)) -> waveform (B, T × hop_length)`` in [-1, 1]."""

    config_class = UASVocoderConfig
    config: UASVocoderConfig
    base_model_prefix = "vocoder"
    main_input_name = "input_features"

    def __init__(self, config: UASVocoderConfig):
        if config.vocoder_type != "hifigan":
            raise ValueError(f"UASVocoder is the HiFi-GAN vocoder, got vocoder_type {config.vocoder_type!r} (use build_vocoder)")
        super().__init__(config)
        channels = config.upsample_initial_channel
        self.conv_pre = weight_norm(nn.Conv1d(config.num_mel_bins, channels, 7, padding=3))
        self.upsamples = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, rate in enumerate(config.upsample_rates):
            kernel = _upsample_kernel(rate)
            in_ch, out_ch = channels // 2**i, channels // 2 ** (i + 1)
            self.upsamples.append(weight_norm(nn.ConvTranspose1d(in_ch, out_ch, kernel, stride=rate, padding=(kernel - rate) // 2)))
            self.resblocks.append(
                nn.ModuleList(
                    [
                        _ResBlock(out_ch, k, d, config.leaky_relu_slope)
                        for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes)
                    ]
                )
            )
        self.conv_post = weight_norm(nn.Conv1d(channels // 2 ** len(config.upsample_rates), 1, 7, padding=3))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # HiFi-GAN's N(0, 0.01) on the direction of every weight-normed convolution; the norm follows it
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) and hasattr(module, "parametrizations"):
            direction = module.parametrizations.weight.original1
            with torch.no_grad():
                direction.normal_(0.0, self.config.initializer_range)
                dims = list(range(1, direction.ndim))  # weight_norm's default dim=0 for every module
                module.parametrizations.weight.original0.copy_(direction.norm(dim=dims, keepdim=True))
                if module.bias is not None:
                    module.bias.zero_()

    def forward(self, input_features: torch.Tensor, **kwargs) -> torch.Tensor:
        if input_features.ndim != 3 or input_features.shape[1] != self.config.num_mel_bins:
            raise ValueError(
                f"UASVocoder: expected mel of shape (batch, {self.config.num_mel_bins}, frames), got {tuple(input_features.shape)}"
            )
        slope = self.config.leaky_relu_slope
        hidden = self.conv_pre(input_features)
        for upsample, blocks in zip(self.upsamples, self.resblocks):
            hidden = upsample(nn.functional.leaky_relu(hidden, slope))
            hidden = sum(block(hidden) for block in blocks) / len(blocks)  # multi-receptive-field fusion
        hidden = self.conv_post(nn.functional.leaky_relu(hidden))  # HiFi-GAN's default slope before the output
        return torch.tanh(hidden).squeeze(1)


# --- discriminators (training only) ---------------------------------------------------------------------------


class _PeriodDiscriminator(nn.Module):
    """Looks at the waveform folded into (T / p, p): every p-th sample, for periodic structure."""

    def __init__(self, period: int, width: int, slope: float):
        super().__init__()
        self.period, self.slope = period, slope
        chans = [1, width, 4 * width, 16 * width, 32 * width, 32 * width]
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(chans[i], chans[i + 1], (5, 1), stride=(3 if i < 4 else 1, 1), padding=(2, 0)))
                for i in range(5)
            ]
        )
        self.post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, samples = wav.shape
        if samples % self.period:
            wav = nn.functional.pad(wav[:, None], (0, self.period - samples % self.period), mode="reflect")[:, 0]
        hidden = wav.view(batch, 1, -1, self.period)
        features = []
        for conv in self.convs:
            hidden = nn.functional.leaky_relu(conv(hidden), self.slope)
            features.append(hidden)
        hidden = self.post(hidden)
        features.append(hidden)
        return hidden.flatten(1), features


class _ScaleDiscriminator(nn.Module):
    """Grouped 1-D convolutions over the waveform at one scale (raw, ×2 or ×4 average-pooled)."""

    def __init__(self, width: int, slope: float):
        super().__init__()
        self.slope = slope
        w = width
        spec = [  # (in, out, kernel, stride, groups)
            (1, 4 * w, 15, 1, 1),
            (4 * w, 4 * w, 41, 2, 4),
            (4 * w, 8 * w, 41, 2, 16),
            (8 * w, 16 * w, 41, 4, 16),
            (16 * w, 32 * w, 41, 4, 16),
            (32 * w, 32 * w, 41, 1, 16),
            (32 * w, 32 * w, 5, 1, 1),
        ]
        self.convs = nn.ModuleList(
            [weight_norm(nn.Conv1d(i, o, k, stride=s, groups=g, padding=(k - 1) // 2)) for i, o, k, s, g in spec]
        )
        self.post = weight_norm(nn.Conv1d(32 * w, 1, 3, padding=1))

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hidden, features = wav[:, None], []
        for conv in self.convs:
            hidden = nn.functional.leaky_relu(conv(hidden), self.slope)
            features.append(hidden)
        hidden = self.post(hidden)
        features.append(hidden)
        return hidden.flatten(1), features


class UASVocoderDiscriminator(nn.Module):
    """Multi-period (periods from the config, default 2, 3, 5, 7, 11) and multi-scale (3 scales) discriminators.

    ``forward(wav (B, L)) -> (scores, features)``: one score map and one feature list per sub-discriminator."""

    def __init__(self, config: UASVocoderConfig):
        super().__init__()
        width = config.discriminator_channels
        if width < 4 or width % 4:
            raise ValueError(f"UASVocoderDiscriminator: discriminator_channels must be a multiple of 4 (>= 4), got {width}")
        slope = config.leaky_relu_slope
        self.period_discriminators = nn.ModuleList([_PeriodDiscriminator(p, width, slope) for p in config.discriminator_periods])
        self.scale_discriminators = nn.ModuleList([_ScaleDiscriminator(width, slope) for _ in range(3)])
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        scores, features = [], []
        for disc in self.period_discriminators:
            score, feats = disc(wav)
            scores.append(score)
            features.append(feats)
        scaled = wav
        for i, disc in enumerate(self.scale_discriminators):
            if i > 0:
                scaled = self.pool(scaled[:, None])[:, 0]
            score, feats = disc(scaled)
            scores.append(score)
            features.append(feats)
        return scores, features


# --- losses ---------------------------------------------------------------------------------------------------


def discriminator_loss(real_scores: list[torch.Tensor], fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN: real scores pulled to 1, generated ones to 0, summed over sub-discriminators."""
    return sum(torch.mean((1 - real) ** 2) + torch.mean(fake**2) for real, fake in zip(real_scores, fake_scores))


def generator_adversarial_loss(fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN: the generator pulls the scores of its waveforms to 1."""
    return sum(torch.mean((1 - fake) ** 2) for fake in fake_scores)


def feature_matching_loss(real_features: list[list[torch.Tensor]], fake_features: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminators' intermediate features of real and generated audio (× 2, as in HiFi-GAN)."""
    total = sum(
        torch.mean((real.detach() - fake).abs())
        for real_list, fake_list in zip(real_features, fake_features)
        for real, fake in zip(real_list, fake_list)
    )
    return FEATURE_MATCHING_WEIGHT * total


def mel_l1_loss(generated: torch.Tensor, target_mel: torch.Tensor) -> torch.Tensor:
    """L1 between the log-mel of ``generated`` (B, L) and ``target_mel`` (B, n_mels, L / hop), in natural-log units,
    × 45."""
    mel, _ = speech_log_mel(generated)
    return MEL_LOSS_WEIGHT * _FEATURE_TO_LN * torch.mean((mel - target_mel).abs())
