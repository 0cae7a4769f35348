"""Build the embedded base components: ``python -m uas_audio.base_components.build``.

Two small pretrainings on one CPU thread, each a few minutes, fully seeded (same seed, same weights on the same
torch build):

**Language model** (the tiny Qwen2 of ``uas_audio.tiny``): next-token prediction over every token of generated
text, packed into blocks of ``lm_block`` tokens: English sentences from the tokenizer's grammar, and chat turns in
the task formats (the holistic, ASR, caption and TTS prompts, UAS-QA questions) whose answers are drawn at
random — UAS records with uniformly drawn values, QA asked about such records — so the model learns English, JSON
and the turn formats, and no audio and no label distribution of any corpus (the values are uniform). This plays
the pretrained instruction-following LLM the paper starts from.

**Audio encoder** (the tiny Whisper-style encoder): self-supervised on ``encoder_clips`` synthetic clips of seed
``encoder_corpus_seed`` (1000: the quickstart and the ablation synthesize seed 0, and clip ids carry the seed,
so no evaluation clip is among them; their labels are never read). Each step takes two random crops of each of
``encoder_batch`` clips and minimizes, with equal weights,

- *masked reconstruction*: spans of log-mel frames are zeroed in the input and a linear head predicts them from
  the encoder's output (the masked-acoustic-model objective of Mockingjay / wav2vec-style pretraining, with the
  mel frames themselves as targets);
- *clip contrast*: every group of ``stack_factor`` output frames (one audio token after the projector) must pick
  out the other crop of its own clip among the batch's crops (InfoNCE, temperature ``temperature``), the
  COLA / BYOL-A idea: what two stretches of one recording share — the voice, the recording, the background — is
  what the features keep, in every token;
- *prosody* (``--prosody-weight``, 1 for the shipped file): from each frame, YIN's log-F0 (voiced frames), voicing
  and aperiodicity, and from each audio token its crop's mean voiced log-F0 and voiced fraction: measurements of the
  signal by the package's own DSP (``uas_audio.annotate.experts.pitch.yin_track``), the "prosody worker" of PASE
  (Pascual et al. 2019), so the tokens carry the voice's pitch level and voicing that the paralinguistic fields are
  heard from. Its effect on the perception ablation is measured in docs/training.md.

After training, the encoder's output is standardized (``standardize_output``): each dimension's mean and standard
deviation over every frame of the pretraining clips are folded into its final LayerNorm, an exact rewrite of that
layer, so the projector trained on top in stage 2 and 3 starts from features of mean 0 and variance 1 (measured in
docs/training.md).

No perception label enters either pretraining. ``base.json`` records the data, objectives, steps, seeds, losses
and, as a measurement only (never a training signal), how well a logistic probe on the pooled encoder output
tells gender and age apart on a third set of synthetic clips (seed ``probe_corpus_seed``), against the same probe
on the random encoder.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import BASE_DIR, ENCODER_FILE, LANGUAGE_MODEL_FILE, PROVENANCE_FILE


@dataclass
class BuildConfig:
    """Sizes, steps and seeds of the build; the defaults made the shipped files."""

    seed: int = 0
    lm_steps: int = 3000  # 1000: the LM of 2026-12-04 (it guessed the targeted prompt's JSON keys)
    lm_batch: int = 8
    lm_block: int = 256
    lm_learning_rate: float = 3e-3
    lm_targeted: bool = True  # False: the first shipped LM (no targeted-format turns)
    lm_rule_phrasing: float = 0.5  # share of records worded as the rule synthesis words them (0: the first LM)
    lm_context_reading: float = 0.5  # share of records also asked about with their description in the audio slot
    encoder_corpus_seed: int = 1000
    encoder_clips: int = 1200
    encoder_steps: int = 2400  # 1200: the first encoder
    encoder_batch: int = 32
    crop_frames: int = 200
    mask_span: int = 10
    mask_fraction: float = 0.3
    temperature: float = 0.1
    prosody_weight: float = 1.0  # 0: the first encoder (reconstruction + contrast only)
    prosody_reject_overtones: bool = True  # False: the encoders before 2026-12-05 (background tones read as F0)
    standardize_output: bool = True  # False: the encoders before 2026-12-04's (output not standardized)
    encoder_learning_rate: float = 2e-3
    stack_factor: int = 4
    probe_corpus_seed: int = 2000
    probe_clips: int = 300


# --- language model -------------------------------------------------------------------------------------------


def _chat(user: str, answer: str) -> str:
    from ..processing.chatml import IM_END

    return f"<|im_start|>user\n{user}{IM_END}\n<|im_start|>assistant\n{answer}{IM_END}\n"


#: The words the rule synthesis (``uas_audio.annotate.synthesize.RuleSynthesizer``) writes its records in: prosody
#: "<pace> pace, <level> pitch, <range> intonation", timbre "<tone>, <clarity> voice", discrete events "<brightness>
#: <kind> sound, <repeats>, <hits> at <times> s", continuous events with their fixed characteristics. The language
#: model learns the phrases with uniformly drawn words (which word a clip gets is what listening decides).
RULE_PHRASES = {
    "pace": ("slow", "moderate", "fast"), "level": ("low", "medium", "high"), "range": ("narrow", "moderate", "wide"),
    "tone": ("warm, dark", "balanced", "bright"), "clarity": ("clear", "slightly muffled", "noisy"),
    "discrete": ("beep", "chime", "door slam", "knock", "click", "clap"), "brightness": ("sharp", "dull", "crisp"),
    "kind": ("tonal", "percussive"), "continuous": ("mains hum", "music", "hiss", "rumble", "rain"),
    "hiss": ("white", "pink", "brown"),
}


def _rule_phrased(rng: random.Random, record: dict) -> dict:
    """``record`` reworded in the rule synthesis's phrases (:data:`RULE_PHRASES`), every word drawn uniformly;
    the description is the rule synthesis's own sentence for the drawn events."""
    from .. import schema
    from ..annotate.synthesize import RuleSynthesizer

    w = RULE_PHRASES
    para = record[schema.PARALINGUISTICS]
    if para["prosody"] is not None:
        para["prosody"] = (f"{rng.choice(w['pace'])} pace, {rng.choice(w['level'])} pitch, "
                           f"{rng.choice(w['range'])} intonation")
        para["timbre"] = f"{rng.choice(w['tone'])}, {rng.choice(w['clarity'])} voice"
        if rng.random() < 0.5:  # the rules leave the accent null without an accent classifier
            para["accent"] = None
    label_key, characteristic_key = schema.SOUND_EVENT_KEYS
    discrete = []
    for label in rng.sample(w["discrete"], rng.choice((0, 0, 1, 1, 2))):
        repeats, hits = rng.choice((1, 1, 2, 3)), rng.choice((1, 1, 1, 2))
        times = ", ".join(f"{t:.1f}" for t in sorted(rng.uniform(0.1, 4.0) for _ in range(hits)))
        discrete.append({label_key: label, characteristic_key:
                         f"{rng.choice(w['brightness'])} {rng.choice(w['kind'])} sound, "
                         + ("once" if repeats == 1 else f"{repeats} times in a row") + ", "
                         + ("once" if hits == 1 else f"{hits} times") + f" at {times} s"})
    continuous = []
    for label in rng.sample(w["continuous"], rng.choice((0, 1, 1, 2))):
        characteristic = {"mains hum": f"steady {rng.choice((50, 60))} Hz electrical hum with harmonics",
                          "music": "sustained tonal sound", "hiss": f"steady {rng.choice(w['hiss'])}-noise hiss",
                          "rumble": "low-frequency rumble"}.get(label, f"steady background at {-rng.randint(20, 70)} dBFS")
        continuous.append({label_key: label, characteristic_key: characteristic})
    description, discrete_key, continuous_key = schema.EVENT_KEYS
    record[schema.NON_LINGUISTIC_EVENTS] = {
        description: RuleSynthesizer._description(record[schema.TRANSCRIPTION] is not None, para["gender"], discrete,
                                                  continuous),
        discrete_key: discrete, continuous_key: continuous}
    return record


