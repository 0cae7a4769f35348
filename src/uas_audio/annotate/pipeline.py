"""Stages 1-3 over a whole corpus: experts → synthesizer → validation, written as resumable parquet shards.

Layout of an output directory (rank r of world w under ``accelerate launch``, or r=0, w=1)::

    shard-r000-of-001-00000.parquet   rows [0, shard_size) of this process's part of the source
    manifest-r000-of-001.json         which shards are done (rows, first/last id) and the run's config hash
    report.json, report.md            written once every process has finished

Crash safety: a shard is written to a temporary file, flushed and atomically renamed; only then is the
manifest (itself replaced atomically) updated. A restart with the same command skips the shards the
manifest lists, deletes leftover temporary files and recomputes everything else, so a run killed at any
moment finishes with exactly the rows of an uninterrupted run.

Every row gets a ``status``: ``accepted`` (valid UAS), ``rejected`` (a candidate failed a stage-3 check;
``reasons`` carries the validator's codes) or ``error`` (no candidate: undecodable audio, an expert
failure, an LLM backend failure; codes below). Bad rows never stop the run.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..schema import uas_features, validate
from .clip import Clip
from .confidence import filter_event_labels, gender_confidence, gender_posterior, speech_presence
from .config import AnnotateConfig
from .experts import build_experts, describe, expert_info, run_experts
from .report import summarize, write_report
from .sources import open_source
from .synthesize import SynthesisInput, build_synthesizer

logger = logging.getLogger(__name__)

ACCEPTED, REJECTED, ERROR = "accepted", "rejected", "error"
#: Error codes (the rejection codes are the validator's: ontology, transcription_integrity, ...).
AUDIO_DECODE = "audio_decode"
EXPERT_FAILURE = "expert_failure"
#: Rejections of stage 1: speech without a (confident) transcript; a field the experts are not sure of.
NEEDS_TRANSCRIPT = "needs_transcript"
LOW_CONFIDENCE = "low_confidence"
#: Audio shorter than this cannot be analysed (one STFT frame): an audio_decode error, not an expert failure.
MIN_SAMPLES = 512
BACKEND_PREFIX = "backend_"  # backend_timeout, backend_http, backend_connection, backend_response

_MANIFEST_FORMAT = 1


def output_features(keep_audio: bool = True):
    """The ``datasets.Features`` of every output shard."""
    from datasets import Audio, Features, List, Value

    reason = {"code": Value("string"), "field": Value("string"), "message": Value("string")}
    features = {
        "id": Value("string"),
        "status": Value("string"),
        "reasons": List(reason),
        "uas": uas_features(),
        "candidate": Value("string"),
        "caption": Value("string"),
        "measurements": Value("string"),
        "transcript": Value("string"),
        "duration_s": Value("float64"),
    }
    if keep_audio:
        features["audio"] = Audio(decode=False)
    return Features(features)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _safe_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _candidate_text(out) -> str | None:
    if out.uas is None:
        return out.raw
    try:
        return json.dumps(out.uas, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        return None


def _reason(code: str, field: str, message: str) -> dict[str, str]:
    return {"code": code, "field": field, "message": message}


@dataclass
class BatchState:
    """One batch between the stages: its output rows so far, the decodable clips (``positions``: their rows)
    and the measurements gathered for them. Engines that run the stages apart (``ray_engine``) pass it along."""

    rows: list[dict[str, Any]]
    clips: list[Clip]
    positions: list[int]
    measurements: list[dict[str, Any]]
    truths: list[Any]
    has_transcript: bool


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    clash = sorted(set(old) & set(new))
    if clash:
        raise ValueError(f"expert columns {clash} were already set by another expert")
    return {**old, **new}


class BatchAnnotator:
    """Stages 1-3 for one batch of source rows (a dict of columns) → output columns.

    Picklable (for ``datasets.map(num_proc=...)``): experts and synthesizer are built lazily in each process.
    ``decode`` → ``measure`` → ``finish`` are the stages ``__call__`` chains; the Ray engine runs them apart.
    """

    def __init__(self, config: AnnotateConfig, has_transcript: bool, experts: list | None = None):
        self.config, self.has_transcript = config, has_transcript
        self._experts = experts
        self._synthesizer = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "has_transcript": self.has_transcript, "_experts": None, "_synthesizer": None}

    @property
    def experts(self):
        if self._experts is None:
            self._experts = build_experts(self.config.experts)
        return self._experts

    @property
    def synthesizer(self):
        if self._synthesizer is None:
            self._synthesizer = build_synthesizer(self.config.synthesizer)
        return self._synthesizer

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        state = self.decode(batch)
        self.measure(state, self.experts)
        return self.finish(state)

    def decode(self, batch: dict[str, list]) -> "BatchState":
        """Stage 0: the output rows of ``batch`` and its decodable clips (an undecodable row is an error row)."""
        from ..audio import load_audio

        cfg = self.config
        audios = batch[cfg.audio_column]
        n = len(audios)
        ids = [str(v) for v in batch[cfg.id_column]]
        # A streamed source of unknown columns may lack the transcript column: then there is no ground truth.
        has_transcript = self.has_transcript and cfg.transcript_column in batch
        truths = batch[cfg.transcript_column] if has_transcript else [None] * n
        rows: list[dict[str, Any]] = [
            {"id": ids[i], "status": None, "reasons": [], "uas": None, "candidate": None, "caption": None,
             "measurements": None, "transcript": truths[i], "duration_s": None} for i in range(n)
        ]
        if cfg.keep_audio:
            for row, audio in zip(rows, audios):
                row["audio"] = audio

        clips: list[Clip] = []
        positions: list[int] = []
        for i, audio in enumerate(audios):
            try:
                wave = load_audio(audio, sampling_rate=cfg.sampling_rate)
                if wave.size == 0:
                    raise ValueError("the audio has no samples")
                if wave.size < MIN_SAMPLES:
                    raise ValueError(f"the audio is too short to analyse ({wave.size} samples at "
                                     f"{cfg.sampling_rate} Hz; at least {MIN_SAMPLES} needed)")
                if not np.all(np.isfinite(wave)):
                    raise ValueError("the audio holds NaN or infinite samples")
            except Exception as err:  # noqa: BLE001 - any undecodable row is recorded, never fatal
                rows[i].update(status=ERROR, reasons=[_reason(AUDIO_DECODE, "audio", f"{ids[i]}: {err}")])
                continue
            rows[i]["duration_s"] = len(wave) / cfg.sampling_rate
            clips.append(Clip(ids[i], wave, cfg.sampling_rate, truths[i], ground_truth=has_transcript))
            positions.append(i)
        return BatchState(rows, clips, positions, [{} for _ in clips], truths, has_transcript)

    def measure(self, state: "BatchState", experts: list) -> None:
        """Stage 1 with ``experts`` (all of them, or one engine stage's share): their measurements are merged
        into ``state``; if the batch fails, clip by clip, so one bad clip becomes an error row of its own."""
        if not state.clips:
            return
        try:
            produced = run_experts(experts, state.clips)
            state.measurements = [_merge(old, new) for old, new in zip(state.measurements, produced)]
            return
        except Exception:  # noqa: BLE001
            logger.warning("experts failed on a batch; retrying clip by clip", exc_info=True)
        kept = []
        for clip, pos, old in zip(state.clips, state.positions, state.measurements):
            try:
                kept.append((clip, pos, _merge(old, run_experts(experts, [clip])[0])))
            except Exception as err:  # noqa: BLE001
                state.rows[pos].update(status=ERROR, reasons=[_reason(EXPERT_FAILURE, "", f"{clip.id}: {type(err).__name__}: {err}")])
        state.clips, state.positions, state.measurements = ([k[i] for k in kept] for i in range(3))

    def finish(self, state: "BatchState") -> dict[str, list]:
        """Stages 2 and 3 (synthesis, validation) on a measured batch → the output columns."""
        cfg, rows, truths, has_transcript = self.config, state.rows, state.truths, state.has_transcript
        measured = zip(state.clips, state.positions, state.measurements)
        items, item_positions = [], []
        for clip, pos, m in measured:
            if has_transcript:
                reference = truths[pos]
                speech = bool(reference and str(reference).strip())
            else:
                speech, speech_conf, decider = speech_presence(m)
                m.update(speech_present=speech, speech_confidence=speech_conf, speech_decided_by=decider)
                reference = None
                if speech:
                    text, conf = m.get("asr_transcript"), m.get("asr_confidence")
                    if text and (conf is None or conf >= cfg.min_asr_confidence):
                        reference = text
                    else:
                        why = ("no ground-truth transcript and no ASR expert" if "asr_transcript" not in m else
                               "no ground-truth transcript and the ASR found no words" if not text else
                               f"no ground-truth transcript and the ASR confidence {conf:.2f} is below "
                               f"{cfg.min_asr_confidence:.2f}")
                        rows[pos].update(
                            status=REJECTED, transcript=None,
                            measurements=json.dumps(m, sort_keys=True, default=_json_default),
                            caption=describe(self.experts, m),
                            reasons=[_reason(NEEDS_TRANSCRIPT, "transcription",
                                             f"{clip.id}: speech detected ({decider}, confidence {speech_conf:.2f}) "
                                             f"but {why}")])
                        continue
            m = filter_event_labels(m, speech, cfg.min_event_confidence)
            caption = describe(self.experts, m)
            if speech and cfg.min_gender_confidence > 0:
                post = gender_posterior(m)
                if isinstance(m.get("gender_label"), str):  # a classifier's label: its own score is the confidence
                    best = max(float(m.get("gender_score") or 0.0), 1.0 - float(m.get("gender_score") or 0.0))
                    post = {"Male": best if str(m["gender_label"]).lower() == "male" else 1.0 - best,
                            "Female": best if str(m["gender_label"]).lower() == "female" else 1.0 - best}
                if post is None or max(post.values()) < cfg.min_gender_confidence:
                    caption += ("; speaker gender uncertain" + (
                        f" (P(Male) {post['Male']:.2f}): leave gender null" if post else ": leave gender null"))
            rows[pos].update(measurements=json.dumps(m, sort_keys=True, default=_json_default), caption=caption,
                             transcript=reference)
            items.append(SynthesisInput(clip.id, reference, clip.duration_s, m, caption))
            item_positions.append(pos)

        outputs = self.synthesizer.synthesize(items) if items else []
        for item, pos, out in zip(items, item_positions, outputs):
            row = rows[pos]
            if out.error is not None:
                kind = out.error.split(":", 1)[0]
                row.update(status=ERROR, reasons=[_reason(BACKEND_PREFIX + kind, "", out.error)])
                continue
            candidate = out.uas if out.uas is not None else out.raw
            try:
                result = validate(candidate, transcript=item.transcript, duration_s=item.duration_s)
                reasons = [_reason(r.code, r.field, r.message) for r in result.reasons]
            except Exception as err:  # noqa: BLE001 - a candidate the validator cannot read is this row's problem
                reasons = [_reason("ontology", "", f"{type(err).__name__}: {str(err)[:300]}")]
            gender = out.uas.get("paralinguistics", {}).get("gender") if isinstance(out.uas, dict) and isinstance(
                out.uas.get("paralinguistics"), dict) else None
            if gender in ("Male", "Female") and cfg.min_gender_confidence > 0 and item.transcript:
                # whoever chose it (rules, an LLM), a gender the measurements do not support is not kept
                conf = gender_confidence(item.measurements, gender)
                if conf is None or conf < cfg.min_gender_confidence:
                    reasons.append(_reason(LOW_CONFIDENCE, "paralinguistics.gender",
                                           f"{item.id}: gender {gender!r} has confidence "
                                           f"{'unknown' if conf is None else f'{conf:.2f}'} < "
                                           f"{cfg.min_gender_confidence:.2f} ("
                                           + ("the classifier's score)" if "gender_label" in item.measurements
                                              else "F0/F3 against adult speaking norms)")))
            if not reasons:
                row.update(status=ACCEPTED, uas=out.uas)
            else:
                row.update(status=REJECTED, reasons=reasons, candidate=_candidate_text(out))
        for row in rows:  # lone surrogates (hostile replies) cannot be written as UTF-8: escape them
            for key in ("candidate", "caption", "transcript"):
                row[key] = _safe_text(row[key])
            row["reasons"] = [{k: _safe_text(v) for k, v in r.items()} for r in row["reasons"]]
        return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}


# --- the resumable runner ------------------------------------------------------------------------------

def as_config(config: AnnotateConfig | dict | str | Path | None) -> AnnotateConfig:
    """An ``AnnotateConfig`` from itself, a dict, a YAML path, or None (the defaults)."""
    if config is None:
        return AnnotateConfig()
    if isinstance(config, dict):
        return AnnotateConfig.from_dict(config)
    if isinstance(config, (str, Path)):
        return AnnotateConfig.from_yaml(config)
    return config


def prepare_source(source: Any, config: AnnotateConfig):
    """(dataset with the id, audio and transcript columns only, whether it has a ground-truth transcript column):
    the source as every engine reads it (rows numbered as ids when the source has no id column)."""
    import datasets

    ds = open_source(source, config.audio_column)
    columns = list(ds.features) if ds.features is not None else None
    if columns is not None and config.id_column not in columns:
        if isinstance(ds, datasets.Dataset):
            ds = ds.add_column(config.id_column, [str(i) for i in range(len(ds))])
        else:
            raise ValueError(f"the streamed source has no id column {config.id_column!r}; name one with id_column")
    has_transcript = columns is None or config.transcript_column in columns
    if columns is not None:
        ds = ds.select_columns([config.id_column, config.audio_column]
                               + ([config.transcript_column] if has_transcript else []))
    return ds, has_transcript


def _process_position(rank: int | None, world_size: int | None):
    """(rank, world size, accelerate state or None): explicit values win, then ``accelerate launch``'s env."""
    if rank is not None or world_size is not None:
        if rank is None or world_size is None or not 0 <= rank < world_size:
            raise ValueError(f"rank and world_size go together with 0 <= rank < world_size; got {rank}, {world_size}")
        return rank, world_size, None
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch
        from accelerate import PartialState

        # Stage 1 is CPU work: on machines without CUDA, join the process group over gloo.
        state = PartialState(cpu=not torch.cuda.is_available())
        if state.num_processes != world:
            raise RuntimeError(f"WORLD_SIZE={world} but accelerate sees {state.num_processes} process(es); "
                               "start the run with `accelerate launch` (or torchrun) so every process joins")
        return state.process_index, state.num_processes, state
    return 0, 1, None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Manifest:
    def __init__(self, out: Path, rank: int, world: int, config: AnnotateConfig):
        self.path = out / f"manifest-r{rank:03d}-of-{world:03d}.json"
        self.rank, self.world = rank, world
        expected = {"format": _MANIFEST_FORMAT, "rank": rank, "world_size": world, "shard_size": config.shard_size,
                    "config": config.fingerprint()}
        if self.path.exists():
            data = json.loads(self.path.read_text())
            changed = {k: (data.get(k), v) for k, v in expected.items() if data.get(k) != v}
            if changed:
                raise ValueError(
                    f"{out}: was written by a different run ({', '.join(f'{k}: {a!r} now {b!r}' for k, (a, b) in changed.items())}); "
                    "restart with the same configuration or choose a new --out"
                )
            self.data = data
        else:
            self.data = {**expected, "shards": {}, "complete": False}

    def done(self, shard: int) -> bool:
        return f"{shard:05d}" in self.data["shards"]

    def add(self, shard: int, entry: dict[str, Any]) -> None:
        self.data["shards"][f"{shard:05d}"] = entry
        self.save()

    def finish(self, num_rows: int) -> None:
        self.data.update(complete=True, num_rows=num_rows)
        self.save()

    def save(self) -> None:
        _atomic_write(self.path, (json.dumps(self.data, indent=1, sort_keys=True) + "\n").encode())


def _check_world(out: Path, world: int) -> None:
    for path in out.glob("manifest-r*-of-*.json"):
        other = int(path.stem.rsplit("-of-", 1)[1])
        if other != world:
            raise ValueError(f"{out}: holds the output of a run with {other} process(es), this run has {world}; "
                             "restart with the same number of processes or choose a new --out")


def _chunks(part, shard_size: int):
    """(shard index, first row, rows as a dict of columns or a Dataset) over this process's part."""
    import datasets

    if isinstance(part, datasets.Dataset):
        for k in range(math.ceil(len(part) / shard_size)):
            start = k * shard_size
            yield k, start, part.select(range(start, min(len(part), start + shard_size)))
    else:
        for k, batch in enumerate(part.iter(batch_size=shard_size)):
            yield k, k * shard_size, batch


def _write_parquet(ds, path: Path) -> None:
    """Write a shard's table (with its ``datasets`` features in the schema metadata) and flush it to disk."""
    import pyarrow.parquet as pq

    with open(path, "wb") as f:
        pq.write_table(ds.data.table, f)
        f.flush()
        os.fsync(f.fileno())


def _to_dataset(columns: dict[str, list], features):
    """A Dataset of output columns built straight through Arrow (``Dataset.from_dict`` would re-encode the audio
    column, which needs torchcodec)."""
    import datasets
    import pyarrow as pa

    table = pa.Table.from_pydict(columns, schema=features.arrow_schema)
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features))


