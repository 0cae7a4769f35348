"""Configurations of the speech head: the speech tokenizer (speech → codes), the flow-matching decoder
(codes → mel), the vocoder (mel → waveform; HiFi-GAN or iSTFT head) and the speech head that holds the last two.

Every part works on the same mel: ``uas_audio.audio.mel.log_mel_spectrogram`` (128 slaney bins, 16 kHz,
n_fft 400, hop 160, Whisper scaling ``(log10 + 4) / 4``), the features the audio encoder reads too. One mel
frame is 10 ms; one code is 4 frames (40 ms, 25 Hz); the vocoder turns one frame into exactly 160 samples.
"""

from __future__ import annotations

import math

from transformers import PreTrainedConfig

SPEECH_SAMPLING_RATE = 16_000
SPEECH_HOP_LENGTH = 160  # samples per mel frame: 100 frames per second
SPEECH_NUM_MEL_BINS = 128
CODE_DOWNSAMPLING = 4  # mel frames per code: 25 codes per second


def _check_positive(config_name: str, **values: int | float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{config_name}: {name} must be > 0, got {value}")


class UASSpeechTokenizerConfig(PreTrainedConfig):
    r"""Speech tokenizer: a convolutional encoder over the log-mel, downsampled ×4 (two stride-2 convolutions) to
    25 codes per second, quantised by finite scalar quantisation (FSQ).

    FSQ rather than a learned VQ codebook: each latent channel is bounded and rounded to ``fsq_levels[i]``
    values, so the codebook is the fixed grid of ``prod(fsq_levels)`` points — nothing to collapse, no dead codes
    to restart, no commitment loss or EMA bookkeeping, and encoding is a deterministic rounding.

    Args:
        fsq_levels: values per latent channel; the codebook size K is their product (default 8·5·5·5 = 1000).
        hidden_size: channels of the encoder and of the mel reconstruction head.
        num_res_blocks: residual convolution blocks at each of the three rates (100, 50, 25 Hz).
        num_mel_bins / sampling_rate / hop_length: the mel the tokenizer reads (must match the speech head).
    """

    model_type = "uas_speech_tokenizer"

    fsq_levels: list[int] | tuple[int, ...] = (8, 5, 5, 5)
    hidden_size: int = 256
    num_res_blocks: int = 2
    kernel_size: int = 5
    num_mel_bins: int = SPEECH_NUM_MEL_BINS
    sampling_rate: int = SPEECH_SAMPLING_RATE
    hop_length: int = SPEECH_HOP_LENGTH
    downsampling: int = CODE_DOWNSAMPLING
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        self.fsq_levels = [int(level) for level in self.fsq_levels]
        if not self.fsq_levels or any(level < 2 for level in self.fsq_levels):
            raise ValueError(f"UASSpeechTokenizerConfig: fsq_levels must be non-empty with every level >= 2, got {self.fsq_levels}")
        _check_positive("UASSpeechTokenizerConfig", hidden_size=self.hidden_size, kernel_size=self.kernel_size)
        if self.downsampling != CODE_DOWNSAMPLING:
            raise ValueError(f"UASSpeechTokenizerConfig: downsampling is fixed at {CODE_DOWNSAMPLING} (25 Hz codes), got {self.downsampling}")
        super().__post_init__(**kwargs)

    @property
    def codebook_size(self) -> int:
        """K, the number of distinct codes."""
        return math.prod(self.fsq_levels)

    @property
    def code_rate_hz(self) -> float:
        return self.sampling_rate / (self.hop_length * self.downsampling)


class UASFlowDecoderConfig(PreTrainedConfig):
    r"""Conditional flow-matching decoder: a DiT-style transformer (adaLN-zero time conditioning) predicting the
    velocity that carries Gaussian noise to the mel, conditioned on the codes (upsampled ×4 to the mel rate) and
    an optional reference mel of the speaker.

    Args:
        fsq_levels: the tokenizer's levels; codes are embedded through the same fixed FSQ grid.
        hidden_size / num_hidden_layers / num_attention_heads / intermediate_size: the transformer.
        sigma_min: the optimal-transport path's end width, ``x_t = (1 - (1 - sigma_min) t) x0 + t x1``.
        cfg_dropout: probability of dropping the code and speaker condition in training (classifier-free guidance).
        reference_dropout: extra probability of dropping the reference mel alone.
        mel_mean / mel_std: fixed normalisation of the mel features into the flow's space.
    """

    model_type = "uas_flow_decoder"

    fsq_levels: list[int] | tuple[int, ...] = (8, 5, 5, 5)
    num_mel_bins: int = SPEECH_NUM_MEL_BINS
    upsampling: int = CODE_DOWNSAMPLING
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    conv_pos_kernel: int = 15
    reference_hidden_size: int = 128
    sigma_min: float = 1e-4
    cfg_dropout: float = 0.1
    reference_dropout: float = 0.3
    mel_mean: float = -0.2
    mel_std: float = 0.4
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        self.fsq_levels = [int(level) for level in self.fsq_levels]
        _check_positive(
            "UASFlowDecoderConfig", hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, mel_std=self.mel_std,
        )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"UASFlowDecoderConfig: hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if not 0.0 <= self.cfg_dropout < 1.0 or not 0.0 <= self.reference_dropout <= 1.0:
            raise ValueError("UASFlowDecoderConfig: cfg_dropout must be in [0, 1) and reference_dropout in [0, 1]")
        super().__post_init__(**kwargs)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.fsq_levels)


VOCODER_TYPES = ("hifigan", "istft")