def _context_text(record: dict) -> str:
    """What a listener would say of the clip, in words: the spoken words, the caption (scene, speaker traits) and
    each sound event with its characteristic. It fills the audio slot of a context-reading turn."""
    from .. import schema
    from ..trainers.tasks import caption_text

    parts = [f'The speaker says: "{record[schema.TRANSCRIPTION]}"'] if record[schema.TRANSCRIPTION] else []
    parts.append(caption_text(record))
    label_key, characteristic_key = schema.SOUND_EVENT_KEYS
    _, discrete_key, continuous_key = schema.EVENT_KEYS
    for key, name in ((discrete_key, "Sounds"), (continuous_key, "Background")):
        events = record[schema.NON_LINGUISTIC_EVENTS][key]
        if events:
            parts.append(f"{name}: " + "; ".join(f"{e[label_key]} ({e[characteristic_key]})" for e in events) + ".")
    return " ".join(parts)


def _targeted_paths(rng: random.Random) -> list[str]:
    """1-3 targeted fields (one half the time), drawn from ``TARGETED_PATHS``, in schema order."""
    from .. import schema
    from ..trainers.tasks import TARGETED_PATHS

    chosen = set(rng.sample(TARGETED_PATHS, rng.choice((1, 1, 2, 3))))
    return [p for p in schema.FIELD_PATHS if p in chosen]


