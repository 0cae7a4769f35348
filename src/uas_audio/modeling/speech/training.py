"""Training entry points of the speech head, on any speech corpus, through accelerate.

- ``train_codec``: the speech tokenizer and the flow decoder together. The tokenizer's mel-reconstruction L1 and the
  flow-matching loss are summed; the flow decoder reads the tokenizer's quantised latents, so its loss also shapes
  the codes (straight-through). A reference mel (another crop of the same clip) conditions the speaker.
- ``train_vocoder``: the vocoder of the preset (or ``vocoder_type``). HiFi-GAN trains against the multi-period and
  multi-scale discriminators; the iSTFT vocoder trains on its multi-resolution STFT + mel L1 loss alone unless
  ``adversarial`` is set (then the same discriminators are added).

Data is a folder of audio files or a ``datasets`` dataset saved with ``save_to_disk`` whose ``audio`` column holds
``Audio(decode=False)`` bytes; clips are decoded once with ``uas_audio.audio.load_audio`` (16 kHz mono), and
undecodable ones are reported and skipped. Each batch is a function of (seed, step), so ``resume=True`` continues
from the newest checkpoint and replays exactly the batches an uninterrupted run would have drawn.
Checkpoints (``output_dir/checkpoints/step-N``) hold the weights as safetensors plus optimizer, scheduler and RNG
state (``Accelerator.save_state``); the trained parts are saved with ``save_pretrained`` in ``output_dir``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...audio import AudioDecodeError, load_audio
from .configuration_speech import CODE_DOWNSAMPLING, SPEECH_HOP_LENGTH, SPEECH_SAMPLING_RATE, VOCODER_TYPES
from .mel import speech_log_mel
from .modeling_flow_decoder import UASFlowDecoder
from .modeling_istft_vocoder import istft_vocoder_loss
from .modeling_speech_tokenizer import UASSpeechTokenizer
from .modeling_vocoder import (
    UASVocoderDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)
from .presets import PRESETS, speech_configs
from .vocoders import build_vocoder

logger = logging.getLogger(__name__)

PARTS = ("codec", "vocoder")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")
CHECKPOINTS_DIR = "checkpoints"
_PROGRESS_FILE = "progress.json"


@dataclass
class SpeechTrainingConfig:
    """One training run of a speech-head part."""

    part: str = field(metadata={"help": "'codec' (speech tokenizer + flow decoder) or 'vocoder'"})
    data: str = field(metadata={"help": "a folder of audio files or a datasets folder with an 'audio' column"})
    output_dir: str = field(metadata={"help": "where checkpoints and the trained parts are written"})
    max_steps: int = field(default=1000, metadata={"help": "optimizer steps in total (a resumed run counts on)"})
    preset: str = field(default="tiny", metadata={"help": f"model sizes: one of {PRESETS}"})
    fsq_levels: list[int] | None = field(default=None, metadata={"help": "FSQ levels (codebook = their product)"})
    vocoder_type: str | None = field(
        default=None, metadata={"help": f"vocoder: one of {VOCODER_TYPES} (default: the preset's; tiny istft, base hifigan)"}
    )
    adversarial: bool | None = field(
        default=None, metadata={"help": "vocoder: train against discriminators (default: yes for hifigan, no for istft)"}
    )
    batch_size: int = field(default=8, metadata={"help": "clips per micro-batch per process"})
    segment_seconds: float | None = field(
        default=None, metadata={"help": "length of the random crops (default 1.28 s codec, 0.64 s vocoder)"}
    )
    reference_seconds: float = field(default=1.0, metadata={"help": "codec: reference crop for the speaker"})
    learning_rate: float | None = field(
        default=None, metadata={"help": "peak LR (default 1e-3 codec, 2e-4 HiFi-GAN vocoder, 3e-3 iSTFT vocoder)"}
    )
    warmup_steps: int = field(default=100, metadata={"help": "linear warm-up steps, then constant (or cosine_decay)"})
    cosine_decay: bool = field(
        default=False, metadata={"help": "after warm-up, decay the LR along a cosine to 10 % at max_steps"}
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    mixed_precision: str = field(
        default="no", metadata={"help": "'no', 'fp16' or 'bf16' (accelerate: one setting per process)"}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    save_every: int = field(default=500, metadata={"help": "checkpoint every N steps (and at the end)"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept"})
    log_every: int = field(default=50, metadata={"help": "log the losses every N steps"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation and batch sampling"})
    resume: bool = field(default=False, metadata={"help": "continue from the newest checkpoint in output_dir"})

    def __post_init__(self):
        if self.part not in PARTS:
            raise ValueError(f"SpeechTrainingConfig: part must be one of {PARTS}, got {self.part!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"SpeechTrainingConfig: preset must be one of {PRESETS}, got {self.preset!r}")
        if self.max_steps < 1 or self.batch_size < 1 or self.gradient_accumulation_steps < 1 or self.save_every < 1:
            raise ValueError("SpeechTrainingConfig: max_steps, batch_size, gradient_accumulation_steps and save_every must be >= 1")
        if self.vocoder_type is not None and self.vocoder_type not in VOCODER_TYPES:
            raise ValueError(f"SpeechTrainingConfig: vocoder_type must be one of {VOCODER_TYPES}, got {self.vocoder_type!r}")
        if self.segment_seconds is None:
            self.segment_seconds = 1.28 if self.part == "codec" else 0.64
        if self.learning_rate is None:
            vocoder = self.resolved_vocoder_type if self.part == "vocoder" else None
            self.learning_rate = {"hifigan": 2e-4, "istft": 3e-3}.get(vocoder, 1e-3)
        if self.adversarial is None:
            self.adversarial = self.resolved_vocoder_type == "hifigan"

    @property
    def resolved_vocoder_type(self) -> str:
        return self.vocoder_type or speech_configs(self.preset)["vocoder"].vocoder_type

    @property
    def segment_samples(self) -> int:
        # a whole number of codes (640 samples each), hence also of mel frames
        unit = SPEECH_HOP_LENGTH * CODE_DOWNSAMPLING
        return max(1, round(self.segment_seconds * SPEECH_SAMPLING_RATE / unit)) * unit


# --- data -----------------------------------------------------------------------------------------------------


def load_speech_clips(data: str | Path) -> list[np.ndarray]:
    """Decode every clip of ``data`` (a folder of audio files, or a ``save_to_disk`` datasets folder with an
    ``audio`` column) to 16 kHz mono float32. Undecodable clips are logged with the reason and skipped."""
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"speech training data {path}: no such file or folder")
    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
        sources = _dataset_sources(path)
    elif path.is_dir():
        sources = [(str(p), p) for p in sorted(path.rglob("*")) if p.suffix.lower() in AUDIO_SUFFIXES]
    else:
        sources = [(str(path), path)]
    clips, skipped = [], 0
    for name, source in sources:
        try:
            clip = load_audio(source, SPEECH_SAMPLING_RATE)
        except AudioDecodeError as error:
            logger.warning("skipping %s: %s", name, error.cause)
            skipped += 1
            continue
        if clip.size < SPEECH_HOP_LENGTH * CODE_DOWNSAMPLING:
            logger.warning("skipping %s: shorter than one code (%d samples)", name, clip.size)
            skipped += 1
            continue
        clips.append(clip)
    if not clips:
        raise ValueError(f"speech training data {path}: no usable audio ({len(sources)} found, {skipped} skipped)")
    logger.info("speech training data %s: %d clips (%d skipped)", path, len(clips), skipped)
    return clips


def _dataset_sources(path: Path) -> list[tuple[str, dict]]:
    from datasets import Audio, DatasetDict, load_from_disk

    dataset = load_from_disk(str(path))
    if isinstance(dataset, DatasetDict):
        dataset = dataset["train"] if "train" in dataset else next(iter(dataset.values()))
    if "audio" not in dataset.column_names:
        raise ValueError(f"speech training data {path}: the dataset has no 'audio' column ({dataset.column_names})")
    dataset = dataset.cast_column("audio", Audio(decode=False))
    ids = dataset["id"] if "id" in dataset.column_names else range(len(dataset))
    return [(f"{path}[{clip_id}]", audio) for clip_id, audio in zip(ids, dataset["audio"])]


def _crop(clip: np.ndarray, length: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    if clip.size <= length:
        return np.pad(clip, (0, length - clip.size)), clip.size
    start = int(rng.integers(0, clip.size - length + 1))
    return clip[start : start + length], length


def _batch(clips: list[np.ndarray], config: SpeechTrainingConfig, step: int, micro: int, process: int) -> dict:
    """The micro-batch of (step, micro, process): random clips and crops from a generator seeded by those numbers."""
    rng = np.random.default_rng([config.seed, step, micro, process])
    waves, lengths, refs, ref_lengths = [], [], [], []
    ref_samples = max(SPEECH_HOP_LENGTH, int(config.reference_seconds * SPEECH_SAMPLING_RATE))
    for index in rng.integers(0, len(clips), size=config.batch_size):
        wave, n = _crop(clips[index], config.segment_samples, rng)
        ref, m = _crop(clips[index], ref_samples, rng)
        waves.append(wave)
        lengths.append(n)
        refs.append(ref)
        ref_lengths.append(m)
    return {
        "waves": torch.from_numpy(np.stack(waves)).float(),
        "lengths": torch.tensor(lengths),
        "references": torch.from_numpy(np.stack(refs)).float(),
        "reference_lengths": torch.tensor(ref_lengths),
    }


# --- the loop -------------------------------------------------------------------------------------------------


class _Codec(nn.Module):
    """Tokenizer + flow decoder as one module, so one optimizer and one accelerate wrapper train both."""

    def __init__(self, tokenizer: UASSpeechTokenizer, flow_decoder: UASFlowDecoder):
        super().__init__()
        self.tokenizer = tokenizer
        self.flow_decoder = flow_decoder

    def forward(self, waves, lengths, references, reference_lengths) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            mel, mask = speech_log_mel(waves, lengths)
            ref_mel, ref_mask = speech_log_mel(references, reference_lengths)
        tok = self.tokenizer(input_features=mel, input_features_mask=mask)
        flow = self.flow_decoder(
            input_features=mel, code_values=tok.quantized, input_features_mask=mask,
            reference_mel=ref_mel, reference_mask=ref_mask,
        )
        return {"loss": tok.loss + flow.loss, "reconstruction_l1": tok.loss.detach(), "flow_mse": flow.loss.detach()}


def _schedule(warmup_steps: int, max_steps: int, cosine_decay: bool):
    def factor(step: int) -> float:
        if step < warmup_steps or not cosine_decay:
            return min(1.0, (step + 1) / max(1, warmup_steps))
        progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _checkpoints(output_dir: Path) -> list[Path]:
    found = [p for p in (output_dir / CHECKPOINTS_DIR).glob("step-*") if (p / _PROGRESS_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def _save_checkpoint(accelerator, output_dir: Path, step: int, history: list[dict], limit: int) -> None:
    directory = output_dir / CHECKPOINTS_DIR / f"step-{step}"
    accelerator.save_state(str(directory), safe_serialization=True)
    if accelerator.is_main_process:
        (directory / _PROGRESS_FILE).write_text(json.dumps({"step": step, "history": history}))
        for old in _checkpoints(output_dir)[:-limit]:
            shutil.rmtree(old, ignore_errors=True)


def _run(config: SpeechTrainingConfig, models: list[nn.Module], optimizers: list, step_fn) -> tuple[list, int, list]:
    """Shared loop: prepare, resume, step, log, checkpoint. ``step_fn(models, optimizers, batch, accelerator)`` does
    one micro-batch and returns its float losses."""
    from accelerate import Accelerator

    accelerator = Accelerator(
        gradient_accumulation_steps=config.gradient_accumulation_steps, mixed_precision=config.mixed_precision
    )
    output_dir = Path(config.output_dir)
    schedule = _schedule(config.warmup_steps, config.max_steps, config.cosine_decay)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, schedule) for opt in optimizers]
    prepared = accelerator.prepare(*models, *optimizers, *schedulers)
    models = list(prepared[: len(models)])
    optimizers = list(prepared[len(models) : len(models) + len(optimizers)])
    schedulers = list(prepared[len(models) + len(optimizers) :])
    step, history = 0, []
    if config.resume:
        found = _checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(f"resume: no checkpoint under {output_dir / CHECKPOINTS_DIR}")
        accelerator.load_state(str(found[-1]))
        progress = json.loads((found[-1] / _PROGRESS_FILE).read_text())
        step, history = int(progress["step"]), list(progress["history"])
        logger.info("resumed from %s at step %d", found[-1], step)
    clips = load_speech_clips(config.data)
    for model in models:
        model.train()
    while step < config.max_steps:
        totals: dict[str, float] = {}
        for micro in range(config.gradient_accumulation_steps):
            batch = {k: v.to(accelerator.device) for k, v in _batch(clips, config, step, micro, accelerator.process_index).items()}
            losses = step_fn(models, optimizers, batch, accelerator)
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value / config.gradient_accumulation_steps
        for scheduler in schedulers:
            scheduler.step()
        step += 1
        history.append({"step": step, **{k: round(v, 6) for k, v in totals.items()}})
        if step % config.log_every == 0 or step == config.max_steps:
            logger.info("step %d: %s", step, ", ".join(f"{k} {v:.4f}" for k, v in totals.items()))
        if step % config.save_every == 0 or step == config.max_steps:
            _save_checkpoint(accelerator, output_dir, step, history, config.save_total_limit)
    accelerator.wait_for_everyone()
    return [accelerator.unwrap_model(m) for m in models], step, history


def _codec_step(models, optimizers, batch, accelerator, max_grad_norm: float) -> dict[str, float]:
    (codec,), (optimizer,) = models, optimizers
    with accelerator.accumulate(codec):
        with accelerator.autocast():
            out = codec(**batch)
        accelerator.backward(out["loss"])
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(codec.parameters(), max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
    return {k: v.detach().item() for k, v in out.items()}


def _reconstruction(generator, fake: torch.Tensor, waves: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
    """The family's non-adversarial loss: HiFi-GAN's mel L1 × 45, or the iSTFT vocoder's STFT + mel loss."""
    if generator.config.vocoder_type == "istft":
        return istft_vocoder_loss(fake.float(), waves, mel)
    mel_loss = mel_l1_loss(fake.float(), mel)
    return {"loss": mel_loss, "mel_l1_x45": mel_loss}


