"""Stages 1-3 as a Ray Data pipeline: the corpus-scale engine behind ``annotate(..., engine="ray")``.

One Ray Data row is one output shard (rows ``[k * shard_size, (k + 1) * shard_size)`` of the source), so the
shards, the batches inside them and therefore the records are the local runner's; every stage calls the local
runner's own :class:`~uas_audio.annotate.pipeline.BatchAnnotator` steps::

    read + decode (CPU task)
      → one actor pool per model expert (holds its model; a GPU each when the cluster has GPUs)
      → signal experts (CPU task)
      → synthesis + validation (actor pool; LLM requests in flight bounded across the pool)
      → write the shard's parquet file (CPU task)
      → the driver records the shard in the manifest (the only writer of the manifest)

The output directory is the local runner's single-process layout (``shard-r000-of-001-*.parquet``,
``manifest-r000-of-001.json``, ``report.json``/``.md``): a run started on one engine can be finished on the
other. Resumption is the local runner's: shards the manifest lists are skipped; a shard written but not yet
listed (driver killed in between) is recomputed and replaced. Ray retries a task or restarts an actor whose
worker died.

Every node must reach the source and the output directory by the same path (shared storage); a ``Dataset``
object given in Python is put in the object store.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .config import AnnotateConfig
from .experts import build_experts, expert_info, is_signal_expert
from .pipeline import (
    BatchAnnotator,
    _check_world,
    _fsync_dir,
    _Manifest,
    _report_rows,
    _write_parquet,
    output_features,
    prepare_source,
)
from .report import summarize, write_report
from .sources import is_url

logger = logging.getLogger(__name__)

#: The output layout is the single-process one of the local runner.
_RANK, _WORLD = 0, 1
_STAGE_KEYS = ("num_cpus", "num_gpus", "concurrency", "batch_size")
#: ``OpenAIChatBackend``'s default ``max_concurrency``.
ENDPOINT_MAX_CONCURRENCY = 8


@dataclass
class StageResources:
    """Where one stage runs: CPUs and GPUs per worker (None: chosen to fit the cluster), how many workers
    (actors for model experts and synthesis, concurrent tasks for the others; None: ``RayOptions.workers``), and
    for a model expert the clips per call (None: the config's ``batch_size``, which keeps records identical to
    the local runner's; a smaller one can change a model's outputs through padding)."""

    num_cpus: float | None = None
    num_gpus: float | None = None
    concurrency: int | None = None
    batch_size: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> "StageResources":
        if not isinstance(data, dict):
            raise ValueError(f"config ray.{where} must be a mapping of {', '.join(_STAGE_KEYS)}, got {data!r}")
        unknown = sorted(set(data) - set(_STAGE_KEYS))
        if unknown:
            raise ValueError(f"config ray.{where}: unknown key(s) {unknown}; expected some of {list(_STAGE_KEYS)}")
        out = cls(**data)
        for name in ("num_cpus", "num_gpus"):
            value = getattr(out, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"config ray.{where}.{name} must be a number >= 0, got {value!r}")
        for name in ("concurrency", "batch_size"):
            value = getattr(out, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"config ray.{where}.{name} must be a positive integer, got {value!r}")
        return out


@dataclass
class RayOptions:
    """The ``ray:`` section of an annotation config (all optional)."""

    #: Cluster to join ("auto", "ray://head:10001", "127.0.0.1:6379"); None: ``RAY_ADDRESS`` if set, else a
    #: local cluster started for this run (and stopped after it).
    address: str | None = None
    #: CPUs of that local cluster (None: all of this machine's).
    num_cpus: int | None = None
    #: Workers per stage unless the stage says otherwise.
    workers: int = 1
    #: Per model expert (by its name: "asr", "silero_vad", "emotion_classifier", ...).
    experts: dict[str, StageResources] = field(default_factory=dict)
    #: The synthesis + validation actors (an LLM synthesizer's ``max_concurrency`` is shared among them).
    synthesis: StageResources = field(default_factory=StageResources)
    #: The read/decode, signal-expert and write tasks.
    cpu: StageResources = field(default_factory=StageResources)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "RayOptions":
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config ray: unknown key(s) {unknown}; expected some of {sorted(known)}")
        experts = data.pop("experts", None) or {}
        if not isinstance(experts, dict):
            raise ValueError(f"config ray.experts must map expert names to resources, got {experts!r}")
        out = cls(**{k: v for k, v in data.items() if k not in ("synthesis", "cpu")},
                  experts={name: StageResources.from_dict(v, f"experts.{name}") for name, v in experts.items()},
                  synthesis=StageResources.from_dict(data.get("synthesis") or {}, "synthesis"),
                  cpu=StageResources.from_dict(data.get("cpu") or {}, "cpu"))
        if isinstance(out.workers, bool) or not isinstance(out.workers, int) or out.workers < 1:
            raise ValueError(f"config ray.workers must be a positive integer, got {out.workers!r}")
        if out.address is not None and not isinstance(out.address, str):
            raise ValueError(f"config ray.address must be a string, got {out.address!r}")
        return out


# --- the stages (run on the cluster's workers) -----------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _open_part(source: Any, config_blob: bytes):
    config = pickle.loads(config_blob)
    if type(source).__name__ == "ObjectRef":
        import ray

        source = ray.get(source)
    return prepare_source(source, config)[0]


def _read_stage(row: dict[str, Any], *, source: Any, config_blob: bytes, has_transcript: bool) -> dict[str, Any]:
    """Rows of shard ``row["shard"]`` from the source, decoded: a list of ``BatchState`` (one per batch)."""
    config: AnnotateConfig = pickle.loads(config_blob)
    ds = _open_part(source, config_blob)
    k = int(row["shard"])
    start = k * config.shard_size
    chunk = ds.select(range(start, min(len(ds), start + config.shard_size))).to_dict()
    n = len(chunk[config.audio_column])
    annotator = BatchAnnotator(config, has_transcript, experts=[])
    states = [annotator.decode({key: v[b:b + config.batch_size] for key, v in chunk.items()})
              for b in range(0, n, config.batch_size)]
    return {"shard": k, "start": start, "state": pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)}


def _measure_states(annotator: BatchAnnotator, experts: list, states: list, batch_size: int | None) -> None:
    from .pipeline import BatchState

    for state in states:
        if batch_size is None or batch_size >= len(state.clips):
            annotator.measure(state, experts)
            continue
        parts = []
        for b in range(0, len(state.clips), batch_size):  # the expert's own batch size, within the batch
            part = BatchState(state.rows, state.clips[b:b + batch_size], state.positions[b:b + batch_size],
                              state.measurements[b:b + batch_size], state.truths, state.has_transcript)
            annotator.measure(part, experts)
            parts.append(part)
        state.clips = [c for p in parts for c in p.clips]
        state.positions = [i for p in parts for i in p.positions]
        state.measurements = [m for p in parts for m in p.measurements]


class _ModelExpertStage:
    """An actor holding one model expert (loaded once, on its GPU when it has one)."""

    def __init__(self, spec: Any, config_blob: bytes, has_transcript: bool, batch_size: int | None):
        config = pickle.loads(config_blob)
        self.experts = build_experts([spec])
        self.annotator = BatchAnnotator(config, has_transcript, experts=self.experts)
        self.batch_size = batch_size

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        states = pickle.loads(row["state"])
        _measure_states(self.annotator, self.experts, states, self.batch_size)
        return {**row, "state": pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)}


def _signal_stage(row: dict[str, Any], *, specs: list, config_blob: bytes, has_transcript: bool) -> dict[str, Any]:
    config = pickle.loads(config_blob)
    experts = build_experts(specs)
    annotator = BatchAnnotator(config, has_transcript, experts=experts)
    states = pickle.loads(row["state"])
    _measure_states(annotator, experts, states, None)
    for state in states:  # the rest needs durations and measurements, not samples: keep the object store light
        for clip in state.clips:
            clip._memo.clear()
    return {**row, "state": pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL)}


class _SynthesisStage:
    """An actor holding the synthesizer (an LLM backend or a local LLM) and the experts' caption words
    (model experts unloaded: only their ``describe`` is used here)."""

    def __init__(self, config_blob: bytes, has_transcript: bool, max_concurrency: int | None):
        config: AnnotateConfig = pickle.loads(config_blob)
        if max_concurrency is not None:
            config.synthesizer = {**config.synthesizer, "max_concurrency": max_concurrency}
        self.annotator = BatchAnnotator(config, has_transcript, experts=build_experts(config.experts, load=False))
        self.features = output_features(config.keep_audio)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        import pyarrow as pa

        columns: dict[str, list] = {}
        for state in pickle.loads(row["state"]):
            for key, values in self.annotator.finish(state).items():
                columns.setdefault(key, []).extend(values)
        table = pa.Table.from_pydict(columns, schema=self.features.arrow_schema)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return {"shard": row["shard"], "start": row["start"], "table": sink.getvalue().to_pybytes()}


def _write_stage(row: dict[str, Any], *, out_dir: str, keep_audio: bool) -> dict[str, Any]:
    """Write one shard (temporary file, fsync, atomic rename) and return its manifest entry."""
    import json

    import pyarrow as pa

    import datasets

    table = pa.ipc.open_stream(row["table"]).read_all()
    result = datasets.Dataset(table, info=datasets.DatasetInfo(features=output_features(keep_audio)))
    k, start = int(row["shard"]), int(row["start"])
    out = Path(out_dir)
    name = f"shard-r{_RANK:03d}-of-{_WORLD:03d}-{k:05d}.parquet"
    tmp = out / f".{name}.tmp-{os.getpid()}"
    _write_parquet(result, tmp)
    os.replace(tmp, out / name)
    _fsync_dir(out)
    statuses = result["status"]
    n = len(statuses)
    entry = {"file": name, "rows": [start, start + n], "first_id": result["id"][0], "last_id": result["id"][-1],
             "count": n, "status": {s: statuses.count(s) for s in sorted(set(statuses))}}
    return {"shard": k, "entry": json.dumps(entry)}


# --- the driver ----------------------------------------------------------------------------------------

def _connect(options: RayOptions) -> bool:
    """Join (or start) the cluster; True when this call started Ray (and so stops it)."""
    import ray

    if ray.is_initialized():
        return False
    address = options.address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"include_dashboard": False}
    if "HF_HUB_OFFLINE" in os.environ:  # workers of a cluster started elsewhere do not inherit this process's env
        kwargs["runtime_env"] = {"env_vars": {"HF_HUB_OFFLINE": os.environ["HF_HUB_OFFLINE"]}}
    if address:
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as err:
            raise ValueError(f"cannot join the Ray cluster at {address!r}: {err}") from None
    else:
        ray.init(num_cpus=options.num_cpus, **kwargs)
    return True


def _is_hf_model(spec: Any) -> bool:
    kind = spec if isinstance(spec, str) else spec.get("type")
    return kind in ("audio-classification", "automatic-speech-recognition", "captioner",
                    "zero-shot-audio-classification")


def plan_stages(config: AnnotateConfig, options: RayOptions, cluster: dict[str, float]) -> list[dict[str, Any]]:
    """The stages in order, each ``{"name", "kind", "specs", "num_cpus", "num_gpus", "concurrency", "batch_size"}``.

    Resources left unset are fitted to ``cluster`` (Ray's ``cluster_resources()``): a transformers model expert
    gets a whole GPU when the cluster has GPUs; every actor pool and the CPU tasks share the CPUs so the whole
    pipeline can run at once (an actor pool that cannot be placed would stall the run).
    """
    from .experts import build_expert

    build_experts(config.experts, load=False)  # spec errors and duplicate names, before anything is placed
    built = [build_expert(spec, load=False) for spec in config.experts]
    by_name = {e.name: spec for e, spec in zip(built, config.experts)}
    experts = sorted(built, key=lambda e: 0 if e.name == "asr" else 1)  # the local runner's run order
    model_names = [e.name for e in experts if not is_signal_expert(by_name[e.name])]
    unknown = sorted(set(options.experts) - set(model_names))
    if unknown:
        raise ValueError(f"config ray.experts names {unknown}, which are not model experts of this run (those are: "
                         f"{', '.join(model_names) or 'none'}; signal experts run as tasks, placed by ray.cpu)")
    gpus = float(cluster.get("GPU", 0.0))
    stages: list[dict[str, Any]] = []
    signal_specs = [by_name[e.name] for e in experts if is_signal_expert(by_name[e.name])]
    for name in model_names:
        res = options.experts.get(name, StageResources())
        num_gpus = res.num_gpus if res.num_gpus is not None else (1.0 if gpus >= 1 and _is_hf_model(by_name[name]) else 0.0)
        stages.append({"name": name, "kind": "model", "specs": [by_name[name]], "num_cpus": res.num_cpus,
                       "num_gpus": num_gpus, "concurrency": res.concurrency or options.workers,
                       "batch_size": res.batch_size})
    stages.append({"name": "synthesis", "kind": "synthesis", "specs": [], "num_cpus": options.synthesis.num_cpus,
                   "num_gpus": options.synthesis.num_gpus or 0.0,
                   "concurrency": options.synthesis.concurrency or options.workers, "batch_size": None})
    workers = options.cpu.concurrency or options.workers
    cpu_stage = {"num_cpus": options.cpu.num_cpus, "num_gpus": 0.0, "concurrency": workers, "batch_size": None}
    stages = ([{"name": "read", "kind": "read", "specs": [], **cpu_stage}]
              + [s for s in stages if s["kind"] == "model"]
              + ([{"name": "signal experts", "kind": "signal", "specs": signal_specs, **cpu_stage}] if signal_specs else [])
              + [s for s in stages if s["kind"] == "synthesis"]
              + [{"name": "write", "kind": "write", "specs": [], **dict(cpu_stage)}])
    # Every worker of every stage gets up to one CPU; on a small cluster they share the CPUs, so that the whole
    # pipeline can be placed at once (a stage that cannot be placed would stall the run).
    cpus = float(cluster.get("CPU", 1.0))
    fixed = sum(s["num_cpus"] * s["concurrency"] for s in stages if s["num_cpus"] is not None)
    unset = [s for s in stages if s["num_cpus"] is None]
    share = max(cpus - fixed, 0.0) / max(1, sum(s["concurrency"] for s in unset))
    for s in unset:
        s["num_cpus"] = min(1.0, max(math.floor(share * 1000) / 1000, 0.001))  # rounded down: the sum fits
    return stages


def annotate_ray(source: Any, out_dir: str | Path, config: AnnotateConfig, *, progress: bool = True) -> dict[str, Any]:
    """Annotate ``source`` into ``out_dir`` on a Ray cluster (see the module docstring); returns the summary."""
    import datasets

    try:
        import ray
        import ray.data
    except ImportError:
        raise ValueError("the Ray engine needs Ray: pip install 'uas-audio[ray]'") from None
    options = RayOptions.from_dict(config.ray)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_world(out, _WORLD)
    ds, has_transcript = prepare_source(source, config)  # errors (no such file, no audio column) before Ray starts
    if not isinstance(ds, datasets.Dataset):
        raise ValueError("the Ray engine reads a map-style source (audio folder, parquet, saved or in-memory "
                         "Dataset); an IterableDataset streams through the local engine (engine='local')")
    manifest = _Manifest(out, _RANK, _WORLD, config)
    num_shards = math.ceil(len(ds) / config.shard_size)
    todo = [k for k in range(num_shards) if not manifest.done(k)]
    for stale in out.glob(f".shard-r{_RANK:03d}-of-{_WORLD:03d}-*.tmp-*"):
        stale.unlink()  # a shard whose write was interrupted

    started = _connect(options)
    try:
        if todo:
            _run(ds, source, out, config, options, has_transcript, todo, manifest, progress)
    except ray.exceptions.RayError as err:  # a stage that cannot run at all (not a bad row: those are recorded)
        first = str(err).strip().splitlines()
        raise RuntimeError(f"the Ray pipeline stopped: {first[-1] if first else type(err).__name__} "
                           f"(finished shards are kept; run again to resume)") from err
    finally:
        if started:
            ray.shutdown()
    manifest.finish(len(ds))
    summary = summarize(_report_rows(out))
    summary["experts"] = expert_info(build_experts(config.experts, load=False))
    write_report(summary, out)
    return summary


def _run(ds, source, out: Path, config: AnnotateConfig, options: RayOptions, has_transcript: bool, todo: list[int],
         manifest: _Manifest, progress: bool) -> None:
    import json

    import ray
    import ray.data
    from tqdm.auto import tqdm

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # a path or URL travels as such (every node opens it); an in-memory Dataset through the object store
    handle = (source if is_url(source) else str(Path(source).resolve()) if isinstance(source, (str, Path))
              else ray.put(source))
    blob = pickle.dumps(config)
    stages = plan_stages(config, options, ray.cluster_resources())
    logger.info("Ray stages: %s", [(s["name"], s["num_cpus"], s["num_gpus"], s["concurrency"]) for s in stages])
    pipe = ray.data.from_items([{"shard": k} for k in todo], override_num_blocks=len(todo))
    for s in stages:
        actors = s["kind"] in ("model", "synthesis")
        res = {"num_cpus": s["num_cpus"], "num_gpus": s["num_gpus"] or None,
               "compute": (ray.data.ActorPoolStrategy(size=s["concurrency"]) if actors
                           else ray.data.TaskPoolStrategy(size=s["concurrency"]))}
        if s["kind"] == "read":
            pipe = pipe.map(_read_stage, fn_kwargs={"source": handle, "config_blob": blob,
                                                    "has_transcript": has_transcript}, **res)
        elif s["kind"] == "model":
            pipe = pipe.map(_ModelExpertStage, fn_constructor_kwargs={
                "spec": s["specs"][0], "config_blob": blob, "has_transcript": has_transcript,
                "batch_size": s["batch_size"]}, **res)
        elif s["kind"] == "signal":
            pipe = pipe.map(_signal_stage, fn_kwargs={"specs": s["specs"], "config_blob": blob,
                                                      "has_transcript": has_transcript}, **res)
        elif s["kind"] == "synthesis":
            share = None
            if isinstance(config.synthesizer, dict) and config.synthesizer.get("endpoint"):
                # the endpoint's max_concurrency is shared out: requests in flight across the pool stay within
                # it (or within one per actor, when there are more actors than that)
                total = int(config.synthesizer.get("max_concurrency", ENDPOINT_MAX_CONCURRENCY))
                share = max(1, total // s["concurrency"])
            pipe = pipe.map(_SynthesisStage, fn_constructor_kwargs={
                "config_blob": blob, "has_transcript": has_transcript, "max_concurrency": share}, **res)
        else:
            pipe = pipe.map(_write_stage, fn_kwargs={"out_dir": str(out), "keep_audio": config.keep_audio}, **res)
    bar = tqdm(total=len(todo), desc="annotate [ray]", unit="shard", disable=None if progress else True)
    for row in pipe.iter_rows():
        manifest.add(int(row["shard"]), json.loads(row["entry"]))
        bar.update(1)
    bar.close()
