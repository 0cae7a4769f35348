"""Run a model over benchmark items and keep every prediction on disk as it is made.

Anything that answers a batch of items is a :class:`Predictor`: a UAS-Audio ``audio-to-uas`` pipeline
(:class:`PipelinePredictor`), any transformers audio chat model with a processor that has a chat template
(:class:`ChatModelPredictor`, batched generation), or a plain function in tests. :func:`run_predictions`
appends one JSON line per item to a file and flushes it, so an interrupted run resumes where it stopped,
never recomputing or duplicating an item.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence, runtime_checkable

from ..schema import ASR_PROMPT, HOLISTIC_PROMPT, mcq_prompt
from .benchmarks import EvalItem
from .scoring import SCORERS, MCQResult, score_mcq

logger = logging.getLogger(__name__)


@runtime_checkable
class Predictor(Protocol):
    """Answers a batch of items with one response text each, in order."""

    def predict(self, items: Sequence[EvalItem]) -> list[str]: ...


def mcq_prompt_for(item: EvalItem) -> str:
    """The benchmark prompt of an item: the question, a blank line, then "A. …" option lines."""
    return mcq_prompt(item.question, item.choices)


def asr_prompt_for(item: EvalItem) -> str:
    """The targeted transcription prompt."""
    return ASR_PROMPT


def holistic_prompt_for(item: EvalItem) -> str:
    """The holistic prompt: the full UAS JSON record."""
    return HOLISTIC_PROMPT


# ------------------------------------------------------------------------------------------------ storage
def read_predictions(path: str | Path) -> dict[str, dict[str, Any]]:
    """Records already in a predictions JSONL, by item id. A last line cut short by a crash is dropped
    (and cut from the file, so appending continues on a clean line)."""
    path = Path(path)
    if not path.exists():
        return {}
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        logger.warning("%s: dropping an unfinished last line (%d bytes) from an interrupted run", path, len(raw) - cut)
        with open(path, "r+b") as f:
            f.truncate(cut)
        raw = raw[:cut]
    records: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{lineno}: not a JSON line ({e}); is this a predictions file?") from e
        if "id" not in rec:
            raise ValueError(f"{path}:{lineno}: prediction record without an 'id'")
        records[str(rec["id"])] = rec
    return records


def run_predictions(predictor: Predictor | Callable[[Sequence[EvalItem]], list[str]], items: Sequence[EvalItem],
                    path: str | Path, batch_size: int = 8, progress: bool = False) -> dict[str, str | None]:
    """Predict every item not yet in ``path`` (JSONL, appended and flushed per item) and return id → prediction
    for all items. Items whose audio is missing are recorded with their error and no prediction, and predicted
    on a later run once their audio exists."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    predict = predictor.predict if isinstance(predictor, Predictor) else predictor
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_predictions(path)
    known = {item.id for item in items}
    stray = sorted(set(done) - known)
    if stray:
        logger.warning("%s: %d recorded prediction(s) are not in this item set (e.g. %s)", path, len(stray), stray[0])
    # An item recorded with an audio error is retried once its audio is there; its new line supersedes the old.
    todo = [item for item in items
            if item.id not in done or (done[item.id].get("error") is not None and item.error is None)]
    if len(todo) < len(items):
        logger.info("%s: resuming, %d of %d items already predicted", path, len(items) - len(todo), len(items))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="predict")
    with open(path, "a", encoding="utf-8") as out:
        def write(record: dict[str, Any]) -> None:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
            done[record["id"]] = record

        failed = [item for item in todo if item.error is not None]
        for item in failed:
            write({"id": item.id, "prediction": None, "error": item.error})
        ready = [item for item in todo if item.error is None]
        for start in range(0, len(ready), batch_size):
            batch = ready[start:start + batch_size]
            for item, text, error in _predict_batch(predict, batch):
                write({"id": item.id, "prediction": text} if error is None
                      else {"id": item.id, "prediction": None, "error": error})
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    return {item.id: done[item.id].get("prediction") for item in items}


