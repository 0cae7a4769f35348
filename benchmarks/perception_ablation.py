"""The paper's central claim at controlled scale: does UAS supervision improve perception?

The same tiny UAS-Audio model (same initial weights per seed) is trained under equal budgets (steps, batch size,
learning rate) on five supervision mixtures built from one synthetic corpus, then evaluated on held-out clips
(split by clip id, no clip in both):

- ``asr``: ASR only (the peer every other mixture is compared with);
- ``asr+uas``: ASR and holistic UAS JSON;
- ``asr+qa``: ASR and UAS-QA;
- ``asr+uas+qa``: both;
- ``asr+caption``: ASR and unstructured captions written from the same records instead of UAS JSON.

Held-out items are the multiple-choice questions of the generator's ground truth on the held-out clips: a
perception set (gender, accent, age, emotion — the corpus's emotion proxy, a prosody cue —, prosody, timbre,
sound events) and a small reasoning set about content (which sentence is spoken). Training targets are
ground-truth records too, so the comparison isolates the supervision format from annotation noise (the quickstart
trains on the annotation pipeline's output instead).

Every model answers the same items through two readouts (``uas_audio.evaluation.perception``): ``qa``, the
likelihood of each option's answer text after the UAS-QA question, and ``uas``, the likelihood of each option
as the probed field's value in the targeted UAS JSON after that field's targeted prompt. A model trained on UAS JSON
but never on questions is read out through its JSON, one trained on UAS-QA through its answers; each mixture is
scored by the better of its two readouts (mean over seeds), which can only flatter the ASR-only peer, for which
neither format was taught. Both readouts are printed. Each model is also scored with every held-out clip's audio
swapped for another's: accuracy that survives the swap comes from the questions and options (label priors);
"from audio" is the difference, the part of the accuracy that listening earns.

Training at controlled scale, as the paper starts: one stage-3 run per mixture from the embedded default
(``tiny_model(pretrained=True)``: the pretrained base encoder, frozen as the recipe keeps it, and the pretrained base
language model; only the projector is random, seeded per seed), at learning rate 6e-3 with the projector's updates
three times the language model's (``uas_audio.trainers.run_stages.AudioPathCallback``; docs/training.md measures
why). ``--random-init`` and ``--train-encoder`` give the earlier setting (random everything, encoder trained), where the model answered from the options' prior alone.
Majority-label baseline (the most frequent training value among each item's options) and random choice are printed
beside every mixture; n per column is the number of held-out items per seed.

    python benchmarks/perception_ablation.py            # 3 seeds, 320 clips, 500 steps x 32 rows per mixture,
                                                        # two mixtures at a time (--jobs 2, one thread each)
    python benchmarks/perception_ablation.py --quick    # 1 seed, tiny budgets, well under a minute
"""

from __future__ import annotations

import os

# One numeric thread: the tiny model gains nothing from more, and spinning OpenMP threads collapse on a shared
# machine (a training run took minutes instead of seconds with two threads on a loaded 2-core box).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

#: UAS supervision is the records in the forms the model answers in: holistic JSON (``uas``) and targeted JSON of one
#: field per row (``fields``, the form of ``pipeline(..., fields=[...])``: one row per record and voice or event field).
#: ASR keeps a fifth of every mixture; the rest is the supervision under test, so every mixture but the peer gives
#: the same share of rows to its perception supervision. ``asr+uas+qa`` is the quickstart's stage-3 mixture with its
#: TTS share (0.1) given to the fields rows (with QA 0.3 and fields 0.4, seed 0 listened half as much: docs/guide.md).
#: Captions cannot be asked one field at a time: a caption row describes everything, which is the format difference
#: the paper's Appendix F measures.
VARIANTS: dict[str, dict[str, float]] = {
    "asr": {"asr": 1.0},
    "asr+uas": {"asr": 0.2, "uas": 0.2, "fields": 0.6},
    "asr+qa": {"asr": 0.2, "qa": 0.8},
    "asr+uas+qa": {"asr": 0.2, "uas": 0.1, "fields": 0.5, "qa": 0.2},
    "asr+caption": {"asr": 0.2, "caption": 0.8},
}
PEER = "asr"
#: The audio path's updates relative to the language model's (uas_audio.trainers.run_stages.AudioPathCallback).
AUDIO_LR_FACTOR = 3.0
#: The language model's peak learning rate (docs/training.md: at 1e-3 the tiny model learns the priors, not the audio).
LEARNING_RATE = 6e-3


