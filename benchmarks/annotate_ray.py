"""Rows per second of the Ray engine (1 and 2 workers) against the local runner, on the same corpus, and its
per-row overhead.

Corpus: synthetic clips (``uas_audio.synth``) saved as a ``datasets`` directory; the default experts (signal
experts, plus Silero VAD and PocketSphinx when ``uas-audio[experts]`` is installed) and the rule synthesizer.
Each engine annotates the corpus into a fresh directory; the Ray engine on a local Ray instance of ``--cpus`` CPUs
started once (its start-up is reported apart: a cluster is started once for many runs). Every Ray run's rows are
compared with the local runner's.

A run costs something once (Ray: starting the stage actors and task workers, each a Python process that imports
the package and loads its expert; Ray Data reads ahead while they start, so the first committed shard is no
clean boundary) and something per row. Two corpus sizes separate them: the first shard alone (``shard_size``
rows) and the whole corpus, each run ``--repeats`` times, the fastest run kept (the machine is shared: the
minimum is the run least disturbed by other jobs):

- rows/s: the whole corpus over the fastest run's wall time (cluster start-up excluded);
- marginal ms/row: (wall(whole) - wall(one shard)) / (rows(whole) - rows(one shard));
- fixed cost: wall(one shard) - shard_size x marginal ms/row;
- per-row overhead: the Ray engine's marginal ms/row (1 worker) minus the local runner's: what the stage
  hand-offs (pickled batches through the object store, one task or actor call per stage and shard) add per row,
  net of the pipelining of the stages (which overlaps decode, experts, synthesis and writing on several cores).

``--quick``: 16 clips, shards of 4, one repeat (about a minute, most of it Ray's process start-ups).
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


def _timed(source: Path, out: Path, config: dict, engine: str) -> float:
    from uas_audio.annotate import annotate

    start = time.perf_counter()
    annotate(source, out, config, progress=False, engine=engine)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 clips, shards of 4, one repeat")
    parser.add_argument("--clips", type=int, default=256, help="corpus size (default 256)")
    parser.add_argument("--shard-size", type=int, default=16, help="rows per shard (default 16)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per engine and size; the fastest is kept")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    args = parser.parse_args()
    clips, shard, repeats = (16, 4, 1) if args.quick else (args.clips, args.shard_size, args.repeats)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import datasets
    import ray

    from uas_audio.synth import synthesize_corpus

    engines = (("local", "local runner", "1 process", "local", {}), ("ray1", "ray", "1", "ray", {"workers": 1}),
               ("ray2", "ray", "2", "ray", {"workers": 2}))
    walls: dict[tuple[str, int], float] = {}
    equal: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthesize_corpus(root / "corpus", num_clips=clips, seed=0, progress=False)
        sources = {clips: root / "corpus" / "dataset", shard: root / "one-shard"}
        datasets.load_from_disk(str(sources[clips])).select(range(shard)).save_to_disk(str(sources[shard]))
        config = {"shard_size": shard, "batch_size": min(16, shard)}
        reference = {}
        startup_s = warmup_s = None
        runs = 0
        try:
            for key, _, _, engine, ray_options in engines:
                if engine == "ray" and startup_s is None:
                    start = time.perf_counter()
                    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
                    startup_s = time.perf_counter() - start
                    # the first run after start-up also starts Ray's pool of task worker processes (later runs
                    # reuse them): a warm-up run, reported apart, as on a long-lived cluster
                    warmup_s = _timed(sources[shard], root / "warm-up", {**config, "ray": ray_options}, engine)
                for n in (shard, clips):
                    best = float("inf")
                    for _ in range(repeats):
                        runs += 1
                        out = root / f"out-{runs}"
                        best = min(best, _timed(sources[n], out, {**config, "ray": ray_options}, engine))
                        if key == "local":
                            reference[n] = _rows(out)
                        else:
                            equal[key] = equal.get(key, True) and _rows(out) == reference[n]
                    walls[(key, n)] = best
        finally:
            ray.shutdown()

    def marginal(key: str) -> float:
        return (walls[(key, clips)] - walls[(key, shard)]) / (clips - shard)

    print(f"corpus: {clips} synthetic clips, shards of {shard}, default experts, rule synthesizer; fastest of "
          f"{repeats} run(s) each; Ray: a local instance of {args.cpus} CPUs (start-up {startup_s:.1f} s and a "
          f"warm-up run of one shard {warmup_s:.1f} s, not counted below); machine shared with other jobs")
    print()
    print(f"| engine | workers | wall {shard} rows (s) | wall {clips} rows (s) | rows/s | marginal ms/row | "
          "fixed cost (s) | rows equal the local runner's |")
    print("|---|---|---|---|---|---|---|---|")
    for key, label, workers, _, _ in engines:
        fixed = walls[(key, shard)] - shard * marginal(key)
        same = "(reference)" if key == "local" else ("yes" if equal[key] else "NO")
        print(f"| {label} | {workers} | {walls[(key, shard)]:.1f} | {walls[(key, clips)]:.1f} | "
              f"{clips / walls[(key, clips)]:.2f} | {marginal(key) * 1000:.1f} | {fixed:.1f} | {same} |")
    overhead_ms = (marginal("ray1") - marginal("local")) * 1000
    print()
    print(f"per-row overhead of the Ray engine (marginal, 1 worker minus local): {overhead_ms:.1f} ms "
          f"(the local runner's marginal time per row: {marginal('local') * 1000:.1f} ms)")
    from uas_audio.evaluation.result_lines import result_line
    print(result_line("ray_rows_equal_local", sum(equal.values()), "engines of 2", "==", 2, digits=0))
    print(result_line("ray_per_row_overhead", overhead_ms, "ms/row", "<=", marginal("local") * 1000))
    print(result_line("ray_2_workers_vs_1", marginal("ray1") / marginal("ray2"), "x marginal rows/s", ">=", 1.0,
                      digits=2))


if __name__ == "__main__":
    main()
