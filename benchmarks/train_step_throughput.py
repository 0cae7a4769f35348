"""Training-step throughput: UAS-Audio vs transformers' Qwen2AudioForConditionalGeneration.

Two more rows run UAS-Audio with the other encoder families at equal size (same width, depth, heads and feed-forward
width; AuT's convolution stack has ``d_model / 2`` channels): Qwen2-Audio's encoder (``qwen2_audio``) and AuT
(``aut``, transformers' Qwen3-ASR encoder). Projector stacking is chosen so every UAS-Audio row gives 12.5 audio
tokens per second (Whisper 50 Hz / 4, Qwen2-Audio's pooled 25 Hz / 2, AuT 12.5 Hz / 1).

Both models get the same Qwen2 LLM config and a Whisper-style encoder of the same width and depth (Qwen2-Audio's
projector is one Linear from each pooled frame; UAS-Audio's stacks 4 frames first), and train on the same seeded
batches of 3–8 s clips with the same text: a forward with the causal-LM loss and a backward per step (no optimizer
step). UAS-Audio's batch is as long as its longest clip; Qwen2-Audio gets what its processor produces: every clip
padded to 30 s (3000 mel frames) with the real lengths in ``feature_attention_mask``.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` over the step minus what was allocated before it; on
CPU, the peak resident set size over the timed steps minus the resident size before them, each model measured in
its own forked process so neither inherits the other's freed pages.

Usage: python benchmarks/train_step_throughput.py [--size tiny|small|base] [--batch-size B] [--steps N]
       [--threads T] [--quick]
"""

import argparse
import multiprocessing
import resource
import time
from dataclasses import dataclass

import torch
from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration
from transformers.utils import logging as hf_logging

from uas_audio.audio import frames
from uas_audio.evaluation.result_lines import result_line
from uas_audio.modeling import UASAudioConfig, UASAudioForConditionalGeneration

TARGET_SPEEDUP = 3.0
VOCAB_SIZE = 4000
AUDIO_TOKEN_ID = 3
PROMPT_TOKENS, RESPONSE_TOKENS = 24, 48
QWEN2_AUDIO_FRAMES = 3000  # Qwen2-Audio's processor pads every clip to 30 s

# Encoder sizes follow Whisper tiny / base; the LLM is a Qwen2 of the same width.
SIZES = {
    "tiny": {"d_model": 64, "layers": 2, "heads": 4, "ffn": 128, "llm_layers": 2},
    "small": {"d_model": 384, "layers": 4, "heads": 6, "ffn": 1536, "llm_layers": 4},
    "base": {"d_model": 512, "layers": 6, "heads": 8, "ffn": 2048, "llm_layers": 6},
}


#: UAS-Audio rows: kind -> (row name, audio_config overrides, projector stack factor, family, window frames)
UAS_ROWS = {
    "uas_audio": ("UAS-Audio", {}, 4, "whisper", 3000),
    "uas_audio_qwen2_audio": (
        "UAS-Audio/Qwen2-Audio enc", {"model_type": "qwen2_audio_encoder"}, 2, "qwen2_audio", 3000
    ),
    "uas_audio_aut": ("UAS-Audio/AuT enc", {"model_type": "qwen3_asr_encoder"}, 1, "aut", 100),
}


@dataclass
class Measurement:
    name: str
    parameters: int
    samples_per_s: float
    seconds_per_step: float
    peak_memory_mb: float
    audio_tokens: int


def _text_config(size: dict) -> dict:
    return {
        "model_type": "qwen2", "vocab_size": VOCAB_SIZE, "hidden_size": size["d_model"],
        "intermediate_size": 4 * size["d_model"], "num_hidden_layers": size["llm_layers"],
        "num_attention_heads": size["heads"], "num_key_value_heads": size["heads"], "tie_word_embeddings": False,
    }