def _corpus(work: Path, num_clips: int, seed: int):
    from uas_audio.synth import synthesize_corpus

    return synthesize_corpus(work / "synth", num_clips, seed=seed)


def _task_rows(train, qa):
    from uas_audio.trainers import tasks as T

    return {"asr": T.asr_rows(train), "uas": T.uas_rows(train), "fields": T.field_rows(train),
            "caption": T.caption_rows(train), "qa": T.qa_rows(qa)}


def _qa_dataset(train, work: Path, seed: int):
    import datasets

    from uas_audio.qa import build_qa

    build_qa(train, work / "qa", seed=seed)
    return datasets.load_dataset("parquet", data_files=str(work / "qa" / "qa.parquet"), split="train")


def _initial_model(work: Path, seed: int, pretrained: bool = True) -> Path:
    """The tiny model every mixture of ``seed`` starts from: the embedded default (pretrained base encoder and
    language model, projector seeded by ``seed``) or, with ``pretrained=False``, a seeded random one."""
    from uas_audio.tiny import tiny_model, tiny_processor

    path = work / f"initial-seed{seed}-{'base' if pretrained else 'random'}"
    if not (path / "config.json").is_file():
        tiny_model(seed=seed, pretrained=pretrained).save_pretrained(path)
        tiny_processor().save_pretrained(path)
    return path


def _job(variant: str, seed: int, rows: dict, items: list, work: Path, steps: int, batch_size: int,
         learning_rate: float, audio_lr_factor: float, train_encoder: bool,
         pretrained: bool = True) -> tuple[dict, float, str]:
    """Train one mixture for one seed and score it: {readout: {"real": scores, "shuffled": scores}}."""
    import torch

    from uas_audio.evaluation.perception import READOUTS, choose_options, perception_accuracy, shuffled_audio
    from uas_audio.trainers import tasks as T
    from uas_audio.trainers.run_stages import train_stages
    from uas_audio.trainers.train import load_model_and_processor

    torch.set_num_threads(1)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    ratios = VARIANTS[variant]
    mix = T.mixture({t: rows[t] for t in ratios}, ratios, seed=seed)
    folder = train_stages([(3, mix)], work / f"{variant}-seed{seed}", [steps], seed=seed,
                          model=_initial_model(work, seed, pretrained), batch_size=batch_size, learning_rate=learning_rate,
                          progress=False, checkpoints=False, train_encoder=train_encoder,
                          audio_lr_factor=audio_lr_factor)
    model, processor = load_model_and_processor(folder)
    blind = shuffled_audio(items)
    scores, line = {}, []
    for readout in READOUTS:
        real = perception_accuracy(items, choose_options(model, processor, items, readout=readout, progress=False))
        other = perception_accuracy(blind, choose_options(model, processor, blind, readout=readout, progress=False))
        scores[readout] = {"real": real, "shuffled": other}
        line.append(f"{readout}: perception {100 * real['perception']:5.1f} (shuffled audio "
                    f"{100 * other['perception']:5.1f}) content {100 * (real['content'] or 0):5.1f}")
    seconds = time.perf_counter() - start
    return scores, seconds, f"seed {seed} {variant:<12} " + " | ".join(line) + f"  ({seconds:.0f} s)"


