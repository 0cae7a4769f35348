"""Rows per second of the Ray engine (1 and 2 workers) against the local runner, on the same corpus, and its
per-row overhead.

Corpus: synthetic clips (``uas_audio.synth``) saved as a ``datasets`` directory; the default experts (signal
experts, plus Silero VAD and PocketSphinx when ``uas-audio[experts]`` is installed) and the rule synthesizer.
Each engine annotates the corpus into a fresh directory; the Ray engine on a local Ray instance of ``--cpus``
CPUs started once (its start-up is reported apart, as a cluster is started once for many runs). Every Ray run's
rows are compared with the local runner's.

- rows/s: rows over the run's wall time (for Ray: without the cluster start-up).
- per-row overhead: (Ray 1-worker wall - local wall) / rows: what the stage hand-offs (pickled batches through
  the object store, one task or actor call per stage and shard) cost on top of the same work done in one process.

``--quick``: 16 clips, shards of 4 (seconds, plus Ray's start-up).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _rows(out: Path) -> list[dict]:
    from uas_audio.annotate import load_annotations

    return sorted(load_annotations(out).to_list(), key=lambda r: r["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 clips, shards of 4 (seconds)")
    parser.add_argument("--clips", type=int, default=192, help="corpus size (default 192)")
    parser.add_argument("--shard-size", type=int, default=16, help="rows per shard (default 16)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    args = parser.parse_args()
    clips, shard = (16, 4) if args.quick else (args.clips, args.shard_size)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import ray

    from uas_audio.annotate import annotate
    from uas_audio.synth import synthesize_corpus

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthesize_corpus(root / "corpus", num_clips=clips, seed=0, progress=False)
        source = root / "corpus" / "dataset"
        config = {"shard_size": shard, "batch_size": min(16, shard)}

        start = time.perf_counter()
        annotate(source, root / "local", config, progress=False)
        local_s = time.perf_counter() - start
        reference = _rows(root / "local")

        start = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        startup_s = time.perf_counter() - start
        runs = []
        try:
            for workers in (1, 2):
                out = root / f"ray-{workers}"
                start = time.perf_counter()
                annotate(source, out, {**config, "ray": {"workers": workers}}, progress=False, engine="ray")
                runs.append({"workers": workers, "wall_s": time.perf_counter() - start,
                             "equal": _rows(out) == reference})
        finally:
            ray.shutdown()

    n = len(reference)
    print(f"corpus: {clips} synthetic clips, shards of {shard}, default experts, rule synthesizer; "
          f"Ray: local instance of {args.cpus} CPUs (start-up {startup_s:.1f} s, not counted below)")
    print()
    print("| engine | workers | rows | wall (s) | rows/s | rows equal the local runner's |")
    print("|---|---|---|---|---|---|")
    print(f"| local runner | 1 process | {n} | {local_s:.1f} | {n / local_s:.2f} | (reference) |")
    for r in runs:
        print(f"| ray | {r['workers']} | {n} | {r['wall_s']:.1f} | {n / r['wall_s']:.2f} | "
              f"{'yes' if r['equal'] else 'NO'} |")
    overhead_ms = (runs[0]["wall_s"] - local_s) / n * 1000
    print()
    print(f"per-row overhead of the Ray engine (1 worker vs local): {overhead_ms:.1f} ms "
          f"(local work per row: {local_s / n * 1000:.1f} ms)")
    equal = sum(r["equal"] for r in runs)
    print(f"RESULT ray_rows_equal_local: {equal} runs of {len(runs)} (target == {len(runs)})")
    print(f"RESULT ray_per_row_overhead: {overhead_ms:.1f} ms/row (target <= {local_s / n * 1000:.1f})")
    print(f"RESULT ray_2_workers_vs_local: {local_s / runs[1]['wall_s']:.2f} x rows/s (target >= 1.0)")


if __name__ == "__main__":
    main()
