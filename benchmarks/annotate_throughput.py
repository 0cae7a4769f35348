"""Throughput of the offline annotation path and accuracy/speed of its pitch tracker.

1. Stage 1 (signal experts) + stage 2 (rules) + stage 3 (validation), run by the resumable runner over a
   streamed dataset (an IterableDataset cycling a pool of synthetic clips, so generating 10k clips costs
   nothing): real-time factor per core (seconds of audio per CPU second of the process) and peak RSS, at
   1k and 10k clips, each in a fresh subprocess. Memory must not grow with the number of clips.
2. The YIN tracker of ``experts.pitch`` against ``librosa.pyin`` on the same speech clips: speed ratio and
   median-F0 error against the synthesizer's recorded pitch.

``--quick`` uses 12 clips, skips the 10k run and times pyin on 3 clips.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

SR = 16000
#: "Per core": the worker's numerical libraries may use one thread, so CPU time is one core's time.
_ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _pool(size: int, seed: int = 0) -> list[dict]:
    from uas_audio.audio import encode_wav
    from uas_audio.synth import iter_clips

    return [{"audio": clip.audio, "wav": encode_wav(clip.audio, SR), "transcript": clip.transcript,
             "f0_hz": clip.metadata.get("f0_hz")} for clip in iter_clips(size, seed)]


def _worker(num_clips: int, pool_size: int) -> None:
    """Annotate ``num_clips`` streamed clips and print audio seconds, CPU seconds and peak RSS as JSON."""
    import datasets

    from uas_audio.annotate import annotate
    from uas_audio.annotate.experts import DEFAULT_EXPERTS  # signal experts only: the target excludes model experts

    pool = _pool(pool_size)
    audio_s = sum(len(pool[i % pool_size]["audio"]) for i in range(num_clips)) / SR

    def rows():
        for i in range(num_clips):
            clip = pool[i % pool_size]
            yield {"id": f"clip-{i:06d}", "audio": {"bytes": clip["wav"], "path": None}, "transcript": clip["transcript"]}

    features = datasets.Features({"id": datasets.Value("string"),
                                  "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
                                  "transcript": datasets.Value("string")})
    stream = datasets.IterableDataset.from_generator(rows, features=features)
    with tempfile.TemporaryDirectory() as out:
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        summary = annotate(stream, out, {"shard_size": 256, "batch_size": 32, "keep_audio": False,
                                           "experts": list(DEFAULT_EXPERTS)}, progress=False)
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"clips": num_clips, "audio_s": audio_s, "cpu_s": cpu, "wall_s": wall, "peak_rss_mb": peak_mb,
                      "accepted": summary["status"].get("accepted", 0)}))


def _run_worker(num_clips: int, pool_size: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--worker", str(num_clips), "--pool", str(pool_size)],
                            capture_output=True, text=True, env={**os.environ, "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", **_ONE_THREAD})
    if result.returncode != 0:
        raise RuntimeError(f"worker for {num_clips} clips failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _pitch_comparison(pool: list[dict], pyin_clips: int) -> dict:
    import librosa

    from uas_audio.annotate.experts.pitch import yin_track

    speech = [c for c in pool if c["f0_hz"]][:pyin_clips]
    ours_s = pyin_s = 0.0
    ours_err, pyin_err = [], []
    for clip in speech:
        x = clip["audio"].astype(np.float32)
        start = time.process_time()
        f0, _ = yin_track(x, SR)
        ours_s += time.process_time() - start
        start = time.process_time()
        f0_pyin, _, _ = librosa.pyin(x, fmin=60.0, fmax=500.0, sr=SR, frame_length=1024, hop_length=160)
        pyin_s += time.process_time() - start
        for track, errors in ((f0, ours_err), (f0_pyin, pyin_err)):
            voiced = track[np.isfinite(track)]
            errors.append(abs(float(np.median(voiced)) - clip["f0_hz"]) if voiced.size else clip["f0_hz"])
    audio_s = sum(len(c["audio"]) for c in speech) / SR
    return {"clips": len(speech), "audio_s": audio_s, "ours_s": ours_s, "pyin_s": pyin_s,
            "ours_err": float(np.mean(ours_err)), "pyin_err": float(np.mean(pyin_err)),
            "ours_median_err": float(np.median(ours_err)), "pyin_median_err": float(np.median(pyin_err))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 clips, no 10k run (seconds)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=int, default=64, help="distinct synthetic clips cycled through")
    parser.add_argument("--sizes", default="1000,10000",
                        help="comma-separated clip counts of the stage 1+2+3 runs (default 1000,10000)")
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.pool)
        return

    pool_size = 12 if args.quick else args.pool
    sizes = [12] if args.quick else [int(n) for n in args.sizes.split(",")]
    runs = [_run_worker(n, pool_size) for n in sizes]
    pitch = _pitch_comparison(_pool(pool_size), 3 if args.quick else pool_size)

    print("| run | clips | audio (s) | CPU (s) | x real time per core | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        print(f"| stage 1+2+3 | {r['clips']} | {r['audio_s']:.0f} | {r['cpu_s']:.1f} | "
              f"{r['audio_s'] / r['cpu_s']:.0f} | {r['peak_rss_mb']:.0f} |")
    print()
    print("| pitch tracker | clips | audio (s) | CPU (s) | x real time | mean abs F0 error (Hz) | median (Hz) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| ours (YIN, FFT, vectorised) | {pitch['clips']} | {pitch['audio_s']:.0f} | {pitch['ours_s']:.2f} | "
          f"{pitch['audio_s'] / pitch['ours_s']:.0f} | {pitch['ours_err']:.1f} | {pitch['ours_median_err']:.1f} |")
    print(f"| librosa.pyin | {pitch['clips']} | {pitch['audio_s']:.0f} | {pitch['pyin_s']:.2f} | "
          f"{pitch['audio_s'] / pitch['pyin_s']:.1f} | {pitch['pyin_err']:.1f} | {pitch['pyin_median_err']:.1f} |")
    if len(runs) == 2:
        growth = runs[1]["peak_rss_mb"] - runs[0]["peak_rss_mb"]
        print(f"\npeak RSS growth from {runs[0]['clips']} to {runs[1]['clips']} clips: {growth:+.0f} MB")
    rtf = min(r["audio_s"] / r["cpu_s"] for r in runs)
    from uas_audio.evaluation.result_lines import result_line
    print(result_line("annotate_rtf", rtf, "x real time per core", ">=", 100))
    print(result_line("pitch_speedup_vs_pyin", pitch["pyin_s"] / pitch["ours_s"], "x", ">=", 10))
    print(result_line("pitch_f0_error", pitch["ours_err"], "Hz", "<=", pitch["pyin_err"], digits=2))
    if len(runs) == 2:
        print(result_line("annotate_peak_rss_growth", growth, "MB", "<=", 50, digits=0))


if __name__ == "__main__":
    main()
