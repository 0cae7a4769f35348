"""Rows per second of the Ray engine (1 and 2 workers) against the local runner, on the same corpus, and its
per-row overhead.

Corpus: synthetic clips (``uas_audio.synth``) saved as a ``datasets`` directory, and its first quarter saved
apart; the default experts (signal experts, plus Silero VAD and PocketSphinx when ``uas-audio[experts]`` is
installed) and the rule synthesizer. Each engine annotates both corpora into fresh directories; the Ray engine
on a local Ray instance of ``--cpus`` CPUs started once (its start-up is reported apart: a cluster is started
once for many runs). Every Ray run's rows are compared with the local runner's.

Two corpus sizes separate what a run costs once (Ray: starting the stage actors and task workers, each a Python
process that imports the package and loads its expert) from what each row costs:

- rows/s: rows of the large corpus over the run's wall time (cluster start-up excluded);
- marginal ms/row: (wall(large) - wall(small)) / (rows(large) - rows(small));
- per-row overhead: the Ray engine's marginal ms/row (1 worker) minus the local runner's: what the stage
  hand-offs (pickled batches through the object store, one task or actor call per stage and shard) add per row;
- fixed cost: wall(small) - rows(small) x marginal ms/row.

``--quick``: 8 and 16 clips, shards of 4 (about a minute, most of it Ray's process start-ups).
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
    parser.add_argument("--quick", action="store_true", help="8 and 16 clips, shards of 4")
    parser.add_argument("--clips", type=int, default=256, help="large corpus size (default 256; small: a quarter)")
    parser.add_argument("--shard-size", type=int, default=16, help="rows per shard (default 16)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    args = parser.parse_args()
    large, shard = (16, 4) if args.quick else (args.clips, args.shard_size)
    small = large // 2 if args.quick else large // 4
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import datasets
    import ray

    from uas_audio.synth import synthesize_corpus

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthesize_corpus(root / "corpus", num_clips=large, seed=0, progress=False)
        sources = {large: root / "corpus" / "dataset", small: root / "small"}
        datasets.load_from_disk(str(sources[large])).select(range(small)).save_to_disk(str(sources[small]))
        config = {"shard_size": shard, "batch_size": min(16, shard)}

        walls: dict[tuple[str, int], float] = {}
        reference = {}
        for n in (small, large):
            walls[("local", n)] = _timed(sources[n], root / f"local-{n}", config, "local")
            reference[n] = _rows(root / f"local-{n}")
        start = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        startup_s = time.perf_counter() - start
        equal = []
        try:
            for workers in (1, 2):
                for n in (small, large):
                    out = root / f"ray{workers}-{n}"
                    walls[(f"ray{workers}", n)] = _timed(sources[n], out, {**config, "ray": {"workers": workers}},
                                                         "ray")
                    equal.append(_rows(out) == reference[n])
        finally:
            ray.shutdown()

    def marginal(engine: str) -> float:
        return (walls[(engine, large)] - walls[(engine, small)]) / (large - small)

    print(f"corpus: {large} synthetic clips (and its first {small}), shards of {shard}, default experts, rule "
          f"synthesizer; Ray: a local instance of {args.cpus} CPUs (start-up {startup_s:.1f} s, not counted below)")
    print()
    print(f"| engine | workers | wall {small} rows (s) | wall {large} rows (s) | rows/s ({large}) | marginal ms/row | "
          "fixed cost (s) | rows equal the local runner's |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, label, workers in (("local", "local runner", "1 process"), ("ray1", "ray", "1"), ("ray2", "ray", "2")):
        fixed = walls[(engine, small)] - small * marginal(engine)
        same = "(reference)" if engine == "local" else (
            "yes" if all(equal[:2] if engine == "ray1" else equal[2:]) else "NO")
        print(f"| {label} | {workers} | {walls[(engine, small)]:.1f} | {walls[(engine, large)]:.1f} | "
              f"{large / walls[(engine, large)]:.2f} | {marginal(engine) * 1000:.1f} | {fixed:.1f} | {same} |")
    overhead_ms = (marginal("ray1") - marginal("local")) * 1000
    print()
    print(f"per-row overhead of the Ray engine (marginal, 1 worker minus local): {overhead_ms:.1f} ms "
          f"(the local runner's work per row: {marginal('local') * 1000:.1f} ms)")
    print(f"RESULT ray_rows_equal_local: {sum(equal)} runs of {len(equal)} (target == {len(equal)})")
    print(f"RESULT ray_per_row_overhead: {overhead_ms:.1f} ms/row (target <= {marginal('local') * 1000:.1f})")
    print(f"RESULT ray_2_workers_vs_1: {marginal('ray1') / marginal('ray2'):.2f} x marginal rows/s (target >= 1.0)")


if __name__ == "__main__":
    main()