def _audio_error(err: BaseException | None) -> BaseException | None:
    """The ``AudioDecodeError`` behind ``err`` (itself, or in its cause chain: a pipeline may wrap it), or None."""
    from ..audio import AudioDecodeError

    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, AudioDecodeError):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def _predict_batch(predict: Callable[[Sequence[EvalItem]], list[str]], batch: Sequence[EvalItem]
                   ) -> list[tuple[EvalItem, str | None, str | None]]:
    """(item, prediction, error) for a batch. Audio that does not decode fails the whole batch: the batch is then
    predicted item by item, and an item whose audio fails keeps its place with the reason, like a missing file."""
    try:
        outputs = predict(batch)
    except Exception as err:
        cause = _audio_error(err)
        if cause is None:
            raise
        if len(batch) == 1:
            logger.warning("%s: %s (counted wrong)", batch[0].id, cause)
            return [(batch[0], None, str(cause))]
        return [result for item in batch for result in _predict_batch(predict, [item])]
    if len(outputs) != len(batch):
        raise RuntimeError(f"predictor returned {len(outputs)} outputs for a batch of {len(batch)} items")
    return [(item, text, None) for item, text in zip(batch, outputs)]


# ---------------------------------------------------------------------------------------------- predictors
@dataclass
class PipelinePredictor:
    """A UAS-Audio ``audio-to-uas`` pipeline as a predictor, in one of its modes:

    - ``mcq``: ``pipe(audio, question=…, choices=[…])`` → {"answer", "choice", "text"}; the raw ``text`` is the
      prediction, as the benchmark scripts see a model's raw answer;
    - ``holistic``: ``pipe(audio)`` → the UAS record (JSON), schema-constrained;
    - ``asr``: ``pipe(audio, task="transcribe")`` → the transcription.

    ``generate_kwargs`` (e.g. ``max_new_tokens``) pass through to generation.
    """

    pipe: Any
    mode: str = "mcq"
    generate_kwargs: dict[str, Any] = field(default_factory=dict)

    def predict(self, items: Sequence[EvalItem]) -> list[str]:
        if self.mode == "mcq":
            outs = [self.pipe(item.audio, question=item.question, choices=list(item.choices), **self.generate_kwargs)
                    for item in items]
            return [str(o.get("text", "")) for o in outs]
        extra = {"task": "transcribe"} if self.mode == "asr" else {}
        outs = self.pipe([item.audio for item in items], batch_size=len(items), **extra, **self.generate_kwargs)
        if self.mode == "asr":
            return [str(o.get("transcription", o.get("text", ""))) for o in outs]
        return [json.dumps(o["uas"], ensure_ascii=False) if o.get("uas") is not None else str(o.get("text", ""))
                for o in outs]


@dataclass
class ASRPipelinePredictor:
    """A transformers ``automatic-speech-recognition`` pipeline (e.g. Whisper) as a predictor: transcripts."""

    pipe: Any
    sampling_rate: int = 16_000
    generate_kwargs: dict[str, Any] = field(default_factory=dict)

    def predict(self, items: Sequence[EvalItem]) -> list[str]:
        from ..audio import load_audio

        inputs = [{"raw": load_audio(item.audio, sampling_rate=self.sampling_rate), "sampling_rate": self.sampling_rate}
                  for item in items]
        extra = {"generate_kwargs": self.generate_kwargs} if self.generate_kwargs else {}
        outputs = self.pipe(inputs, batch_size=len(items), **extra)
        return [str(o.get("text", "")).strip() if isinstance(o, dict) else str(o) for o in outputs]


@dataclass
class ChatModelPredictor:
    """Any transformers audio chat model + processor (chat template with an audio part), batched greedy
    generation. ``prompt`` builds the text part from an item (the benchmark's MCQ prompt by default)."""

    model: Any
    processor: Any
    prompt: Callable[[EvalItem], str] = mcq_prompt_for
    max_new_tokens: int = 32
    sampling_rate: int | None = None

    def _rate(self) -> int:
        if self.sampling_rate:
            return self.sampling_rate
        fe = getattr(self.processor, "feature_extractor", None)
        return int(getattr(fe, "sampling_rate", 16_000))

    def predict(self, items: Sequence[EvalItem]) -> list[str]:
        import torch

        from ..audio import load_audio

        rate = self._rate()
        conversations = [[{"role": "user", "content": [
            {"type": "audio", "audio": load_audio(item.audio, sampling_rate=rate)},
            {"type": "text", "text": self.prompt(item)},
        ]}] for item in items]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        old_side = getattr(tokenizer, "padding_side", None)
        tokenizer.padding_side = "left"  # decoder-only batched generation continues from the right edge
        try:
            inputs = self.processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True,
                                                        return_dict=True, return_tensors="pt",
                                                        processor_kwargs={"padding": True})
        finally:
            if old_side is not None:
                tokenizer.padding_side = old_side
        device = getattr(self.model, "device", None)
        if device is not None:
            inputs = inputs.to(device)
        with torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]


PredictMode = Literal["mcq", "asr", "holistic"]
_PROMPTS: dict[str, Callable[[EvalItem], str]] = {"mcq": mcq_prompt_for, "asr": asr_prompt_for,
                                                  "holistic": holistic_prompt_for}