def lm_texts(seed: int, targeted: bool = True, rule_phrasing: float = 0.0, context_reading: float = 0.0):
    """Endless generated training text: sentences and task-format chat turns with randomly drawn answers.
    ``targeted`` adds, per record, one targeted turn (the targeted prompt of 1-3 fields, one field half the time,
    answered with the JSON of those fields only), the format stage 2's one-field rows and the targeted readout
    use; ``rule_phrasing`` is the share of records worded in the rule synthesis's phrases (:func:`_rule_phrased`);
    ``context_reading`` the share of records asked about once more (a targeted prompt of 1-3 fields, or the holistic
    prompt one time in four) with the record in words (:func:`_context_text`) between ``<|audio_bos|>`` and
    ``<|audio_eos|>`` where a clip's audio goes: the language model learns to answer from what the audio slot holds,
    the reading a pretrained LLM brings to the paper's stage 2."""
    from .. import schema
    from ..processing.build_tokenizer import _sentence, _uas_record
    from ..qa import QAGenerator
    from ..processing.chatml import AUDIO_BOS, AUDIO_EOS
    from ..trainers.tasks import caption_text, compact_uas_json, targeted_json

    rng = random.Random(seed)
    qa = QAGenerator(seed=seed)
    while True:
        records = []
        for _ in range(64):
            record = _uas_record(rng)
            if rule_phrasing and rng.random() < rule_phrasing:
                record = _rule_phrased(rng, record)
            try:
                compact = compact_uas_json(record)
            except Exception:  # a generated value the schema refuses: skip the record
                continue
            records.append((record, compact))
        rows, _ = qa.generate([{"id": f"text-{rng.randrange(10**9)}", "uas": json.loads(c), "audio": None}
                               for _, c in records])
        for record, compact in records:
            yield _chat(schema.HOLISTIC_PROMPT, compact)
            if record[schema.TRANSCRIPTION]:
                yield _chat(schema.ASR_PROMPT, record[schema.TRANSCRIPTION])
                yield _chat(schema.tts_prompt(record[schema.TRANSCRIPTION]), "")
            parsed = json.loads(compact)
            yield _chat(schema.CAPTION_PROMPT, caption_text(parsed))
            if targeted:
                paths = _targeted_paths(rng)
                yield _chat(schema.targeted_prompt(paths), targeted_json(parsed, paths))
            if context_reading and rng.random() < context_reading:
                slot = f"{AUDIO_BOS}{_context_text(parsed)}{AUDIO_EOS}"
                if rng.random() < 0.25:
                    yield _chat(slot + schema.HOLISTIC_PROMPT, compact)
                else:
                    paths = _targeted_paths(rng)
                    yield _chat(slot + schema.targeted_prompt(paths), targeted_json(parsed, paths))
            yield " ".join(_sentence(rng) for _ in range(rng.randint(1, 4))) + "\n"
        for row in rows:
            user = "".join(p["text"] for p in row["messages"][0]["content"] if p["type"] == "text")
            answer = "".join(p["text"] for p in row["messages"][1]["content"] if p["type"] == "text")
            yield _chat(user, answer)


