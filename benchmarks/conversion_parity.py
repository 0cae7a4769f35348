"""Conversion parity: UAS-Audio converted from a Qwen2-Audio / Qwen3-ASR checkpoint vs the source model itself.

For each source family a random checkpoint is built with transformers (seeded, small), saved, converted with
``uas_audio.modeling.convert_audio_llm`` and both models run in the same process on the same clips (noise and
tones, 0.3–2.9 s, lengths drawn per clip) and the same prompt. Columns: the largest |Δ logit| over every position of
every clip, with the source fed the converted processor's features padded as it needs (Qwen2-Audio: zeros to its
30 s window; Qwen3-ASR: zeros to whole 100-frame chunks); how many clips' greedy continuations (16 new tokens) are
identical; the logit scale (max |logit|) for reference. A last Qwen2-Audio row is the peer of the real-use path: the
source on its own processor's features (WhisperFeatureExtractor, audio padded with silence to 30 s, and as many
placeholders as its processor writes: it counts ``ceil(samples / 160)`` mel frames where ours counts
``samples // 160``) against the converted model on the converted processor's variable-length features; Qwen2-Audio's
convolutions read the 30 s padding at a clip's last frames, so this row differs by design and has no target (when the
placeholder counts differ, the next-token logits after the prompt are compared). Sources that do not convert are
listed with the reason. Sizes are tiny (random weights, no download): parity is a property of the computation, not
of the weights.

Usage: python benchmarks/conversion_parity.py [--clips N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import (
    Qwen2AudioConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen3ASRConfig,
    Qwen3ASRForConditionalGeneration,
    WhisperFeatureExtractor,
)
from transformers.utils import logging as hf_logging

from uas_audio.evaluation.result_lines import result_line
from uas_audio.modeling.conversion import UNSUPPORTED, convert_audio_llm
from uas_audio.processing import load_default_tokenizer

SR = 16_000
TARGET_DELTA = 1e-4
ENCODER = dict(d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=128, num_mel_bins=128)
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            tie_word_embeddings=True, initializer_range=0.2)


def _save_source(family: str, folder: Path):
    tokenizer = load_default_tokenizer()
    audio_token_id = tokenizer.convert_tokens_to_ids("<|audio|>")
    torch.manual_seed(0)
    if family == "qwen2_audio":
        config = Qwen2AudioConfig(audio_config=ENCODER, audio_token_index=audio_token_id,
                                  text_config={"model_type": "qwen2", "vocab_size": len(tokenizer), **TEXT})
        source = Qwen2AudioForConditionalGeneration(config)
    else:
        tokenizer.add_special_tokens({"additional_special_tokens": ["<|audio_start|>", "<|audio_end|>"]},
                                     replace_extra_special_tokens=False)
        config = Qwen3ASRConfig(
            audio_config={"model_type": "qwen3_asr_encoder", **ENCODER, "downsample_hidden_size": 32,
                          "output_dim": 64},
            text_config={"model_type": "qwen3", "vocab_size": len(tokenizer), "head_dim": 16, **TEXT},
            audio_token_id=audio_token_id, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        source = Qwen3ASRForConditionalGeneration(config)
    source.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return source


def _clips(num_clips: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(num_clips):
        n = int(rng.uniform(0.3, 2.9) * SR)
        t = np.arange(n) / SR
        clips.append((0.1 * np.sin(2 * np.pi * rng.uniform(100, 500) * t) + 0.03 * rng.standard_normal(n))
                     .astype(np.float32))
    return clips


def _source_inputs(family: str, inputs, features=None, mask=None) -> dict:
    features = inputs["input_features"] if features is None else features
    mask = inputs["input_features_mask"] if mask is None else mask
    target = 3000 if family == "qwen2_audio" else -(-features.shape[-1] // 100) * 100
    features = torch.nn.functional.pad(features, (0, target - features.shape[-1]))
    mask = torch.nn.functional.pad(mask, (0, target - mask.shape[-1]))
    key = "feature_attention_mask" if family == "qwen2_audio" else "input_features_mask"
    return {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "input_features": features,
            key: mask}


def _with_placeholders(inputs, model, whisper_mask) -> dict:
    """``inputs`` with the clip's placeholder run resized to what Qwen2-Audio's processor writes:
    WhisperFeatureExtractor marks ``ceil(samples / 160)`` frames (our extractor ``samples // 160``), so a clip may get one placeholder more."""
    ids = inputs["input_ids"][0].tolist()
    token = model.config.audio_token_id
    first, count = ids.index(token), ids.count(token)
    wanted = int(model.num_audio_tokens(whisper_mask.sum(-1))[0])
    ids = ids[:first] + [token] * wanted + ids[first + count:]
    return {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}


def measure(family: str, clips: list[np.ndarray], new_tokens: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        source = _save_source(family, Path(tmp) / "source")
        start = time.perf_counter()
        model, processor = convert_audio_llm(Path(tmp) / "source", Path(tmp) / "converted")
        convert_s = time.perf_counter() - start
    rows = {"exact": {"family": family, "inputs": "same features (zero-padded for the source)", "delta": 0.0,
                      "same_generation": 0, "scale": 0.0, "convert_s": convert_s}}
    if family == "qwen2_audio":
        rows["own"] = {"family": family, "inputs": "source's own WhisperFeatureExtractor (30 s silence padding)",
                       "delta": 0.0, "same_generation": 0, "scale": 0.0, "convert_s": convert_s}
        whisper = WhisperFeatureExtractor(feature_size=128)
    for clip in clips:
        conversation = [{"role": "user", "content": [{"type": "audio", "audio": clip},
                                                     {"type": "text", "text": "Describe the audio."}]}]
        inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                               return_dict=True, return_tensors="pt")
        with torch.no_grad():
            ours = model(**inputs).logits
            ours_gen = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False)
            runs = {"exact": _source_inputs(family, inputs)}
            if family == "qwen2_audio":
                own = whisper(clip, sampling_rate=SR, return_attention_mask=True, return_tensors="pt")
                runs["own"] = _source_inputs(family, _with_placeholders(inputs, model, own["attention_mask"]),
                                             own["input_features"], own["attention_mask"])
            for key, source_inputs in runs.items():
                theirs = source(**source_inputs).logits
                theirs_gen = source.generate(**source_inputs, max_new_tokens=new_tokens, do_sample=False)
                theirs_gen = theirs_gen[:, source_inputs["input_ids"].shape[1]:]
                row = rows[key]
                if theirs.shape == ours.shape:
                    row["delta"] = max(row["delta"], (ours - theirs).abs().max().item())
                else:  # one placeholder more or fewer: compare the next-token logits after the prompt
                    row["delta"] = max(row["delta"], (ours[:, -1] - theirs[:, -1]).abs().max().item())
                ours_new = ours_gen[:, inputs["input_ids"].shape[1]:]
                row["scale"] = max(row["scale"], theirs.abs().max().item())
                row["same_generation"] += int(torch.equal(ours_new, theirs_gen))
    return list(rows.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12, help="clips per source family")
    parser.add_argument("--new-tokens", type=int, default=16, help="greedy tokens generated per clip")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clips")
    parser.add_argument("--quick", action="store_true", help="1 clip, 4 new tokens: runs in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.new_tokens = 1, 4
    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)
    clips = _clips(args.clips, args.seed)

    results = [row for family in ("qwen2_audio", "qwen3_asr") for row in measure(family, clips, args.new_tokens)]
    print(f"{args.clips} clips (0.3-2.9 s), greedy {args.new_tokens} new tokens, "
          "random tiny sources (d=64, 2+2 layers)")
    print(f"{'source':<14} {'converts':<9} {'source inputs':<58} {'max |dlogit|':>12} {'same greedy':>11} "
          f"{'max |logit|':>11} {'convert s':>9}")
    for row in results:
        print(f"{row['family']:<14} {'yes':<9} {row['inputs']:<58} {row['delta']:12.3g} "
              f"{row['same_generation']:>5}/{args.clips:<5} {row['scale']:11.1f} {row['convert_s']:9.2f}")
    for name, reason in UNSUPPORTED.items():
        print(f"{name:<14} {'no':<9} {reason}")
    for row in results:
        if row["inputs"].startswith("same features"):
            print(result_line(f"conversion_max_abs_dlogit_{row['family']}", row["delta"], "logits", "<", TARGET_DELTA,
                              digits=3, style="g"))


if __name__ == "__main__":
    main()