def is_uas_audio_model(model: str | Path) -> bool:
    """Whether a model directory or Hub id holds a UAS-Audio checkpoint (by its config's model type)."""
    import transformers

    import uas_audio  # noqa: F401  (registers the UAS-Audio config with AutoConfig)
    from uas_audio.trainers.lora import is_lora_folder, lora_base

    if is_lora_folder(model):  # a `train --lora` output: the model type is its base's
        model = lora_base(model)
    return getattr(transformers.AutoConfig.from_pretrained(str(model)), "model_type", "") == "uas_audio"


def load_predictor(model: str | Path, mode: PredictMode = "mcq", *, prefer_pipeline: bool = True,
                   max_new_tokens: int | None = None, device: str | None = None) -> Predictor:
    """A predictor for a model directory or Hub id: for a UAS-Audio checkpoint the ``audio-to-uas`` pipeline in
    the matching mode (MCQ answer, schema-constrained holistic UAS, transcription); otherwise the model with its
    processor's chat template and the mode's prompt (any transformers audio chat model)."""
    import transformers

    if mode not in _PROMPTS:
        raise ValueError(f"unknown predictor mode {mode!r}; expected one of {tuple(_PROMPTS)}")
    if is_uas_audio_model(model) and prefer_pipeline:
        try:
            pipe = transformers.pipeline("audio-to-uas", model=str(model), device=device)
        except KeyError as e:  # the task is not registered in this installation
            logger.warning("audio-to-uas pipeline unavailable (%s); using the chat model directly", e)
        else:
            return PipelinePredictor(pipe, mode, {"max_new_tokens": max_new_tokens} if max_new_tokens else {})
    processor = transformers.AutoProcessor.from_pretrained(str(model))
    auto_classes = [getattr(transformers, n) for n in ("AutoModelForMultimodalLM", "AutoModelForCausalLM",
                                                       "AutoModelForImageTextToText") if hasattr(transformers, n)]
    errors = []
    for auto in auto_classes:
        try:
            lm = auto.from_pretrained(str(model))
            break
        except (ValueError, KeyError) as e:  # the config is not registered with this Auto class
            errors.append(f"{auto.__name__}: {e}")
    else:
        raise ValueError(f"{model}: no transformers Auto class loads this model as a chat model ({'; '.join(errors)})")
    if device is not None:
        lm = lm.to(device)
    lm.eval()
    default_tokens = {"mcq": 32, "asr": 256, "holistic": 768}[mode]
    return ChatModelPredictor(lm, processor, prompt=_PROMPTS[mode], max_new_tokens=max_new_tokens or default_tokens)


# ------------------------------------------------------------------------------------------------ MCQ runs
def evaluate_mcq(predictor: Predictor | Callable, items: Sequence[EvalItem], out_dir: str | Path,
                 batch_size: int = 8, map_letters: bool = True, progress: bool = False) -> dict[str, MCQResult]:
    """Predict (resuming from ``out_dir/predictions.jsonl``) and score under both scorers; writes
    ``out_dir/scores.json`` and returns {"official": …, "strict": …}."""
    out_dir = Path(out_dir)
    predictions = run_predictions(predictor, items, out_dir / "predictions.jsonl", batch_size, progress)
    results = {s: score_mcq(items, predictions, s, map_letters=map_letters) for s in SCORERS}
    (out_dir / "scores.json").write_text(json.dumps({s: r.to_dict() for s, r in results.items()}, indent=2))
    return results


def format_mcq_table(results: dict[str, MCQResult]) -> str:
    """A plain-text table: overall and every category breakdown, one column per scorer."""
    scorers = list(results)
    first = results[scorers[0]]
    rows = [("overall", "", {s: results[s].overall for s in scorers})]
    for key, groups in first.by.items():
        for value in sorted(groups):
            rows.append((key, value, {s: results[s].by[key][value] for s in scorers}))
    head = f"{'breakdown':<22} {'value':<34} {'n':>6} " + " ".join(f"{s:>10}" for s in scorers) + f" {'skipped':>8}"
    lines = [f"{first.bench.upper()}", head, "-" * len(head)]
    for key, value, groups in rows:
        g0 = groups[scorers[0]]
        n = g0.counted + g0.skipped
        accs = " ".join(f"{100 * groups[s].accuracy:>9.2f}%" for s in scorers)
        lines.append(f"{key:<22} {value[:34]:<34} {n:>6} {accs} {g0.skipped:>8}")
    return "\n".join(lines)
