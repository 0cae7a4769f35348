"""``uas-audio eval``: one benchmark, one model, predictions kept on disk, a report and figures written.

``--bench mmsu|mmau|mmar``: multiple-choice accuracy under both scorers with every category breakdown.
``--bench asr``: WER/CER of the ASR prompt and of the transcription field of holistic UAS (paper Table 3).
``--bench tts``: Seed-TTS WER of already generated audio, ``--model`` being the ASR model that transcribes it.
``--bench uas``: per-field accuracy of holistic UAS output against reference records, with Wilson intervals.
Every run resumes from the prediction files in ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .benchmarks import BENCHMARKS, load_benchmark, load_reference_items

EVAL_BENCHES: tuple[str, ...] = (*BENCHMARKS, "asr", "tts", "uas")


def run_eval(model: str, bench: str, data: str, *, audio_root: str | None = None, scorer: str = "official",
             out: str = "eval-out", batch_size: int = 8, language: str = "en", limit: int | None = None,
             device: str | None = None, max_new_tokens: int | None = None) -> dict:
    """Evaluate ``model`` on ``bench`` from ``data``; writes ``out/report.json`` (and figures) and returns it."""
    if bench not in EVAL_BENCHES:
        raise ValueError(f"unknown benchmark {bench!r}; expected one of {EVAL_BENCHES}")
    require_model(model)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if bench in BENCHMARKS:
        report = _mcq(model, bench, data, audio_root, scorer, out_dir, batch_size, limit, device, max_new_tokens)
    else:
        items = load_reference_items(bench, data, audio_root)[:limit]
        report = {"asr": _asr, "tts": _tts, "uas": _uas}[bench](model, items, out_dir, batch_size, language, device,
                                                                max_new_tokens)
    prediction_files = {"mmsu": "predictions.jsonl", "mmau": "predictions.jsonl", "mmar": "predictions.jsonl",
                        "asr": "asr_targeted.jsonl", "tts": "tts_transcripts.jsonl", "uas": "uas_holistic.jsonl"}
    errors = audio_errors(out_dir / prediction_files[bench])
    if errors:
        print(f"{len(errors)} item(s) without a prediction, counted wrong (first: {next(iter(errors.items()))}); "
              f"all in report.json under audio_errors")
    report = {"model": str(model), "bench": bench, "data": str(data), **report, "audio_errors": errors}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def require_model(model: str | Path) -> None:
    """Refuse, before anything heavy loads, a ``--model`` that names nothing: a path that does not exist, or (with
    ``HF_HUB_OFFLINE``) a Hub id that is not in the local cache. Online, a Hub id is left to transformers."""
    import os

    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{text}: a model is a folder (config.json and weights), not a file")
        return
    parts = text.split("/")
    could_be_hub_id = (len(parts) <= 2 and all(parts) and not text.startswith((".", "~"))
                       and "\\" not in text)
    if not could_be_hub_id:
        raise FileNotFoundError(f"no model at {text}")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(text, "config.json")
        if not isinstance(cached, str):
            raise FileNotFoundError(f"no model at {text}: no such folder, and not in the Hugging Face cache "
                                    "(HF_HUB_OFFLINE is set, nothing is downloaded)")


def audio_errors(predictions_file: Path) -> dict[str, str]:
    """id → reason of the items recorded without a prediction (audio missing or undecodable)."""
    from .runner import read_predictions

    return {i: str(rec["error"]) for i, rec in read_predictions(predictions_file).items()
            if rec.get("prediction") is None and rec.get("error")}


def _mcq(model, bench, data, audio_root, scorer, out_dir, batch_size, limit, device, max_new_tokens) -> dict:
    from .plots import plot_perception_reasoning
    from .runner import evaluate_mcq, format_mcq_table, load_predictor

    items = load_benchmark(bench, data, audio_root)[:limit]
    predictor = load_predictor(model, "mcq", device=device, max_new_tokens=max_new_tokens)
    results = evaluate_mcq(predictor, items, out_dir, batch_size=batch_size, progress=True)
    print(format_mcq_table(results))
    missing = results[scorer].overall.errors
    headline = results[scorer]
    report = {"scorer": scorer, "accuracy": headline.accuracy, "missing_audio": missing,
              "results": {s: r.to_dict() for s, r in results.items()}}
    split = headline.by.get("split", {})
    if "perception" in split and "reasoning" in split:
        name = Path(str(model)).name or str(model)
        bars = {name: (100 * split["perception"].accuracy, 100 * split["reasoning"].accuracy)}
        figs = plot_perception_reasoning(bars, out_dir / "perception_reasoning")
        report["figures"] = [str(f) for f in figs]
    print(f"RESULT {bench} {scorer}: {100 * headline.accuracy:.2f} %")
    return report


def _asr(model, items, out_dir, batch_size, language, device, max_new_tokens) -> dict:
    from .asr import error_rates, holistic_vs_targeted
    from .runner import is_uas_audio_model, load_predictor, run_predictions

    refs = {item.id: item.answer for item in items}
    targeted_predictor = _asr_predictor(model, device, max_new_tokens)
    targeted = run_predictions(targeted_predictor, items, out_dir / "asr_targeted.jsonl", batch_size, progress=True)
    report: dict = {"language": language, "items": len(items)}
    if is_uas_audio_model(model):
        holistic_predictor = load_predictor(model, "holistic", device=device, max_new_tokens=max_new_tokens)
        holistic = run_predictions(holistic_predictor, items, out_dir / "asr_holistic.jsonl", batch_size, progress=True)
        cmp = holistic_vs_targeted(refs, targeted, holistic, language)  # type: ignore[arg-type]
        report.update({"metric": cmp.targeted.metric, **cmp.as_row(), "unparseable": cmp.unparseable_holistic})
        print(f"{cmp.targeted.metric.upper()} targeted {100 * cmp.targeted.rate:.2f} % | holistic "
              f"{100 * cmp.holistic.rate:.2f} % ({len(cmp.unparseable_holistic)} unparseable holistic outputs)")
    else:
        result = error_rates(refs, targeted, language)  # type: ignore[arg-type]
        report.update({"metric": result.metric, "targeted": 100 * result.rate})
    print(f"RESULT asr {report['metric']}: {report['targeted']:.2f} %")
    return report


def _asr_predictor(model, device, max_new_tokens):
    """A UAS-Audio checkpoint transcribes through its pipeline; any other model through transformers'
    speech-recognition pipeline (Whisper, wav2vec2, …) or, failing that, as a chat model with the ASR prompt."""
    import transformers

    from .runner import ASRPipelinePredictor, is_uas_audio_model, load_predictor

    if not is_uas_audio_model(model):
        try:
            pipe = transformers.pipeline("automatic-speech-recognition", model=str(model), device=device)
            # CTC models do not generate: a token budget applies to sequence-to-sequence ones only
            gen = {"max_new_tokens": max_new_tokens} if max_new_tokens and pipe.type.startswith("seq2seq") else {}
            return ASRPipelinePredictor(pipe, generate_kwargs=gen)
        except (ValueError, KeyError, OSError):  # not a speech-recognition model: try it as an audio chat model
            pass
    return load_predictor(model, "asr", device=device, max_new_tokens=max_new_tokens)


def _tts(model, items, out_dir, batch_size, language, device, max_new_tokens) -> dict:
    from .runner import run_predictions
    from .tts import seed_tts_wer

    transcripts = run_predictions(_asr_predictor(model, device, max_new_tokens), items,
                                  out_dir / "tts_transcripts.jsonl", batch_size, progress=True)
    result = seed_tts_wer({item.id: item.answer for item in items}, transcripts, language)  # type: ignore[arg-type]
    print(f"RESULT tts seed-{language} wer: {result.wer:.2f} %")
    return {"language": language, "wer": result.wer, "utterances": result.utterances}


def _uas(model, items, out_dir, batch_size, language, device, max_new_tokens) -> dict:
    from .plots import plot_confusion, plot_field_accuracy
    from .runner import load_predictor, run_predictions
    from .uas_fields import CATEGORICAL_FIELDS, compare_uas, confusion_counts

    predictor = load_predictor(model, "holistic", device=device, max_new_tokens=max_new_tokens)
    outputs = run_predictions(predictor, items, out_dir / "uas_holistic.jsonl", batch_size, progress=True)
    refs = {item.id: item.answer for item in items}
    report = compare_uas(outputs, refs, language=language)  # type: ignore[arg-type]
    figures = plot_field_accuracy(report.fields, out_dir / "field_accuracy")
    for path in CATEGORICAL_FIELDS:
        labels, matrix = confusion_counts(outputs, refs, path)
        if any(any(row) for row in matrix):
            figures += plot_confusion(labels, matrix, out_dir / f"confusion_{path.split('.')[-1]}", title=path)
    for path, fa in report.fields.items():
        low, high = fa.interval
        print(f"{path:<40} {100 * fa.accuracy:6.2f} % [{100 * low:6.2f}, {100 * high:6.2f}] n={fa.n}")
    mean = sum(f.accuracy for f in report.fields.values()) / len(report.fields)
    print(f"RESULT uas mean field accuracy: {100 * mean:.2f} %")
    return {**report.to_dict(), "mean_field_accuracy": mean, "figures": [str(f) for f in figures]}
