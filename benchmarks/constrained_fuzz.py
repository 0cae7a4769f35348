"""Fuzz of constrained UAS decoding: every run returns a parseable, valid UAS record or a clear budget error.

Random tiny UAS-Audio models whose language model is one of several families (Qwen2, Llama, GPT-2 text configs),
each paired with one of three tokenizer kinds built here with the ``tokenizers`` library (byte-level BPE: the
embedded tokenizer; SentencePiece-style Unigram with a metaspace; WordPiece with ``##`` continuations), decode
noise clips of 0.5-8 s through ``pipeline("audio-to-uas")`` (holistic mode), greedy or sampled (temperature
0.7-1.5), with ``max_new_tokens`` drawn from bands between one token below the shortest record and 4096.

A run **passes** when its budget is at least the shortest record (``minimal_budget``) and the result parses
(``uas`` not None) and is valid (every validator check, with the clip's duration), or when its budget is below
the shortest record and the call raised ``BudgetTooSmallError`` before generating. Anything else fails.
The table gives runs / parseable / valid / budget errors / failures per (family, tokenizer, sampler, band).

Baseline, measured in the same run on every ``--baseline-every``-th call (same model, clips, budget and seed):
xgrammar's own logits processor over the plain UAS grammar with ``TokenizerInfo.from_huggingface`` and
``tokenizer.decode`` (what the pipeline did before the budget-aware decoder), through ``constrained=False``
with that processor passed in. Its table gives parseable / valid per (tokenizer, sampler, band).

    python benchmarks/constrained_fuzz.py [--quick] [--runs N] [--seed S] [--threads T] [--baseline-every K]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

FAMILIES = {
    "qwen2": {"model_type": "qwen2"},
    "llama": {"model_type": "llama"},
    "gpt2": {"model_type": "gpt2", "n_inner": 128, "n_positions": 8192},
}
TOKENIZER_KINDS = ("byte-bpe", "unigram", "wordpiece")
SAMPLERS = ("greedy", "sampled")
# (name, lowest, highest) in tokens above the shortest record; "below" is one to 32 tokens under it.
BUDGET_BANDS = (("below", -32, -1), ("min", 0, 0), ("min+1..64", 1, 64), ("65..400", 65, 400),
                ("401..4096", 401, None))
SR = 16_000


def build_tokenizer(kind: str, seed: int = 0):
    """A fast tokenizer of ``kind`` with the project's special tokens and chat template (byte-bpe: the embedded
    one; unigram / wordpiece: trained here on the embedded tokenizer's training text)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from uas_audio.processing import load_default_tokenizer
    from uas_audio.processing.build_tokenizer import training_corpus
    from uas_audio.processing.chatml import CHAT_TEMPLATE, END_OF_TEXT, IM_END, SPECIAL_TOKENS

    if kind == "byte-bpe":
        return load_default_tokenizer()
    corpus = list(training_corpus(seed=seed, num_sentences=1500, num_records=400))
    if kind == "unigram":
        backend = Tokenizer(models.Unigram())
        backend.normalizer = normalizers.NFKC()
        backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
        backend.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
        trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=list(SPECIAL_TOKENS), unk_token=END_OF_TEXT,
                                          show_progress=False)
    elif kind == "wordpiece":
        backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        backend.normalizer = normalizers.BertNormalizer(lowercase=False)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(vocab_size=800, special_tokens=["[UNK]", *SPECIAL_TOKENS],
                                            show_progress=False)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; known: {TOKENIZER_KINDS}")
    backend.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=IM_END, pad_token=END_OF_TEXT,
                                        additional_special_tokens=[t for t in SPECIAL_TOKENS
                                                                   if t not in (IM_END, END_OF_TEXT)])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_pipeline(family: str, tokenizer, seed: int = 0):
    """``pipeline("audio-to-uas")`` over a random tiny UAS-Audio model whose LM is ``family``, sized to
    ``tokenizer`` (its special-token ids and vocabulary)."""
    from transformers import pipeline

    import uas_audio
    from uas_audio.modeling import UASAudioForConditionalGeneration
    from uas_audio.processing import UASAudioFeatureExtractor, UASAudioProcessor
    from uas_audio.processing.chatml import (
        AUDIO_BOS,
        AUDIO_EOS,
        AUDIO_TOKEN,
        END_OF_TEXT,
        IM_END,
        SPEECH_BOS,
        SPEECH_EOS,
    )

    ids = tokenizer.convert_tokens_to_ids
    text = {**FAMILIES[family], "vocab_size": len(tokenizer), "eos_token_id": ids(IM_END),
            "pad_token_id": ids(END_OF_TEXT), "bos_token_id": None}
    config = uas_audio.tiny_config(text_config=text, audio_token_id=ids(AUDIO_TOKEN),
                                   audio_bos_token_id=ids(AUDIO_BOS), audio_eos_token_id=ids(AUDIO_EOS),
                                   speech_bos_token_id=ids(SPEECH_BOS), speech_eos_token_id=ids(SPEECH_EOS))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UASAudioForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = [ids(IM_END), ids(END_OF_TEXT)]
    model.generation_config.pad_token_id = ids(END_OF_TEXT)
    processor = UASAudioProcessor(UASAudioFeatureExtractor(), tokenizer)
    return pipeline("audio-to-uas", model=model, processor=processor, device="cpu")


