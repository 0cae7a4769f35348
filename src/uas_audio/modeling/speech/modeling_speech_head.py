"""UASSpeechHead: codes → mel (flow decoder) → waveform (the vocoder of ``vocoder_config.vocoder_type``), one
saveable model."""

from __future__ import annotations

import torch
from torch.nn.utils import parametrize
from transformers import PreTrainedModel

from .configuration_speech import UASSpeechHeadConfig
from .modeling_flow_decoder import UASFlowDecoder
from .vocoders import build_vocoder


class UASSpeechHead(PreTrainedModel):
    config_class = UASSpeechHeadConfig
    config: UASSpeechHeadConfig
    base_model_prefix = "speech_head"
    main_input_name = "codes"

    def __init__(self, config: UASSpeechHeadConfig):
        super().__init__(config)
        self.flow_decoder = UASFlowDecoder(config.flow_config)
        self.vocoder = build_vocoder(config.vocoder_config)
        self.post_init()

    def _init_weights(self, module) -> None:
        pass  # the two parts initialise their own weights

    @classmethod
    def from_parts(cls, flow_decoder: UASFlowDecoder, vocoder: PreTrainedModel, **sampler_defaults) -> "UASSpeechHead":
        """A head holding (copies of the weights of) a trained flow decoder and vocoder."""
        config = UASSpeechHeadConfig(
            flow_config=flow_decoder.config.to_dict(), vocoder_config=vocoder.config.to_dict(), **sampler_defaults
        )
        head = cls(config)
        head.flow_decoder.load_state_dict(flow_decoder.state_dict())
        head.vocoder.load_state_dict(vocoder.state_dict())
        return head.to(flow_decoder.device)

    @property
    def sampling_rate(self) -> int:
        return self.config.vocoder_config.sampling_rate

    @torch.no_grad()
    def codes_to_mel(
        self,
        codes: torch.Tensor,
        code_mask: torch.Tensor | None = None,
        reference_mel: torch.Tensor | None = None,
        steps: int | None = None,
        solver: str | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mel (B, n_mels, 4N) and its frame mask for codes (B, N); sampler settings default to the config's."""
        return self.flow_decoder.sample(
            codes=codes.to(self.device),
            code_mask=code_mask,
            reference_mel=None if reference_mel is None else reference_mel.to(self.device, self.dtype),
            num_steps=steps or self.config.num_steps,
            solver=solver or self.config.solver,
            guidance_scale=self.config.guidance_scale if guidance_scale is None else guidance_scale,
            generator=generator,
        )

    @torch.no_grad()
    def codes_to_waveform(
        self,
        codes: torch.Tensor,
        reference_mel: torch.Tensor | None = None,
        steps: int | None = None,
        solver: str | None = None,
        guidance_scale: float | None = None,
        code_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, int]:
        """Waveform of speech codes and its sampling rate.

        ``codes`` (N,) gives a waveform (N × 640,); ``codes`` (B, N) gives (B, N × 640) with zeros past each row's
        ``code_mask``. ``reference_mel`` (n_mels, T) or (B, n_mels, T) is a log-mel of the target speaker."""
        codes = torch.as_tensor(codes, dtype=torch.long)
        single = codes.ndim == 1
        if single:
            codes = codes[None]
            if reference_mel is not None and reference_mel.ndim == 2:
                reference_mel = reference_mel[None]
        if codes.ndim != 2 or codes.shape[1] == 0:
            raise ValueError(f"codes_to_waveform: expected codes of shape (N,) or (batch, N) with N >= 1, got {tuple(codes.shape)}")
        mel, frame_mask = self.codes_to_mel(codes, code_mask, reference_mel, steps, solver, guidance_scale, generator)
        with parametrize.cached():  # weight-normed kernels computed once per call, not once per use
            wav = self.vocoder(mel)
        hop = self.config.vocoder_config.hop_length
        wav = wav * frame_mask.repeat_interleave(hop, dim=1).to(wav.dtype)
        return (wav[0] if single else wav), self.sampling_rate