def build_language_model(config: BuildConfig, out: Path, log=print) -> dict:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    from ..processing import load_default_tokenizer
    from ..tiny import tiny_config

    tokenizer = load_default_tokenizer()
    text_config = tiny_config().get_text_config()
    torch.manual_seed(config.seed)
    model = AutoModelForCausalLM.from_config(text_config)
    model.train()
    texts = lm_texts(config.seed, config.lm_targeted, config.lm_rule_phrasing, config.lm_context_reading)
    buffer: list[int] = []

    def batch():
        rows = []
        while len(rows) < config.lm_batch:
            while len(buffer) < config.lm_block:
                buffer.extend(tokenizer(next(texts), add_special_tokens=False)["input_ids"])
            rows.append(buffer[: config.lm_block])
            del buffer[: config.lm_block]
        return torch.tensor(rows)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lm_learning_rate, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    schedule = _cosine(optimizer, config.lm_steps)
    losses, start = [], time.perf_counter()
    for step in range(config.lm_steps):
        ids = batch()
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == config.lm_steps - 1:
            log(f"[language model] step {step}: loss {loss:.3f}")
    held = [float(model(input_ids=(ids := batch()), labels=ids).loss.detach()) for _ in range(8)]
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    state.pop("model.rotary_emb.inv_freq", None)
    state = {(k[len("model."):] if k.startswith("model.") else k): v for k, v in state.items()}
    save_file(state, str(out / LANGUAGE_MODEL_FILE), metadata={"format": "pt"})
    return {"objective": "next-token prediction on every token", "steps": config.lm_steps,
            "batch": f"{config.lm_batch} blocks of {config.lm_block} tokens", "learning_rate": config.lm_learning_rate,
            "data": "generated text (uas_audio.base_components.build.lm_texts, seed "
                    f"{config.seed}): English sentences of the tokenizer's grammar; chat turns with the holistic, "
                    "ASR, caption and TTS prompts and UAS-QA questions"
                    + (", and the targeted prompt of 1-3 fields answered with those fields' JSON"
                       if config.lm_targeted else "")
                    + ", answered from UAS records whose values are drawn uniformly at random (no audio, no corpus "
                    "labels)"
                    + (f"; {config.lm_rule_phrasing:.0%} of the records worded in the rule synthesis's phrases "
                       "(RULE_PHRASES), their words drawn uniformly too" if config.lm_rule_phrasing else "")
                    + (f"; {config.lm_context_reading:.0%} of the records asked about again with the record in words "
                       "between <|audio_bos|> and <|audio_eos|> (context reading)" if config.lm_context_reading else ""),
            "loss_first_100": round(sum(losses[:100]) / len(losses[:100]), 3),
            "loss_last_100": round(sum(losses[-100:]) / len(losses[-100:]), 3),
            "loss_fresh_text": round(sum(held) / len(held), 3),
            "seconds": round(time.perf_counter() - start, 1)}


# --- audio encoder --------------------------------------------------------------------------------------------