def _reconstruction_step(models, optimizers, batch, accelerator, max_grad_norm: float) -> dict[str, float]:
    """One generator step on the reconstruction loss alone (no discriminator)."""
    (generator,), (optimizer,) = models, optimizers
    waves = batch["waves"]
    with accelerator.accumulate(generator):
        mel, _ = speech_log_mel(waves)
        with accelerator.autocast():
            fake = generator(mel)
        losses = _reconstruction(accelerator.unwrap_model(generator), fake, waves, mel)
        accelerator.backward(losses["loss"])
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(generator.parameters(), max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
    return {k: v.item() for k, v in losses.items() if k != "loss"}


def _vocoder_step(models, optimizers, batch, accelerator, max_grad_norm: float) -> dict[str, float]:
    generator, discriminator = models
    opt_g, opt_d = optimizers
    waves = batch["waves"]
    with accelerator.accumulate(generator, discriminator):
        mel, _ = speech_log_mel(waves)
        with accelerator.autocast():
            fake = generator(mel)
            real_scores, _ = discriminator(waves)
            fake_scores, _ = discriminator(fake.detach())
            loss_d = discriminator_loss(real_scores, fake_scores)
        accelerator.backward(loss_d)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(discriminator.parameters(), max_grad_norm)
        opt_d.step()
        opt_d.zero_grad()
        with accelerator.autocast():
            real_scores, real_features = discriminator(waves)
            fake_scores, fake_features = discriminator(fake)
            adversarial = generator_adversarial_loss(fake_scores)
            matching = feature_matching_loss(real_features, fake_features)
        reconstruction = _reconstruction(accelerator.unwrap_model(generator), fake, waves, mel)
        loss_g = adversarial + matching + reconstruction["loss"]
        accelerator.backward(loss_g)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(generator.parameters(), max_grad_norm)
        opt_g.step()
        opt_g.zero_grad()
        opt_d.zero_grad()  # the generator's backward also reached the discriminator
    return {
        "discriminator": loss_d.item(), "adversarial": adversarial.item(), "feature_matching": matching.item(),
        **{k: v.item() for k, v in reconstruction.items() if k != "loss"},
    }


def train_codec(config: SpeechTrainingConfig) -> dict:
    """Train the speech tokenizer and flow decoder; saves them to ``output_dir/speech_tokenizer`` and
    ``output_dir/flow_decoder``. Returns ``{"step", "history", "tokenizer", "flow_decoder"}``."""
    if config.part != "codec":
        raise ValueError(f"train_codec: config.part is {config.part!r}, expected 'codec'")
    torch.manual_seed(config.seed)
    configs = speech_configs(config.preset, config.fsq_levels)
    codec = _Codec(UASSpeechTokenizer(configs["tokenizer"]), UASFlowDecoder(configs["flow"]))
    optimizer = torch.optim.AdamW(codec.parameters(), lr=config.learning_rate, betas=(0.9, 0.98), weight_decay=0.01)
    step_fn = partial(_codec_step, max_grad_norm=config.max_grad_norm)
    (codec,), step, history = _run(config, [codec], [optimizer], step_fn)
    output_dir = Path(config.output_dir)
    codec.tokenizer.save_pretrained(output_dir / "speech_tokenizer")
    codec.flow_decoder.save_pretrained(output_dir / "flow_decoder")
    (output_dir / "training_config.json").write_text(json.dumps(asdict(config), indent=2))
    return {"step": step, "history": history, "tokenizer": codec.tokenizer.eval(), "flow_decoder": codec.flow_decoder.eval()}


def train_vocoder(config: SpeechTrainingConfig) -> dict:
    """Train the vocoder (with discriminators when ``config.adversarial``); saves it to ``output_dir/vocoder``
    (``load_vocoder`` reads either family back). Returns ``{"step", "history", "vocoder"}``."""
    if config.part != "vocoder":
        raise ValueError(f"train_vocoder: config.part is {config.part!r}, expected 'vocoder'")
    torch.manual_seed(config.seed)
    vocoder_config = speech_configs(config.preset, vocoder_type=config.vocoder_type)["vocoder"]
    generator = build_vocoder(vocoder_config)
    betas = (0.8, 0.99)  # HiFi-GAN's (and Vocos')
    opt_g = torch.optim.AdamW(generator.parameters(), lr=config.learning_rate, betas=betas, weight_decay=0.01)
    if config.adversarial:
        discriminator = UASVocoderDiscriminator(vocoder_config)
        opt_d = torch.optim.AdamW(discriminator.parameters(), lr=config.learning_rate, betas=betas, weight_decay=0.01)
        step_fn = partial(_vocoder_step, max_grad_norm=config.max_grad_norm)
        (generator, _), step, history = _run(config, [generator, discriminator], [opt_g, opt_d], step_fn)
    else:
        step_fn = partial(_reconstruction_step, max_grad_norm=config.max_grad_norm)
        (generator,), step, history = _run(config, [generator], [opt_g], step_fn)
    output_dir = Path(config.output_dir)
    generator.save_pretrained(output_dir / "vocoder")
    (output_dir / "training_config.json").write_text(json.dumps(asdict(config), indent=2))
    return {"step": step, "history": history, "vocoder": generator.eval()}


def train_speech(config: SpeechTrainingConfig) -> dict:
    """Dispatch on ``config.part``."""
    return train_codec(config) if config.part == "codec" else train_vocoder(config)