def build_uas_audio(size: dict, kind: str = "uas_audio") -> UASAudioForConditionalGeneration:
    _, overrides, stack, family, _ = UAS_ROWS[kind]
    audio_config = {"hidden_size": size["d_model"], "num_hidden_layers": size["layers"],
                    "num_attention_heads": size["heads"], "intermediate_size": size["ffn"], **overrides}
    if family == "aut":
        audio_config.update(downsample_hidden_size=size["d_model"] // 2, output_dim=size["d_model"])
    config = UASAudioConfig(
        audio_config=audio_config,
        text_config=_text_config(size),
        audio_token_id=AUDIO_TOKEN_ID,
        projector_stack_factor=stack,
    )
    return UASAudioForConditionalGeneration(config)


def build_qwen2_audio(size: dict) -> Qwen2AudioForConditionalGeneration:
    config = Qwen2AudioConfig(
        audio_config={"d_model": size["d_model"], "encoder_layers": size["layers"],
                      "encoder_attention_heads": size["heads"], "encoder_ffn_dim": size["ffn"], "num_mel_bins": 128},
        text_config=_text_config(size),
        audio_token_index=AUDIO_TOKEN_ID,
    )
    return Qwen2AudioForConditionalGeneration(config)


def qwen2_audio_tokens(num_frames: int) -> int:
    """Placeholders Qwen2-Audio's processor writes for a clip of ``num_frames`` real mel frames."""
    return (((num_frames - 1) // 2 + 1) - 2) // 2 + 1


def make_batches(kind: str, batch_size: int, num_batches: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """Seeded batches of 3–8 s clips, one clip per row: ``prompt <audio…> response``, loss on the response."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(num_batches):
        seconds = torch.empty(batch_size).uniform_(3.0, 8.0, generator=generator)
        lengths = [frames.num_mel_frames(int(s * frames.SAMPLING_RATE)) for s in seconds]
        total = QWEN2_AUDIO_FRAMES if kind == "qwen2_audio" else max(lengths)
        features = torch.randn(batch_size, 128, total, generator=generator)
        mask = (torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]).long()
        if kind == "qwen2_audio":
            counts = [qwen2_audio_tokens(n) for n in lengths]
        else:
            _, _, stack, family, window = UAS_ROWS[kind]
            counts = [frames.num_audio_tokens(n, stack, window, family) for n in lengths]
        rows, label_rows = [], []
        for count in counts:
            prompt = torch.randint(10, VOCAB_SIZE, (PROMPT_TOKENS,), generator=generator)
            response = torch.randint(10, VOCAB_SIZE, (RESPONSE_TOKENS,), generator=generator)
            audio = torch.full((count,), AUDIO_TOKEN_ID)
            rows.append(torch.cat([prompt, audio, response]))
            label_rows.append(torch.cat([torch.full((PROMPT_TOKENS + count,), -100), response]))
        width = max(len(row) for row in rows)
        input_ids = torch.zeros(batch_size, width, dtype=torch.long)
        labels = torch.full((batch_size, width), -100)
        attention_mask = torch.zeros(batch_size, width, dtype=torch.long)
        for i, (row, label) in enumerate(zip(rows, label_rows)):
            input_ids[i, : len(row)], labels[i, : len(row)], attention_mask[i, : len(row)] = row, label, 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "input_features": features}
        batch["feature_attention_mask" if kind == "qwen2_audio" else "input_features_mask"] = mask
        batch["_audio_tokens"] = torch.tensor(sum(counts))
        batches.append(batch)
    return batches


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(kind: str, size: dict, batch_size: int, steps: int, seed: int, device: str) -> Measurement:
    """Build one model, warm up one step, then time ``steps`` forward+backward steps."""
    torch.manual_seed(seed)
    model = (build_qwen2_audio(size) if kind == "qwen2_audio" else build_uas_audio(size, kind)).to(device).train()
    batches = make_batches(kind, batch_size, steps + 1, seed)
    audio_tokens = int(sum(int(b.pop("_audio_tokens")) for b in batches[1:]))
    batches = [{k: v.to(device) for k, v in b.items()} for b in batches]

    def step(batch):
        model.zero_grad(set_to_none=True)
        model(**batch).loss.backward()

    step(batches[0])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _rss_mb()
    start = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    if device == "cuda":
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before  # ru_maxrss is in KiB on Linux
    return Measurement(
        name="Qwen2-Audio" if kind == "qwen2_audio" else UAS_ROWS[kind][0],
        parameters=sum(p.numel() for p in model.parameters()),
        samples_per_s=batch_size * steps / elapsed,
        seconds_per_step=elapsed / steps,
        peak_memory_mb=max(peak, 0.0),
        audio_tokens=audio_tokens // steps,
    )


def _measure_in_child(connection, *args):
    connection.send(measure(*args))
    connection.close()


def measure_isolated(kind: str, *args) -> Measurement:
    """On CPU each model runs in a forked process, so its peak RSS is its own; CUDA peaks reset in process."""
    device = args[-1]
    if device == "cuda":
        return measure(kind, *args)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_measure_in_child, args=(sender, kind, *args))
    process.start()
    result = receiver.recv()
    process.join()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small", help="encoder/LLM size preset")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per batch (same for both models)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's own)")
    parser.add_argument("--quick", action="store_true", help="tiny size, batch 2, 2 steps, 1 thread: runs in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.batch_size, args.steps = "tiny", 2, 2
        args.threads = args.threads or 1  # one thread keeps timings steady on a shared CPU
    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    size = SIZES[args.size]

    settings = (size, args.batch_size, args.steps, args.seed, device)
    ours = measure_isolated("uas_audio", *settings)
    peer = measure_isolated("qwen2_audio", *settings)
    families = [measure_isolated(kind, *settings) for kind in ("uas_audio_qwen2_audio", "uas_audio_aut")]

    threads = f", {torch.get_num_threads()} CPU threads" if device == "cpu" else ""
    print(f"device {device}{threads}, size {args.size} ({size}), batch {args.batch_size}, {args.steps} timed steps, "
          "clips 3-8 s")
    print(f"{'model':<26} {'params':>12} {'audio tok/batch':>16} {'s/step':>9} {'samples/s':>10} {'peak MB':>9}")
    for m in (ours, peer, *families):
        print(f"{m.name:<26} {m.parameters:>12,} {m.audio_tokens:>16} {m.seconds_per_step:>9.3f} "
              f"{m.samples_per_s:>10.2f} {m.peak_memory_mb:>9.1f}")
    speedup = ours.samples_per_s / peer.samples_per_s
    memory_ratio = peer.peak_memory_mb / ours.peak_memory_mb if ours.peak_memory_mb > 0 else float("nan")
    print(f"parameters: UAS-Audio {ours.parameters:,} vs Qwen2-Audio {peer.parameters:,} "
          f"({ours.parameters / peer.parameters:.3f}x); peak memory Qwen2-Audio / UAS-Audio: {memory_ratio:.2f}x")
    print(result_line("train_step_speedup", speedup, "x", ">=", TARGET_SPEEDUP, digits=2))


if __name__ == "__main__":
    main()