class UASVocoderConfig(PreTrainedConfig):
    r"""The vocoder (log-mel → waveform), one of two families chosen by ``vocoder_type``; either gives exactly
    ``frames × hop_length`` samples.

    - ``"hifigan"`` (``UASVocoder``): transposed-convolution upsampling by ``upsample_rates`` (their product is the
      hop length) with multi-receptive-field residual blocks, trained against discriminators. The paper's family;
      it needs long adversarial training to stop sounding like noise.
    - ``"istft"`` (``UASISTFTVocoder``, Vocos-style): a ConvNeXt backbone at the mel frame rate predicts the
      log-magnitude and phase of an STFT (``istft_n_fft``, hop ``hop_length``), turned into audio by
      ``torch.istft``. No upsampling layers: it converges in minutes on a CPU with spectral losses alone.

    Args:
        vocoder_type: ``"hifigan"`` or ``"istft"``.
        upsample_initial_channel: (hifigan) channels after the input convolution; halved at each upsampling.
        resblock_kernel_sizes / resblock_dilation_sizes: (hifigan) the multi-receptive-field fusion blocks.
        discriminator_channels: width scale of the multi-period and multi-scale discriminators (training only).
        istft_hidden_size / istft_num_layers / istft_intermediate_size / istft_kernel_size: (istft) the ConvNeXt
            backbone: width, blocks, pointwise expansion, depthwise kernel.
        istft_n_fft: (istft) FFT size (and Hann window length) of the inverse STFT; bins = n_fft / 2 + 1.
        istft_magnitude_prior: (istft) predict the log-magnitude as a correction of the mel's pseudo-inverse
            (the magnitude Griffin-Lim starts from) rather than from scratch.
    """

    model_type = "uas_vocoder"

    vocoder_type: str = "hifigan"
    num_mel_bins: int = SPEECH_NUM_MEL_BINS
    sampling_rate: int = SPEECH_SAMPLING_RATE
    hop_length: int = SPEECH_HOP_LENGTH
    upsample_rates: list[int] | tuple[int, ...] = (5, 4, 4, 2)
    upsample_initial_channel: int = 256
    resblock_kernel_sizes: list[int] | tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: list[list[int]] | tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    leaky_relu_slope: float = 0.1
    discriminator_periods: list[int] | tuple[int, ...] = (2, 3, 5, 7, 11)
    discriminator_channels: int = 32
    initializer_range: float = 0.01
    istft_hidden_size: int = 192
    istft_num_layers: int = 4
    istft_intermediate_size: int = 576
    istft_kernel_size: int = 7
    istft_n_fft: int = 640
    istft_magnitude_prior: bool = True

    def __post_init__(self, **kwargs):
        if self.vocoder_type not in VOCODER_TYPES:
            raise ValueError(f"UASVocoderConfig: vocoder_type must be one of {VOCODER_TYPES}, got {self.vocoder_type!r}")
        _check_positive(
            "UASVocoderConfig", istft_hidden_size=self.istft_hidden_size, istft_num_layers=self.istft_num_layers,
            istft_intermediate_size=self.istft_intermediate_size, istft_kernel_size=self.istft_kernel_size,
        )
        if self.istft_n_fft < self.hop_length or self.istft_n_fft % 2:
            raise ValueError(
                f"UASVocoderConfig: istft_n_fft must be even and >= hop_length ({self.hop_length}), got {self.istft_n_fft}"
            )
        self.upsample_rates = [int(rate) for rate in self.upsample_rates]
        self.resblock_kernel_sizes = [int(k) for k in self.resblock_kernel_sizes]
        self.resblock_dilation_sizes = [[int(d) for d in dilations] for dilations in self.resblock_dilation_sizes]
        self.discriminator_periods = [int(p) for p in self.discriminator_periods]
        if math.prod(self.upsample_rates) != self.hop_length:
            raise ValueError(
                f"UASVocoderConfig: the product of upsample_rates {self.upsample_rates} is "
                f"{math.prod(self.upsample_rates)}, it must equal hop_length {self.hop_length}"
            )
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError("UASVocoderConfig: resblock_kernel_sizes and resblock_dilation_sizes must have the same length")
        if self.upsample_initial_channel < 2 ** len(self.upsample_rates):
            raise ValueError(
                f"UASVocoderConfig: upsample_initial_channel ({self.upsample_initial_channel}) must be at least "
                f"2**len(upsample_rates) = {2 ** len(self.upsample_rates)} (channels halve at each upsampling)"
            )
        super().__post_init__(**kwargs)


class UASSpeechHeadConfig(PreTrainedConfig):
    r"""The speech head: codes → mel (flow decoder) → waveform (vocoder), with the sampler's defaults."""

    model_type = "uas_speech_head"
    sub_configs_defaults = {"flow_config": UASFlowDecoderConfig, "vocoder_config": UASVocoderConfig}

    flow_config: dict | PreTrainedConfig | None = None
    vocoder_config: dict | PreTrainedConfig | None = None
    num_steps: int = 10
    solver: str = "euler"
    guidance_scale: float = 0.5

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.flow_config.num_mel_bins != self.vocoder_config.num_mel_bins:
            raise ValueError(
                f"UASSpeechHeadConfig: flow_config.num_mel_bins ({self.flow_config.num_mel_bins}) differs from "
                f"vocoder_config.num_mel_bins ({self.vocoder_config.num_mel_bins})"
            )
        if self.solver not in ("euler", "midpoint"):
            raise ValueError(f"UASSpeechHeadConfig: solver must be 'euler' or 'midpoint', got {self.solver!r}")

    @property
    def codebook_size(self) -> int:
        return self.flow_config.codebook_size
