"""Feature-extraction throughput: UASAudioFeatureExtractor vs WhisperFeatureExtractor(feature_size=128).

Both featurise the same seeded batch of variable-length clips (3–8 s, tones plus noise), measured in the same
run. UASAudioFeatureExtractor pads the batch to its longest clip and returns a frame mask; Whisper pads every
clip to 30 s, as it does by default, with its torch backend (what its ``__call__`` uses when torch is installed)
and, for reference, its numpy backend (``_np_extract_fbank_features`` on Whisper's own 30 s padding). A last row
runs Whisper's torch path with ``padding="longest"``: fast, but its dynamic range is taken over the whole
batch, so a clip's features depend on its batch partners (not usable for variable-length training).

Torch runs on one intra-op thread by default (``--threads``): that is how extraction runs inside data-loader
workers, and on a machine whose cores are shared, multi-threaded timings measure contention, not the code.

Usage: python benchmarks/feature_extraction.py [--clips N] [--repeats R] [--threads T] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from transformers import WhisperFeatureExtractor
from transformers.utils import logging as hf_logging

from uas_audio.evaluation.result_lines import result_line
from uas_audio.processing import UASAudioFeatureExtractor

SR = 16_000
TARGET_SPEEDUP = 1.5


def make_clips(num_clips: int, seed: int) -> list[np.ndarray]:
    """``num_clips`` mono 16 kHz clips of 3–8 s: a gliding tone with noise."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(num_clips):
        n = int(rng.uniform(3.0, 8.0) * SR)
        t = np.arange(n) / SR
        tone = np.sin(2 * np.pi * (rng.uniform(100, 400) + 50 * t) * t)
        clips.append((0.1 * tone + 0.02 * rng.standard_normal(n)).astype(np.float32))
    return clips


def _time(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64, help="clips in the batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per extractor (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for every extractor")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated clips")
    parser.add_argument("--quick", action="store_true", help="8 clips, 2 repeats: runs in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.repeats = 8, 2
    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)

    clips = make_clips(args.clips, args.seed)
    seconds = sum(c.size for c in clips) / SR
    ours = UASAudioFeatureExtractor()
    whisper = WhisperFeatureExtractor(feature_size=128)

    def whisper_numpy():
        padded = whisper.pad({"input_features": [c[:, None] for c in clips]}, padding="max_length",
                             max_length=whisper.n_samples, truncation=True, return_attention_mask=False)
        return whisper._np_extract_fbank_features(padded["input_features"][..., 0], "cpu")

    runs = [
        ("UASAudioFeatureExtractor (pad to longest, per-clip mask)",
         lambda: ours(clips, sampling_rate=SR, return_tensors="pt")),
        ("WhisperFeatureExtractor torch backend (pad to 30 s, default)",
         lambda: whisper(clips, sampling_rate=SR, return_tensors="pt")),
        ("WhisperFeatureExtractor numpy backend (pad to 30 s)", whisper_numpy),
        ("WhisperFeatureExtractor torch, padding=longest (batch-wide max)",
         lambda: whisper(clips, sampling_rate=SR, padding="longest", return_tensors="pt")),
    ]
    results = [(name, _time(fn, args.repeats)) for name, fn in runs]

    print(f"{args.clips} clips, {seconds:.1f} s of audio (3-8 s each), torch threads: {torch.get_num_threads()}, "
          f"median of {args.repeats}")
    width = max(len(name) for name, _ in results)
    print(f"{'extractor'.ljust(width)}  {'seconds':>8}  {'clips/s':>9}  {'audio x RT':>10}")
    for name, elapsed in results:
        print(f"{name.ljust(width)}  {elapsed:8.3f}  {args.clips / elapsed:9.1f}  {seconds / elapsed:10.0f}")
    speedup = results[1][1] / results[0][1]
    print(result_line("feature_extraction_speedup", speedup, "x", ">=", TARGET_SPEEDUP, digits=2))


if __name__ == "__main__":
    main()