def _cosine(optimizer, steps: int, warmup: int | None = None):
    import torch

    warmup = warmup or max(1, steps // 20)

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _mels(ds, prosody: bool = False, reject_overtones: bool = True):
    """Log-mel features of each clip, (num_mel_bins, T) tensors, with the package's feature extractor; with
    ``prosody``, also (3, T) signal measurements per mel frame (see :func:`_prosody_track`)."""
    from ..audio import load_audio
    from ..processing import load_default_processor

    extractor = load_default_processor().feature_extractor
    mels, tracks = [], []
    for row in ds.select_columns(["audio"]):
        wave = load_audio(row["audio"])
        out = extractor([wave], sampling_rate=16_000, return_tensors="pt")
        n = int(out["input_features_mask"][0].sum())
        mels.append(out["input_features"][0, :, :n])
        if prosody:
            tracks.append(_prosody_track(wave, n, reject_overtones))
    return (mels, tracks) if prosody else mels


def _normalised_log_f0(hz):
    """The prosody track's F0 scale: natural log of F0 around 160 Hz, in steps of 0.5 (about 0.72 octave)."""
    import numpy as np

    return (np.log(hz) - np.log(160.0)) / 0.5


def _prosody_track(wave, frames: int, reject_overtones: bool = True):
    """(3, frames): normalised log-F0 (0 where unvoiced), voicing (0/1) and aperiodicity per 10 ms frame, from the
    package's YIN (``uas_audio.annotate.experts.pitch.yin_track``): measurements of the signal, not labels (the
    "prosody worker" targets of PASE, Pascual et al. 2019).

    With ``reject_overtones`` (the default since 2026-12-05) frames holding a tone above the voice range count as
    unvoiced, as the package's gender and age experts read pitch (``clip_voice_f0``): without it YIN tracks the
    corpus's beeps, alarms and music as the voice's F0 (on the ablation benchmark's 51 held-out speech clips, 7 of
    the 31 men's got a median F0 of 222-392 Hz, a woman's or a child's, the whispering man's clip among them,
    "voiced" in half its frames), and the encoder learned that error."""
    import numpy as np
    import torch

    from ..annotate.experts.pitch import yin_track

    f0, aperiodicity = yin_track(np.asarray(wave, dtype=np.float32), 16_000, reject_overtones=reject_overtones)
    track = np.zeros((3, frames), dtype=np.float32)
    m = min(frames, len(f0))
    voiced = np.isfinite(f0[:m])
    track[0, :m] = np.where(voiced, _normalised_log_f0(np.where(voiced, f0[:m], 1.0)), 0.0)
    track[1, :m] = voiced
    track[2, :m] = np.clip(np.nan_to_num(aperiodicity[:m], nan=1.0), 0.0, 1.0)
    return torch.from_numpy(track)


def _crops(mels, tracks, indices, length: int, rng: random.Random):
    """Two random crops (at most ``length`` frames) of each clip: features (2B, M, L), prosody tracks (2B, 3, L)
    and lengths (2B,)."""
    import torch

    views = []
    for _ in range(2):
        for i in indices:
            mel = mels[i]
            n = min(length, mel.shape[1])
            start = rng.randrange(mel.shape[1] - n + 1)
            views.append((mel[:, start: start + n], tracks[i][:, start: start + n]))
    longest = max(v.shape[1] for v, _ in views)
    feats = torch.zeros(len(views), views[0][0].shape[0], longest)
    prosody = torch.zeros(len(views), 3, longest)
    for k, (v, t) in enumerate(views):
        feats[k, :, : v.shape[1]] = v
        prosody[k, :, : t.shape[1]] = t
    return feats, prosody, torch.tensor([v.shape[1] for v, _ in views])


class _EncoderPretrainer:
    """The encoder plus the two training heads (dropped after the build)."""

    def __init__(self, config: BuildConfig):
        import torch
        from torch import nn

        from ..modeling.modeling_uas_audio import UASAudioEncoder
        from ..tiny import tiny_config

        audio_config = tiny_config().audio_config
        torch.manual_seed(config.seed)
        self.encoder = UASAudioEncoder(audio_config)
        dim = audio_config.hidden_size
        self.mels_per_frame = 2  # the encoder's second convolution halves the frame rate
        self.reconstruct = nn.Linear(dim, self.mels_per_frame * audio_config.num_mel_bins)
        self.project = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.prosody = nn.Linear(dim, self.mels_per_frame * 3)  # per mel frame: log-F0, voicing, aperiodicity
        self.voice = nn.Linear(dim, 2)  # per audio token: the crop's mean voiced log-F0 and voiced fraction
        self.config = config

    def parameters(self):
        return [*self.encoder.parameters(), *self.reconstruct.parameters(), *self.project.parameters(),
                *self.prosody.parameters(), *self.voice.parameters()]

    def loss(self, feats, prosody, lengths, rng: random.Random):
        import torch
        import torch.nn.functional as F

        c = self.config
        batch, bins, total = feats.shape
        frame_mask = torch.arange(total)[None, :] < lengths[:, None]
        masked = torch.zeros(batch, total, dtype=torch.bool)
        for b in range(batch):
            n = int(lengths[b])
            for _ in range(max(1, int(c.mask_fraction * n / c.mask_span))):
                start = rng.randrange(max(1, n - c.mask_span))
                masked[b, start: start + c.mask_span] = True
        masked &= frame_mask
        inputs = feats.masked_fill(masked[:, None, :], 0.0)
        out = self.encoder(inputs, frame_mask.long())
        hidden = out.last_hidden_state  # (2B, E, d)
        frames = hidden.shape[1]

        # masked reconstruction: each output frame predicts its two mel frames
        pred = self.reconstruct(hidden).view(batch, frames, self.mels_per_frame, bins)
        pred = pred.reshape(batch, frames * self.mels_per_frame, bins)[:, :total]
        target = feats.transpose(1, 2)[:, : pred.shape[1]]
        where = masked[:, : pred.shape[1]]
        recon = F.smooth_l1_loss(pred[where], target[where])

        # prosody: per mel frame, YIN's log-F0 (voiced frames only), voicing and aperiodicity
        track = prosody.transpose(1, 2)[:, : pred.shape[1]]  # (2B, T, 3)
        guess = self.prosody(hidden).view(batch, frames * self.mels_per_frame, 3)[:, : track.shape[1]]
        real = frame_mask[:, : track.shape[1]]
        voiced = real & (track[..., 1] > 0.5)
        frame_terms = (F.smooth_l1_loss(guess[..., 0][voiced], track[..., 0][voiced]) if voiced.any() else 0.0) \
            + F.binary_cross_entropy_with_logits(guess[..., 1][real], track[..., 1][real]) \
            + F.smooth_l1_loss(guess[..., 2][real], track[..., 2][real])

        # clip contrast: every stacked group of output frames against the pooled other crop of every clip
        valid = torch.arange(frames)[None, :] < out.output_lengths[:, None]
        pooled = (hidden * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
        keys = F.normalize(self.project(pooled), dim=-1)  # (2B, d)
        k = c.stack_factor
        groups = math.ceil(frames / k)
        padded = F.pad(hidden * valid[..., None], (0, 0, 0, groups * k - frames))
        counts = F.pad(valid.float(), (0, groups * k - frames)).view(batch, groups, k).sum(-1)
        tokens = padded.view(batch, groups, k, -1).sum(2) / counts.clamp(min=1)[..., None]
        queries = F.normalize(self.project(tokens), dim=-1)  # (2B, G, d)
        # every token also states its crop's voice: mean voiced log-F0 and voiced fraction (prosody of the whole)
        n_voiced = voiced.sum(1)
        crop_f0 = (track[..., 0] * voiced).sum(1) / n_voiced.clamp(min=1)
        crop_voicing = n_voiced / real.sum(1).clamp(min=1)
        voice = self.voice(tokens)  # (2B, G, 2)
        has_f0 = (n_voiced > 0)[:, None].expand(batch, groups)
        ok = counts > 0
        voice_terms = F.smooth_l1_loss(voice[..., 1][ok], crop_voicing[:, None].expand(batch, groups)[ok])
        if (ok & has_f0).any():
            voice_terms = voice_terms + F.smooth_l1_loss(voice[..., 0][ok & has_f0],
                                                         crop_f0[:, None].expand(batch, groups)[ok & has_f0])
        half = batch // 2
        partner = torch.cat([torch.arange(half, batch), torch.arange(0, half)])
        logits = torch.einsum("bgd,nd->bgn", queries, keys) / c.temperature
        # a crop's own pooled key is excluded: the positive is the other crop of the same clip
        logits = logits.masked_fill(torch.eye(batch, dtype=torch.bool)[:, None, :], float("-inf"))
        token_ok = counts > 0
        target_idx = partner[:, None].expand(batch, groups)
        contrast = F.cross_entropy(logits[token_ok], target_idx[token_ok])
        return recon, contrast, frame_terms + voice_terms


def _pooled(encoder, mels):
    import torch

    out = []
    with torch.no_grad():
        for mel in mels:
            hidden = encoder(mel[None]).last_hidden_state[0]
            out.append(hidden.mean(0))
    return torch.stack(out)


def _probe(features_train, y_train, features_test, y_test) -> float:
    """Held-out accuracy of a logistic probe (a measurement only)."""
    import torch

    classes = sorted(set(y_train))
    to_idx = {c: i for i, c in enumerate(classes)}
    keep = [i for i, y in enumerate(y_test) if y in to_idx]
    x = features_train
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    xt = (features_test[keep] - mean) / std
    y = torch.tensor([to_idx[v] for v in y_train])
    yt = torch.tensor([to_idx[y_test[i]] for i in keep])
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], len(classes))
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + 1e-3 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float((linear(xt).argmax(-1) == yt).float().mean())