def _annotate_chunk(chunk, annotator: BatchAnnotator, config: AnnotateConfig, features):
    import datasets

    if isinstance(chunk, dict):
        if config.num_proc == 1:
            columns: dict[str, list] = {}
            n = len(next(iter(chunk.values())))
            for start in range(0, n, config.batch_size):
                out = annotator({k: v[start:start + config.batch_size] for k, v in chunk.items()})
                for key, values in out.items():
                    columns.setdefault(key, []).extend(values)
            return _to_dataset(columns, features)
        chunk = datasets.Dataset.from_dict(chunk)
    if config.num_proc == 1:
        return _annotate_chunk(chunk.to_dict(), annotator, config, features)
    return chunk.map(annotator, batched=True, batch_size=config.batch_size, num_proc=config.num_proc,
                     remove_columns=chunk.column_names, features=features, keep_in_memory=True,
                     desc="annotating shard")


def annotate(
    source: Any,
    out_dir: str | Path,
    config: AnnotateConfig | dict | str | Path | None = None,
    *,
    rank: int | None = None,
    world_size: int | None = None,
    progress: bool = True,
    engine: str = "local",
) -> dict[str, Any] | None:
    """Annotate ``source`` (Dataset, IterableDataset, saved dataset dir, audio folder or parquet) into
    ``out_dir``; resumes where a previous run with the same arguments stopped.

    ``engine="local"`` (the default): this process, or under ``accelerate launch`` / ``torchrun`` each process its
    part (``split_dataset_by_node``). ``engine="ray"``: a Ray Data pipeline on the cluster ``config.ray`` names
    (``uas_audio.annotate.ray_engine``); same shards, manifest, report and rows. Returns the summary report once
    every process has finished (None on processes that do not write it).
    """
    import datasets
    from datasets.distributed import split_dataset_by_node
    from tqdm.auto import tqdm

    config = as_config(config)
    if engine == "ray":
        if rank is not None or world_size is not None:
            raise ValueError("rank and world_size belong to the local engine; the Ray engine places work itself")
        from .ray_engine import annotate_ray

        return annotate_ray(source, out_dir, config, progress=progress)
    if engine != "local":
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    rank, world, state = _process_position(rank, world_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_world(out, world)
    for stale in out.glob(f".shard-r{rank:03d}-of-{world:03d}-*.tmp-*"):
        stale.unlink()  # a shard whose write was interrupted

    ds, has_transcript = prepare_source(source, config)
    part = split_dataset_by_node(ds, rank=rank, world_size=world) if world > 1 else ds

    manifest = _Manifest(out, rank, world, config)
    features = output_features(config.keep_audio)
    annotator = BatchAnnotator(config, has_transcript)
    total = len(part) if isinstance(part, datasets.Dataset) else None
    bar = tqdm(total=total, desc=f"annotate [{rank + 1}/{world}]", unit="clip", disable=None if progress else True,
               position=rank)
    rows_seen = 0
    for k, start, chunk in _chunks(part, config.shard_size):
        n = len(chunk) if isinstance(chunk, datasets.Dataset) else len(chunk[config.audio_column])
        rows_seen = start + n
        if not manifest.done(k):
            result = _annotate_chunk(chunk, annotator, config, features)
            name = f"shard-r{rank:03d}-of-{world:03d}-{k:05d}.parquet"
            tmp = out / f".{name}.tmp-{os.getpid()}"
            _write_parquet(result, tmp)
            os.replace(tmp, out / name)
            _fsync_dir(out)
            statuses = result["status"]
            manifest.add(k, {"file": name, "rows": [start, start + n], "first_id": result["id"][0],
                             "last_id": result["id"][-1], "count": n,
                             "status": {s: statuses.count(s) for s in sorted(set(statuses))}})
        bar.update(n)
    bar.close()
    manifest.finish(rows_seen)

    if state is not None:
        state.wait_for_everyone()
        if not state.is_main_process:
            return None
    if not all(_load_manifest(p).get("complete") for p in _manifest_paths(out, world)):
        return None  # another process is still working; the last one to finish writes the report
    summary = summarize(_report_rows(out))
    summary["experts"] = expert_info(annotator.experts)
    write_report(summary, out)
    return summary


def _manifest_paths(out: Path, world: int) -> list[Path]:
    return [out / f"manifest-r{r:03d}-of-{world:03d}.json" for r in range(world)]


def _load_manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def shard_files(out_dir: str | Path) -> list[str]:
    """The finished shards of an output directory in order (rank, then shard), as the manifests list them."""
    out = Path(out_dir)
    manifests = sorted(out.glob("manifest-r*-of-*.json"))
    if not manifests:
        raise FileNotFoundError(f"{out}: no annotation manifest found (not an annotation output directory)")
    files = []
    for path in manifests:
        shards = json.loads(path.read_text())["shards"]
        files += [str(out / shards[key]["file"]) for key in sorted(shards)]
    return files


def _report_rows(out: Path):
    import pyarrow.parquet as pq

    for file in shard_files(out):
        yield from pq.read_table(file, columns=["status", "reasons", "uas"]).to_pylist()


def failed_rows(out_dir: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """``{"id", "status", "reasons"}`` of the rows that were not accepted, in output order (at most ``limit``)."""
    import pyarrow.parquet as pq

    found: list[dict[str, Any]] = []
    for file in shard_files(out_dir):
        for row in pq.read_table(file, columns=["id", "status", "reasons"]).to_pylist():
            if row["status"] != ACCEPTED:
                found.append(row)
                if limit is not None and len(found) >= limit:
                    return found
    return found


def load_annotations(out_dir: str | Path, status: str | None = None):
    """The annotation output as a ``datasets.Dataset`` (``uas`` in ``uas_features()`` format); ``status``
    keeps only rows with that status ("accepted", "rejected" or "error")."""
    import datasets

    files = shard_files(out_dir)
    if not files:
        return datasets.Dataset.from_dict({k: [] for k in output_features()}, features=output_features())
    ds = datasets.load_dataset("parquet", data_files=files, split="train")
    if status is not None:
        if status not in (ACCEPTED, REJECTED, ERROR):
            raise ValueError(f"status must be accepted, rejected or error, got {status!r}")
        ds = ds.filter(lambda s: s == status, input_columns="status")
    return ds