def minimal_budget_for(pipe) -> int:
    """The shortest record's token count (end token included) for this pipeline's tokenizer and model."""
    from uas_audio.pipelines.constrained import minimal_budget, model_vocab_size, stop_token_ids, token_table
    from uas_audio.pipelines.grammar import uas_grammar_spec

    table = token_table(pipe.tokenizer, model_vocab_size(pipe.model), stop_token_ids(pipe.model, pipe.tokenizer))
    return minimal_budget(uas_grammar_spec(), table)


@dataclass
class Case:
    family: str
    tokenizer: str
    sampler: str
    band: str
    budget: int
    temperature: float | None
    durations: list[float]
    seed: int


def plan(runs: int, batch: int, seed: int, minimal: dict[tuple[str, str], int], pairs: list[tuple[str, str]],
         bands=BUDGET_BANDS, max_s: float = 8.0) -> list[Case]:
    """Cases (one ``pipe`` call of ``batch`` clips each) cycling through every (family, tokenizer) pair, sampler
    and band in a shuffled order, budgets drawn within each band (log-uniform in the open band), until ``runs``
    clips are planned."""
    rng = random.Random(seed)
    combos = [(f, k, s, b) for f, k in pairs for s in SAMPLERS for b in bands]
    rng.shuffle(combos)
    cases, planned, index = [], 0, 0
    while planned < runs:
        family, kind, sampler, (band, lo, hi) = combos[index % len(combos)]
        index += 1
        base = minimal[(family, kind)]
        if hi is None:
            budget = int(round(np.exp(rng.uniform(np.log(base + lo), np.log(4096)))))
        else:
            budget = base + rng.randint(lo, hi)
        budget = max(1, min(budget, 4096))
        n = min(batch, runs - planned)
        cases.append(Case(family, kind, sampler, band, budget,
                          rng.uniform(0.7, 1.5) if sampler == "sampled" else None,
                          [rng.uniform(0.5, max_s) for _ in range(n)], rng.randrange(2**31)))
        planned += n
    return cases


def _clips(durations: list[float], seed: int) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    return [((rng.uniform(0.01, 0.3) * rng.standard_normal(int(d * SR))).astype(np.float32), SR) for d in durations]


def run_case(pipe, case: Case, minimal: int) -> list[dict]:
    """One pipeline call; one outcome per clip: parseable, valid, budget_error, passed, and the text on failure."""
    from uas_audio.pipelines.constrained import BudgetTooSmallError

    kwargs = {"max_new_tokens": case.budget, "batch_size": len(case.durations)}
    if case.sampler == "sampled":
        kwargs.update(do_sample=True, temperature=case.temperature, top_k=0, top_p=1.0)
    torch.manual_seed(case.seed)
    try:
        results = pipe(_clips(case.durations, case.seed), **kwargs)
    except BudgetTooSmallError as err:
        passed = case.budget < minimal and str(minimal) in str(err)
        return [{"parseable": False, "valid": False, "budget_error": True, "passed": passed,
                 "detail": None if passed else str(err)} for _ in case.durations]
    outcomes = []
    for result in results:
        parseable = result.get("uas") is not None
        valid = bool(result.get("valid"))
        passed = case.budget >= minimal and parseable and valid
        outcomes.append({"parseable": parseable, "valid": valid, "budget_error": False, "passed": passed,
                         "detail": None if passed else {"text": result.get("text"), "reasons": result.get("reasons")}})
    return outcomes