def _standardize_output(encoder, mels) -> dict:
    """Fold the per-dimension mean and standard deviation of the encoder's output over ``mels`` (every valid frame
    of the pretraining clips) into its final LayerNorm, so each output dimension has mean 0 and variance 1 there:
    ``w' = w / std``, ``b' = (b - mean) / std``; an exact rewrite of the same layer, no new parameter. Features
    standardized per dimension are what a downstream head learns fastest from (the usual step before probing
    or fine-tuning on frozen self-supervised features); measured in docs/training.md. Returns the statistics'
    ranges for the provenance."""
    import torch

    dim = encoder.layer_norm.weight.shape[0]
    total, squares, count = torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64), 0
    with torch.no_grad():
        for mel in mels:
            hidden = encoder(mel[None]).last_hidden_state[0].double()
            total += hidden.sum(0)
            squares += (hidden * hidden).sum(0)
            count += hidden.shape[0]
        mean = total / count
        std = (squares / count - mean ** 2).clamp(min=1e-12).sqrt()
        weight, bias = encoder.layer_norm.weight.double(), encoder.layer_norm.bias.double()
        encoder.layer_norm.weight.copy_((weight / std).float())
        encoder.layer_norm.bias.copy_(((bias - mean) / std).float())
    return {"frames": count, "mean_range": [round(mean.min().item(), 3), round(mean.max().item(), 3)],
            "std_range": [round(std.min().item(), 3), round(std.max().item(), 3)]}


