"""Cost of schema-constrained decoding: tokens/s with and without the UAS grammar, and grammar compile time.

Same model, same inputs, same number of generated tokens: the constrained run generates first, then the free run
is forced to the same length with ``min_new_tokens = max_new_tokens``. Per-token overhead is
``(constrained s/token - free s/token) / free s/token``, measured on a tiny model and on a ~100M-parameter
config of the same architecture (``--quick``: the tiny model only, few tokens). The constrained run uses what
the pipeline uses: the budget-aware processor (``BudgetedGrammarProcessor`` with the timbre-gender guard) over
the grammar scaled to the 2 s clip, in two settings:

- ``roomy``: ``max_new_tokens`` = the grammar's byte bound, so the record ends on its own (the pipeline's
  default budget); the processor only applies xgrammar's mask (and the guard inside a timbre).
- ``tight``: ``max_new_tokens`` = ``--tokens``, below what the random model would write, so the processor
  measures the shortest completion at every step near the end and forces the record closed.

The RESULT line reports the roomy setting on the largest model measured (the pipeline's default); the tight
setting is printed beside it. The grammar's per-token cost is fixed, so its share shrinks as the model grows.

Compile time: the first compile for a tokenizer (token table + grammar) after clearing the cache, and the
cached lookup a pipeline call pays (``grammar_logits_processor``: fingerprint lookup + cache hit).

    python benchmarks/constrained_decoding.py [--quick] [--tokens N] [--batch B] [--threads T] [--device D]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import uas_audio
from uas_audio.evaluation.result_lines import result_line
from uas_audio.pipelines.constrained import (
    BudgetedGrammarProcessor,
    TimbreGenderGuard,
    clear_cache,
    compile_grammar,
    grammar_logits_processor,
    model_vocab_size,
    stop_token_ids,
    token_table,
)
from uas_audio.pipelines.grammar import GrammarLimits, max_output_bytes, uas_grammar, uas_grammar_spec
from uas_audio.schema import HOLISTIC_PROMPT

# ~100M parameters with the tiny model's architecture (Qwen2 LLM; the audio encoder stays tiny).
MEDIUM_TEXT_CONFIG = {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12,
                      "num_attention_heads": 12, "num_key_value_heads": 4}


def _inputs(processor, batch: int, device: str) -> dict:
    rng = np.random.default_rng(0)
    conversations = [[{"role": "user", "content": [
        {"type": "audio", "audio": (0.1 * rng.standard_normal(16_000 * 2)).astype(np.float32)},
        {"type": "text", "text": HOLISTIC_PROMPT}]}] for _ in range(batch)]
    inputs = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    return {k: v.to(device) for k, v in inputs.items()}


CLIP_S = 2.0


def _timed_generate(model, inputs, tokens: int, processor=None, grammar=None) -> tuple[float, int]:
    """Seconds and generated tokens per row of one greedy ``generate``."""
    kwargs = {"max_new_tokens": tokens, "do_sample": False}
    if grammar is None:
        kwargs["min_new_tokens"] = tokens
    else:
        tokenizer = processor.tokenizer
        table = token_table(tokenizer, model_vocab_size(model), stop_token_ids(model, tokenizer))
        kwargs["logits_processor"] = [BudgetedGrammarProcessor(table, grammar, max_new_tokens=tokens, candidates=1,
                                                               guard=TimbreGenderGuard(table))]
    if inputs["input_ids"].is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**inputs, **kwargs)
    if inputs["input_ids"].is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, out.shape[1] - inputs["input_ids"].shape[1]


def measure_decoding(name: str, model, processor, tokens: int, batch: int, repeats: int, device: str,
                     limits: GrammarLimits) -> dict:
    model = model.to(device).eval()
    inputs = _inputs(processor, batch, device)
    grammar = uas_grammar_spec(limits.for_duration(CLIP_S))
    _timed_generate(model, inputs, 200, processor, grammar)  # warm-up: kernels, caches, grammar compile
    _timed_generate(model, inputs, 4)
    # Greedy decoding is deterministic: an untimed constrained run fixes the length the free runs are forced to.
    _, n = _timed_generate(model, inputs, tokens, processor, grammar)
    constrained, free = [], []
    for repeat in range(repeats):
        # Alternate the order so that drifting machine load favours neither side.
        runs = [("c", grammar), ("f", None)] if repeat % 2 == 0 else [("f", None), ("c", grammar)]
        for kind, g in runs:
            # the constrained run keeps its budget (a smaller one would close the record differently)
            seconds, m = _timed_generate(model, inputs, tokens if g is not None else n, processor, g)
            assert m == n, f"{kind} run generated {m} tokens, expected {n}"
            (constrained if kind == "c" else free).append(seconds / m)
    c, f = statistics.median(constrained), statistics.median(free)
    params = sum(p.numel() for p in model.parameters())
    return {"model": name, "params_m": params / 1e6, "tokens": n, "batch": batch,
            "free_tok_s": batch / f, "constrained_tok_s": batch / c, "overhead_pct": 100.0 * (c - f) / f}


def measure_settings(name: str, build, processor, tokens: int, batch: int, repeats: int, device: str,
                     limits: GrammarLimits) -> list[dict]:
    """The roomy and the tight budget on one model."""
    roomy = max_output_bytes(None, limits.for_duration(CLIP_S)) + 1
    model = build()
    rows = []
    for setting, budget in (("roomy", roomy), ("tight", tokens)):
        row = measure_decoding(name, model, processor, budget, batch, repeats, device, limits)
        rows.append({**row, "setting": setting, "budget": budget})
    return rows


def measure_compile(model, processor, repeats: int = 50) -> tuple[float, float]:
    """First compile after a cleared cache, and the median cached lookup, in milliseconds."""
    grammar = uas_grammar()
    clear_cache()
    start = time.perf_counter()
    compile_grammar(processor.tokenizer, grammar, model_vocab_size(model), stop_token_ids(model, processor.tokenizer))
    first = (time.perf_counter() - start) * 1e3
    cached = []
    for _ in range(repeats):
        start = time.perf_counter()
        grammar_logits_processor(model, processor.tokenizer, grammar)
        cached.append((time.perf_counter() - start) * 1e3)
    return first, statistics.median(cached)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model only, few tokens (seconds)")
    parser.add_argument("--tokens", type=int, default=None,
                        help="the tight budget, in new tokens (default 128, quick 80)")
    parser.add_argument("--batch", type=int, default=1, help="clips per generate call")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per setting (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokens = args.tokens or (80 if args.quick else 128)
    # Short strings keep the roomy record (which a random model fills to its limits) near 200 (quick) or 400
    # tokens: the per-token cost does not depend on the record's length.
    limits = GrammarLimits(transcription=24, accent=8, prosody=8, timbre=8, description=24, label=8,
                           characteristic=8, max_events=1) if args.quick else \
        GrammarLimits(transcription=64, accent=16, prosody=16, timbre=16, description=64, label=16,
                      characteristic=16, max_events=2)
    repeats = args.repeats or (2 if args.quick else 3)

    processor = uas_audio.tiny_processor()
    models = [("tiny", lambda: uas_audio.tiny_model(seed=0))]
    if not args.quick:
        models.append(("~100M", lambda: uas_audio.tiny_model(seed=0, text_config=MEDIUM_TEXT_CONFIG)))

    rows = [row for name, build in models
            for row in measure_settings(name, build, processor, tokens, args.batch, repeats, args.device, limits)]
    first_ms, cached_ms = measure_compile(uas_audio.tiny_model(seed=0), processor)

    print(f"device={args.device} threads={args.threads} batch={args.batch} tight budget={tokens} repeats={repeats}")
    print(f"{'model':<8}{'budget':<14}{'params (M)':>12}{'tokens':>8}{'free tok/s':>13}{'UAS-constrained tok/s':>24}"
          f"{'overhead %':>12}")
    for r in rows:
        budget = f"{r['setting']} {r['budget']}"
        print(f"{r['model']:<8}{budget:<14}{r['params_m']:>12.1f}{r['tokens']:>8d}{r['free_tok_s']:>13.1f}"
              f"{r['constrained_tok_s']:>24.1f}{r['overhead_pct']:>12.1f}")
    print(f"grammar compile: first {first_ms:.1f} ms, cached {cached_ms:.3f} ms")
    roomy = [r for r in rows if r["setting"] == "roomy"][-1]
    print(result_line("constraint_overhead", roomy["overhead_pct"], "%", "<=", 15))
    print(result_line("cached_compile_ms", cached_ms, "ms", "<=", 10, digits=3))


if __name__ == "__main__":
    main()