ALL_PAIRS = [(f, k) for f in FAMILIES for k in TOKENIZER_KINDS]
#: The fast subset: every family and every tokenizer kind once.
QUICK_PAIRS = [("qwen2", "byte-bpe"), ("llama", "unigram"), ("gpt2", "wordpiece")]


def run_case_plain(pipe, case: Case, log_errors: bool = False) -> list[dict]:
    """The same call under xgrammar's own processor and the plain grammar (the baseline)."""
    import xgrammar as xgr

    from uas_audio.pipelines.constrained import model_vocab_size, stop_token_ids
    from uas_audio.pipelines.grammar import uas_grammar

    info = xgr.TokenizerInfo.from_huggingface(pipe.tokenizer, vocab_size=model_vocab_size(pipe.model),
                                              stop_token_ids=stop_token_ids(pipe.model, pipe.tokenizer))
    compiled = xgr.GrammarCompiler(info).compile_grammar(uas_grammar())
    kwargs = {"max_new_tokens": case.budget, "batch_size": len(case.durations), "constrained": False,
              "generate_kwargs": {"logits_processor": [xgr.contrib.hf.LogitsProcessor(compiled)]}}
    if case.sampler == "sampled":
        kwargs.update(do_sample=True, temperature=case.temperature, top_k=0, top_p=1.0)
    torch.manual_seed(case.seed)
    try:
        results = pipe(_clips(case.durations, case.seed), **kwargs)
    except Exception as err:  # noqa: BLE001 - the baseline may crash (e.g. a placeholder token written)
        if log_errors:
            print(f"baseline call raised: {err!r}"[:300], file=sys.stderr)
        return [{"parseable": False, "valid": False, "crashed": True} for _ in case.durations]
    return [{"parseable": r.get("uas") is not None, "valid": bool(r.get("valid")), "crashed": False}
            for r in results]


def fuzz(runs: int, batch: int = 8, seed: int = 0, pairs=ALL_PAIRS, bands=BUDGET_BANDS, max_s: float = 8.0,
         log=None, baseline_every: int = 0) -> tuple[dict, list]:
    """Run the fuzz; returns per-(family, tokenizer, sampler, band) counts and the failures."""
    tokenizers = {kind: build_tokenizer(kind, seed) for kind in sorted({k for _, k in pairs})}
    pipes, minimal = {}, {}
    for family, kind in pairs:
        pipes[(family, kind)] = build_pipeline(family, tokenizers[kind], seed)
        minimal[(family, kind)] = minimal_budget_for(pipes[(family, kind)])
    table: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    baseline: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures = []
    for index, case in enumerate(plan(runs, batch, seed, minimal, list(pairs), bands, max_s)):
        if baseline_every and index % baseline_every == 0:
            row = baseline[(case.tokenizer, case.sampler, case.band)]
            for outcome in run_case_plain(pipes[(case.family, case.tokenizer)], case, log_errors=log is not None):
                row["runs"] += 1
                for key in ("parseable", "valid", "crashed"):
                    row[key] += int(outcome[key])
        start = time.perf_counter()
        outcomes = run_case(pipes[(case.family, case.tokenizer)], case, minimal[(case.family, case.tokenizer)])
        row = table[(case.family, case.tokenizer, case.sampler, case.band)]
        for outcome in outcomes:
            row["runs"] += 1
            for key in ("parseable", "valid", "budget_error"):
                row[key] += int(outcome[key])
            if not outcome["passed"]:
                row["failed"] += 1
                failures.append({"case": vars(case), "detail": outcome["detail"]})
        if log:
            log(f"{case.family:<6} {case.tokenizer:<9} {case.sampler:<7} {case.band:<10} budget={case.budget:<5} "
                f"clips={len(outcomes)} {time.perf_counter() - start:.1f}s")
    return {"table": {k: dict(v) for k, v in table.items()}, "minimal": minimal,
            "baseline": {k: dict(v) for k, v in baseline.items()}}, failures