def _exit_with_parent(parent: int, poll_s: float = 2.0) -> None:
    """Worker initializer: end this worker when the benchmark's process is gone (killed), instead of training on as
    an orphan. A daemon thread polls the parent's pid every ``poll_s`` seconds."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run(num_clips: int, seeds: list[int], steps: int, batch_size: int, learning_rate: float, work: Path,
        audio_lr_factor: float = 1.0, train_encoder: bool = False, variants: list[str] | None = None,
        jobs: int = 1, corpus_seed: int = 0, pretrained: bool = True) -> dict:
    """Train and score every (seed, mixture), ``jobs`` at a time in separate processes (one torch thread each)."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from uas_audio.evaluation.perception import READOUTS, chance_accuracy, majority_accuracy, perception_items
    from uas_audio.evaluation.splits import split_clip_ids

    variants = variants or list(VARIANTS)
    corpus = _corpus(work, num_clips, corpus_seed)
    train_ids, held_ids = (set(ids) for ids in split_clip_ids(corpus["id"], 0.3, corpus_seed))
    assert not train_ids & held_ids
    train = corpus.filter(lambda i: i in train_ids, input_columns="id")
    held = corpus.filter(lambda i: i in held_ids, input_columns="id")
    rows = _task_rows(train, _qa_dataset(train, work, corpus_seed))
    items = perception_items(held, seed=corpus_seed, kinds=("mc",))
    for seed in seeds:
        _initial_model(work, seed, pretrained)
    scores = {v: {r: {"real": [], "shuffled": []} for r in READOUTS} for v in variants}
    seconds: dict[str, float] = {v: 0.0 for v in variants}
    tasks = [(v, seed) for seed in seeds for v in variants]
    args = dict(work=work, steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                audio_lr_factor=audio_lr_factor, train_encoder=train_encoder, pretrained=pretrained)

    def record(variant, outcome):
        result, took, line = outcome
        for readout, pair in result.items():
            for kind, value in pair.items():
                scores[variant][readout][kind].append(value)
        seconds[variant] += took
        print(line, flush=True)

    if jobs <= 1:
        for variant, seed in tasks:
            record(variant, _job(variant, seed, rows, items, **args))
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = [(v, pool.submit(_job, v, seed, rows, items, **args)) for v, seed in tasks]
            for variant, future in futures:  # submission order: per-seed lists stay in seed order
                record(variant, future.result())
    chance = chance_accuracy(items)
    return {"scores": scores, "seconds": seconds, "chance": chance, "num_items": len(items),
            "majority": majority_accuracy(items, train["uas"]),
            "num_train_clips": len(train), "num_heldout_clips": len(held), "counts": chance["counts"]}


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [100 * v for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _summarize_runs(runs: list[dict]) -> dict[str, tuple[float, float]]:
    row = {"perception": _mean_std([r["perception"] for r in runs]),
           "content": _mean_std([r["content"] or 0.0 for r in runs])}
    for field in sorted(runs[0]["by_field"]):
        row[field] = _mean_std([r["by_field"][field] for r in runs])
    return row


def summarize(result: dict) -> dict[str, dict]:
    """Variant → the row of its better readout (perception, content and each field → (mean %, std %) over seeds)
    plus ``audio`` (perception points over the same model with shuffled audio, mean and std over seeds),
    ``readout`` (the better one: higher mean perception accuracy) and ``by_readout`` (readout → real, shuffled,
    audio)."""
    out = {}
    for variant, by_readout in result["scores"].items():
        rows = {}
        for readout, runs in by_readout.items():
            gaps = [r["perception"] - b["perception"] for r, b in zip(runs["real"], runs["shuffled"])]
            rows[readout] = {"real": _summarize_runs(runs["real"]), "shuffled": _summarize_runs(runs["shuffled"]),
                             "audio": _mean_std(gaps)}
        best = max(rows, key=lambda r: rows[r]["real"]["perception"][0])
        pooled = _pooled_interval(by_readout[best]["real"])
        out[variant] = {"readout": best, "by_readout": rows, "audio": rows[best]["audio"], "interval": pooled,
                        **rows[best]["real"]}
    return out


def _pooled_interval(runs: list[dict]) -> tuple[float, float] | None:
    """95 % Wilson interval (percent) of perception accuracy with every seed's answers pooled."""
    from uas_audio.evaluation.intervals import wilson_interval

    if not runs or "correct" not in runs[0]:
        return None
    k = sum(r["correct"].get("perception", 0) for r in runs)
    n = sum(r["counts"].get("perception", 0) for r in runs)
    low, high = wilson_interval(k, n) if n else (0.0, 0.0)
    return 100 * low, 100 * high


_NOT_METRICS = ("readout", "by_readout", "audio", "interval")


def _metric_keys(summary: dict) -> list[str]:
    return [k for k in next(iter(summary.values())) if k not in _NOT_METRICS]


def _cell(pair: tuple[float, float], signed: bool = False) -> str:
    return f"{pair[0]:+.1f} ± {pair[1]:.1f}" if signed else f"{pair[0]:.1f} ± {pair[1]:.1f}"


def table(summary: dict, chance: dict, majority: dict | None = None) -> str:
    """Each mixture through its better readout: mean ± std over seeds, the perception cell with the 95 % Wilson
    interval of all seeds' answers pooled; n (items per seed) in the header; the majority-label and random-choice
    baselines as the last rows."""
    fields = [k for k in _metric_keys(summary) if k not in ("perception", "content")]
    counts, field_counts = chance["counts"], chance.get("field_counts", {})
    header = ["mixture", "readout", f"perception % (n={counts['perception']}) [95 % CI]", "from audio (pts)",
              f"content % (n={counts['content']})", *(f"{f} (n={field_counts.get(f, '?')})" for f in fields)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, row in summary.items():
        ci = row.get("interval")
        cells = [_cell(row["perception"]) + (f" [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else ""),
                 _cell(row["audio"], signed=True), _cell(row["content"])]
        cells += [_cell(row[k]) for k in fields]
        lines.append(f"| {variant}{' (peer)' if variant == PEER else ''} | {row['readout']} | " + " | ".join(cells)
                     + " |")
    for name, base in ((("majority label of the training records (expected)", majority),) if majority else ()) + (
            ("random choice (expected)", chance),):
        base_cells = [f"{100 * base['perception']:.1f}", "0", f"{100 * base['content']:.1f}"]
        base_cells += [f"{100 * base['by_field'][f]:.1f}" for f in fields]
        lines.append(f"| {name} | - | " + " | ".join(base_cells) + " |")
    return "\n".join(lines)


def readout_table(summary: dict) -> str:
    """Perception with real and shuffled audio, and content, of every mixture under each readout."""
    readouts = list(next(iter(summary.values()))["by_readout"])
    header = ["mixture", *(f"{r}: {k}" for r in readouts
                           for k in ("perception %", "shuffled audio %", "content %"))]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, row in summary.items():
        cells = []
        for r in readouts:
            data = row["by_readout"][r]
            cells += [_cell(data["real"]["perception"]), _cell(data["shuffled"]["perception"]),
                      _cell(data["real"]["content"])]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict, chance: dict, out: Path, title: str) -> Path:
    """Grouped bars per mixture: perception with its own audio, perception with shuffled audio, content; ±1 std
    error bars over seeds; the random-choice lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, ax = plt.subplots(figsize=(8.5, 4.0))
    width = 0.27

    def shuffled(n, key):
        return summary[n]["by_readout"][summary[n]["readout"]]["shuffled"][key]

    for offset, get, color, label in (
            (-width, lambda n: summary[n]["perception"], "tab:blue", "perception"),
            (0.0, lambda n: shuffled(n, "perception"), "tab:gray", "perception, audio shuffled"),
            (width, lambda n: summary[n]["content"], "tab:orange", "content")):
        means = [get(n)[0] for n in names]
        stds = [get(n)[1] for n in names]
        xs = [i + offset for i in range(len(names))]
        ax.bar(xs, means, width, yerr=stds, capsize=3, color=color, label=label)
        for x, m in zip(xs, means):
            ax.text(x, m + 1.0, f"{m:.1f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(100 * chance["perception"], color="tab:blue", linestyle=":", linewidth=1, label="chance (perception)")
    ax.axhline(100 * chance["content"], color="tab:orange", linestyle=":", linewidth=1, label="chance (content)")
    ax.set_xticks(range(len(names)), names, rotation=15)
    ax.set_ylabel("held-out MCQ accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 24 clips, a few steps (for the test)")
    parser.add_argument("--num-clips", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per mixture (equal budget)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--audio-lr-factor", type=float, default=AUDIO_LR_FACTOR,
                        help="the audio path's updates relative to the language model's (1: one learning rate)")
    parser.add_argument("--train-encoder", action="store_true",
                        help="train the audio encoder too (the recipe keeps the pretrained one frozen)")
    parser.add_argument("--random-init", action="store_true",
                        help="start from a seeded random tiny model instead of the embedded pretrained base")
    parser.add_argument("--mixtures", nargs="+", choices=list(VARIANTS), default=None,
                        help="train only these mixtures (the peer is always included)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="mixtures trained at once, one process and one torch thread each (default 2; --quick 1)")
    parser.add_argument("--plot", default=str(Path(__file__).resolve().parent / "perception_ablation.png"))
    parser.add_argument("--json", default=None, help="also write the raw per-seed scores here")
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args(argv)
    num_clips = args.num_clips or (24 if args.quick else 320)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    steps = args.steps or (3 if args.quick else 500)
    batch_size = args.batch_size or (4 if args.quick else 32)
    variants = [v for v in VARIANTS if v == PEER or v in (args.mixtures or VARIANTS)]

    logging.getLogger("uas_audio").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="perception-ablation-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        result = run(num_clips, seeds, steps, batch_size, args.learning_rate, work,
                     audio_lr_factor=args.audio_lr_factor, train_encoder=args.train_encoder, variants=variants,
                     jobs=args.jobs or (1 if args.quick else 2), pretrained=not args.random_init)
    summary = summarize(result)
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, **result}, indent=1, default=str))
    print()
    print(f"{result['num_train_clips']} training clips, {result['num_heldout_clips']} held-out clips, "
          f"{result['num_items']} held-out multiple-choice items {result['counts']}; {len(seeds)} seed(s) {seeds}; "
          f"{steps} steps x {batch_size} rows per mixture at learning rate {args.learning_rate}, audio path x"
          f"{args.audio_lr_factor:g}, encoder {'trained' if args.train_encoder else 'frozen'}, initial weights "
          f"{'random' if args.random_init else 'the embedded pretrained base (projector random)'}; "
          f"{time.perf_counter() - start:.0f} s in all")
    print()
    print("Each mixture through its better readout (mean ± std over seeds):")
    print()
    print(table(summary, result["chance"], result.get("majority")))
    print()
    print("Both readouts:")
    print()
    print(readout_table(summary))
    path = plot(summary, result["chance"], Path(args.plot),
                f"Perception ablation, tiny model, {len(seeds)} seed(s), mean ± std; n per seed: "
                f"{result['counts']['perception']} perception, {result['counts']['content']} content items")
    print(f"\nplot: {path}")

    peer = summary[PEER]

    def gain(variant: str, key: str = "perception", over: str = PEER) -> float | None:
        return summary[variant][key][0] - summary[over][key][0] if variant in summary and over in summary else None

    gains = {
        "uas_gain_perception": gain("asr+uas"),
        "uas_gain_from_audio": gain("asr+uas", "audio"),
        "uas_qa_gain_from_audio": gain("asr+qa", "audio"),
        "both_gain_from_audio": gain("asr+uas+qa", "audio"),
        "uas_qa_gain_perception": gain("asr+qa"),
        "both_gain_perception": gain("asr+uas+qa"),
        "uas_over_caption_perception": gain("asr+uas", over="asr+caption"),
        "both_gain_content": gain("asr+uas+qa", "content"),
    }
    noise = max(row["perception"][1] for row in summary.values())
    print()
    print(f"ASR-only peer: perception {peer['perception'][0]:.1f} % against {100 * result['chance']['perception']:.1f} %"
          " for random choice. 'from audio': accuracy minus that of the same model with each held-out clip's audio "
          "swapped for another's; accuracy that survives the swap comes from the questions and options (label "
          "priors), not from listening.")
    if len(seeds) > 1:
        held = [k for k, v in gains.items() if v is not None and v > noise]
        print(f"largest seed std of perception accuracy: {noise:.1f} points; gains above it: {held or 'none'}. "
              "A gain smaller than the seed-to-seed spread is not evidence either way at this scale.")
    else:
        print("one seed: no spread to compare the gains with; run without --quick for 3 seeds.")
    from uas_audio.evaluation.result_lines import result_line
    for name, value in gains.items():
        if value is not None:
            print(result_line(name, value, "points", ">", 0))

    def mean_of(variant: str, key: str) -> float | None:
        return summary[variant][key][0] if variant in summary and key in summary[variant] else None

    # the targets: listening, not priors (perception minus the same model's shuffled-audio perception)
    targets = [("uas_from_audio", mean_of("asr+uas", "audio"), "points", ">=", 10),
               ("both_from_audio", mean_of("asr+uas+qa", "audio"), "points", ">=", 10),
               ("asr_from_audio_abs", None if PEER not in summary else abs(summary[PEER]["audio"][0]), "points", "<=", 2),
               ("uas_gender", mean_of("asr+uas", "gender"), "%", ">=", 85),
               ("both_gender", mean_of("asr+uas+qa", "gender"), "%", ">=", 85),
               ("uas_over_caption_from_audio", gain("asr+uas", "audio", over="asr+caption"), "points", ">", 0)]
    for name, value, unit, op, target in targets:
        if value is not None:
            print(result_line(name, value, unit, op, target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