def _labels(ds, key: str) -> list:
    return [r["paralinguistics"][key] if r["transcription"] is not None else None for r in ds["uas"]]


def build_audio_encoder(config: BuildConfig, out: Path, work: Path, log=print) -> dict:
    import torch
    from safetensors.torch import save_file

    from ..synth import synthesize_corpus

    corpus = synthesize_corpus(work / "encoder-corpus", config.encoder_clips, seed=config.encoder_corpus_seed)
    probe_corpus = synthesize_corpus(work / "probe-corpus", config.probe_clips, seed=config.probe_corpus_seed)
    assert not set(corpus["id"]) & set(probe_corpus["id"])
    if config.prosody_weight:
        mels, tracks = _mels(corpus, prosody=True, reject_overtones=config.prosody_reject_overtones)
    else:
        mels = _mels(corpus)
        tracks = [mel.new_zeros(3, mel.shape[1]) for mel in mels]
    probe_mels = _mels(probe_corpus)
    trainer = _EncoderPretrainer(config)
    probe_before = _probe_scores(trainer.encoder, probe_mels, probe_corpus)
    optimizer = torch.optim.AdamW(trainer.parameters(), lr=config.encoder_learning_rate, betas=(0.9, 0.98),
                                  weight_decay=0.05)
    schedule = _cosine(optimizer, config.encoder_steps)
    rng = random.Random(config.seed)
    history, start = [], time.perf_counter()
    trainer.encoder.train()
    for step in range(config.encoder_steps):
        indices = rng.sample(range(len(mels)), config.encoder_batch)
        feats, prosody, lengths = _crops(mels, tracks, indices, config.crop_frames, rng)
        recon, contrast, prosodic = trainer.loss(feats, prosody, lengths, rng)
        loss = recon + contrast + (config.prosody_weight * prosodic if config.prosody_weight else 0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history.append((recon.item(), contrast.item(), float(prosodic)))
        if step % 100 == 0 or step == config.encoder_steps - 1:
            log(f"[audio encoder] step {step}: reconstruction {recon:.3f} contrast {contrast:.3f} "
                f"prosody {float(prosodic):.3f}")
    trainer.encoder.eval()
    output_stats = _standardize_output(trainer.encoder, mels) if config.standardize_output else None
    probe_after = _probe_scores(trainer.encoder, probe_mels, probe_corpus)
    state = {k: v.detach().contiguous().clone() for k, v in trainer.encoder.state_dict().items()}
    save_file(state, str(out / ENCODER_FILE), metadata={"format": "pt"})

    def mean(values):
        return round(sum(values) / len(values), 3)

    first, last = history[:100], history[-100:]
    objective = ("masked log-mel reconstruction (smooth L1 on masked frames) + clip contrast (InfoNCE of each audio "
                 "token against the other crop of its clip)")
    if config.prosody_weight:
        objective += (f" + {config.prosody_weight:g} x prosody (YIN log-F0, voicing and aperiodicity per frame"
                      + (", a frame holding a tone above the voice range unvoiced" if config.prosody_reject_overtones
                         else "") + "; the crop's mean voiced log-F0 and voiced fraction per token)")
    return {"objective": objective,
            "data": f"{len(corpus)} synthetic clips of uas_audio.synth seed {config.encoder_corpus_seed} "
                    f"({sum(corpus['duration_s']) / 60:.1f} min; labels never read)",
            "steps": config.encoder_steps, "batch": f"2 crops of <= {config.crop_frames} mel frames from each of "
                                                    f"{config.encoder_batch} clips",
            "learning_rate": config.encoder_learning_rate,
            "reconstruction_first_100": mean([h[0] for h in first]), "reconstruction_last_100": mean([h[0] for h in last]),
            "contrast_first_100": mean([h[1] for h in first]), "contrast_last_100": mean([h[1] for h in last]),
            **({"prosody_first_100": mean([h[2] for h in first]), "prosody_last_100": mean([h[2] for h in last])}
               if config.prosody_weight else {}),
            "contrast_chance": round(math.log(2 * config.encoder_batch - 1), 3),
            "probe": {"data": f"{len(probe_corpus)} synthetic clips of seed {config.probe_corpus_seed}, speech clips "
                              "split in halves; logistic probe on the mean-pooled encoder output (measurement only)",
                      "random_encoder": probe_before, "pretrained_encoder": probe_after},
            **({"output_standardized": {"how": "per-dimension mean and std of the output over every frame of the "
                                               "pretraining clips, folded into the final LayerNorm", **output_stats}}
               if output_stats else {}),
            "seconds": round(time.perf_counter() - start, 1)}


def _probe_scores(encoder, mels, ds) -> dict:
    feats = _pooled(encoder, mels)
    scores = {}
    for key in ("gender", "age", "emotion"):
        labels = _labels(ds, key)
        idx = [i for i, y in enumerate(labels) if y is not None]
        half = len(idx) // 2
        tr, te = idx[:half], idx[half:]
        scores[key] = round(_probe(feats[tr], [labels[i] for i in tr], feats[te], [labels[i] for i in te]), 3)
    return scores


def build(config: BuildConfig, out: str | Path = BASE_DIR, work: str | Path | None = None, parts=("lm", "encoder"),
          log=print) -> dict:
    """Pretrain the chosen parts and write them (and ``base.json``) to ``out``."""
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    provenance_path = out / PROVENANCE_FILE
    provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
    try:
        with tempfile.TemporaryDirectory(prefix="uas-base-") as tmp:
            if "lm" in parts:
                provenance["language_model"] = build_language_model(config, out, log)
            if "encoder" in parts:
                provenance["audio_encoder"] = build_audio_encoder(config, out, Path(work or tmp), log)
    finally:
        torch.set_num_threads(threads)
    provenance["build"] = {"command": "python -m uas_audio.base_components.build", "config": asdict(config),
                           "torch": torch.__version__}
    provenance_path.write_text(json.dumps(provenance, indent=1) + "\n")
    return provenance


def _flag(text: str) -> bool:
    """A boolean option's value: true/false (also yes/no, 1/0); anything else is refused, not read as false."""
    value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(BASE_DIR), help="folder for the safetensors and base.json")
    parser.add_argument("--parts", nargs="+", choices=("lm", "encoder"), default=["lm", "encoder"])
    parser.add_argument("--work", default=None, help="folder for the synthetic pretraining clips (default: temporary)")
    for field, value in asdict(BuildConfig()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=_flag if isinstance(value, bool) else type(value),
                            default=value)
    args = parser.parse_args(argv)
    config = BuildConfig(**{f: getattr(args, f) for f in asdict(BuildConfig())})
    provenance = build(config, args.out, args.work, tuple(args.parts))
    print(json.dumps({k: v for k, v in provenance.items() if k != "build"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