def format_table(report: dict) -> str:
    lines = [f"{'family':<7}{'tokenizer':<10}{'sampler':<8}{'budget band':<12}{'runs':>6}{'parseable':>10}"
             f"{'valid':>7}{'budget err':>11}{'failed':>8}"]
    totals: dict[str, int] = defaultdict(int)
    for (family, kind, sampler, band), row in sorted(report["table"].items()):
        lines.append(f"{family:<7}{kind:<10}{sampler:<8}{band:<12}{row.get('runs', 0):>6}{row.get('parseable', 0):>10}"
                     f"{row.get('valid', 0):>7}{row.get('budget_error', 0):>11}{row.get('failed', 0):>8}")
        for key in ("runs", "parseable", "valid", "budget_error", "failed"):
            totals[key] += row.get(key, 0)
    lines.append(f"{'all':<37}{totals['runs']:>6}{totals['parseable']:>10}{totals['valid']:>7}"
                 f"{totals['budget_error']:>11}{totals['failed']:>8}")
    minimal = ", ".join(f"{f}/{k}={n}" for (f, k), n in sorted(report["minimal"].items()))
    lines.append(f"shortest record (tokens incl. end token): {minimal}")
    if report.get("baseline"):
        lines += ["", "baseline: xgrammar's processor, plain grammar, tokenizer.decode (same calls, every k-th)",
                  f"{'tokenizer':<10}{'sampler':<8}{'budget band':<12}{'runs':>6}{'parseable':>10}{'valid':>7}"
                  f"{'crashed':>9}"]
        sums: dict[str, int] = defaultdict(int)
        for (kind, sampler, band), row in sorted(report["baseline"].items()):
            lines.append(f"{kind:<10}{sampler:<8}{band:<12}{row.get('runs', 0):>6}{row.get('parseable', 0):>10}"
                         f"{row.get('valid', 0):>7}{row.get('crashed', 0):>9}")
            for key in ("runs", "parseable", "valid", "crashed"):
                sums[key] += row.get(key, 0)
        lines.append(f"{'all':<30}{sums['runs']:>6}{sums['parseable']:>10}{sums['valid']:>7}{sums['crashed']:>9}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few runs per tokenizer kind (seconds)")
    parser.add_argument("--runs", type=int, default=None, help="clips decoded in all (default 1080, quick 48)")
    parser.add_argument("--batch", type=int, default=8, help="clips per pipeline call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="one line per pipeline call")
    parser.add_argument("--baseline-every", type=int, default=None,
                        help="run the plain-mask baseline on every k-th call (default 3, quick 2; 0: never)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = args.runs or (54 if args.quick else 1080)
    if args.quick:
        kwargs = {"pairs": QUICK_PAIRS, "bands": BUDGET_BANDS[:3], "batch": 3, "max_s": 3.0}
    else:
        kwargs = {"batch": args.batch}
    every = args.baseline_every if args.baseline_every is not None else (2 if args.quick else 3)
    start = time.perf_counter()
    report, failures = fuzz(runs, seed=args.seed, log=(lambda m: print(m, file=sys.stderr)) if args.verbose else None,
                            baseline_every=every, **kwargs)
    print(format_table(report))
    for failure in failures[:10]:
        print("FAILED", json.dumps(failure, default=str)[:600])
    total = sum(row.get("runs", 0) for row in report["table"].values())
    passed = total - sum(row.get("failed", 0) for row in report["table"].values())
    print(f"{total} runs in {time.perf_counter() - start:.0f} s")
    plain = report.get("baseline") or {}
    valid_plain = sum(r.get("valid", 0) for r in plain.values())
    runs_plain = sum(r.get("runs", 0) for r in plain.values())
    if runs_plain:
        print(f"baseline valid: {valid_plain}/{runs_plain} ({100.0 * valid_plain / runs_plain:.1f} %) of the plain-mask "
              "runs (below-minimum budgets included: no record fits them)")
    from uas_audio.evaluation.result_lines import result_line
    print(result_line("fuzz_pass_rate", 100.0 * passed / max(total, 1), "%", ">=", 100))


if __name__ == "__main__":
    main()
