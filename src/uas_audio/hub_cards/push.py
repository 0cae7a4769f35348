"""Publishing on the Hub: stage a repository folder, check it, then send it in one commit.

A model folder holds the safetensors weights (no pickles), config, generation config, processor files, chat
template, the package code its classes need (``auto_map``, so it loads with ``trust_remote_code=True`` where
``uas_audio`` is not installed), the ``audio-to-uas`` pipeline in ``config.json``'s ``custom_pipelines``, and the
card as ``README.md``. A dataset folder holds one directory per dataset kind (``uas/``, ``uas_qa/``) of parquet
shards ``<split>-<i>-of-<n>.parquet`` with the audio bytes embedded, and the card, whose ``configs`` metadata make
``load_dataset(repo, kind)`` find the shards. The token is huggingface_hub's own (``HF_TOKEN`` or a stored login),
never read or printed here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Mapping

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi

logger = logging.getLogger(__name__)

#: Weight formats that unpickle on load: never published.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
#: Largest parquet shard staged (bytes of Arrow data before compression), as ``datasets.push_to_hub``.
MAX_SHARD_BYTES = 500 * 2 ** 20
_TASK = "audio-to-uas"


class StagingError(ValueError):
    """A staged folder is not what a push may send (pickle weights, missing code or data, bad source)."""


def _fresh_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StagingError(f"{out}: staging needs an empty or new directory (stale files would be pushed)")
    out.mkdir(parents=True, exist_ok=True)
    return out


# --- models -----------------------------------------------------------------------------------------------


def stage_model(model: Any, processor: Any, out_dir: str | Path, *, repo_id: str, **card_kwargs: Any) -> Path:
    """Write the repository folder of ``model`` + ``processor`` into ``out_dir`` (new or empty) and check it.
    ``card_kwargs`` go to ``build_model_card`` (eval_results, recipe, datasets, base_models, license)."""
    from transformers import pipeline

    from .model_card import build_model_card

    if processor is None:
        raise StagingError("stage_model: a processor is needed (the repository must load with AutoProcessor)")
    out = _fresh_dir(out_dir)
    pipe = pipeline(_TASK, model=model, processor=processor)
    pipe.save_pretrained(out)  # weights, processor, exported code, auto_map, custom_pipelines
    card = build_model_card(model, processor, repo_id=repo_id, **card_kwargs)
    card.save(out / "README.md")
    check_model_folder(out)
    return out


def stage_model_dir(model_dir: str | Path, out_dir: str | Path, *, repo_id: str, **card_kwargs: Any) -> Path:
    """``stage_model`` for a saved checkpoint folder (model + processor saved side by side)."""
    from ..modeling import UASAudioForConditionalGeneration
    from ..processing import UASAudioProcessor

    model_dir = Path(model_dir)
    from ..trainers.lora import is_lora_folder, load_lora_folder

    if is_lora_folder(model_dir):  # a `train --lora` output is published merged: a plain model, no PEFT needed
        model, processor = load_lora_folder(model_dir, merge=True)
        return stage_model(model, processor, out_dir, repo_id=repo_id, **card_kwargs)
    if not (model_dir / "config.json").is_file():
        raise StagingError(f"{model_dir}: not a saved model (no config.json)")
    try:
        processor = UASAudioProcessor.from_pretrained(model_dir)
    except (OSError, ValueError) as err:
        raise StagingError(f"{model_dir}: no processor saved with the model ({err})") from err
    model = UASAudioForConditionalGeneration.from_pretrained(model_dir)
    return stage_model(model, processor, out_dir, repo_id=repo_id, **card_kwargs)


def check_model_folder(folder: str | Path) -> None:
    """Raise ``StagingError`` unless ``folder`` is a publishable model repository: safetensors weights and no
    pickle files, a card, and every ``auto_map`` / ``custom_pipelines`` class's module present."""
    folder = Path(folder)
    pickles = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise StagingError(f"{folder}: pickle files must not be published: {pickles}")
    if not any(folder.glob("*.safetensors")):
        raise StagingError(f"{folder}: no safetensors weights")
    for name in ("config.json", "README.md", "processor_config.json"):
        if not (folder / name).is_file():
            raise StagingError(f"{folder}: {name} is missing")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if _TASK not in config.get("custom_pipelines", {}):
        raise StagingError(f"{folder}/config.json: the {_TASK!r} pipeline is not registered in custom_pipelines")
    references = [config["custom_pipelines"][_TASK]["impl"], *config.get("auto_map", {}).values()]
    if "AutoModelForCausalLM" not in config.get("auto_map", {}):
        raise StagingError(f"{folder}/config.json: auto_map has no AutoModelForCausalLM entry")
    for reference in references:
        for ref in reference if isinstance(reference, list) else [reference]:
            if ref and not (folder / f"{ref.rsplit('.', 1)[0]}.py").is_file():
                raise StagingError(f"{folder}: {ref} is referenced but its module file is missing")


# --- datasets ---------------------------------------------------------------------------------------------


def detect_kind(source: str | Path) -> str:
    """``uas`` for an annotation output directory, ``uas_qa`` for a QA output directory; a saved ``datasets``
    directory is ``uas_qa`` when it has a ``messages`` column, ``uas`` otherwise."""
    path = Path(source)
    if any(path.glob("manifest-r*-of-*.json")):
        return "uas"
    if (path / "qa.parquet").is_file():
        return "uas_qa"
    if (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file():
        import datasets

        loaded = datasets.load_from_disk(str(path))
        first = loaded if isinstance(loaded, datasets.Dataset) else next(iter(loaded.values()))
        return "uas_qa" if "messages" in first.column_names else "uas"
    raise StagingError(f"{path}: not an annotation output (manifest), a QA output (qa.parquet) or a saved dataset")


def _load_source(kind: str, source: Any):
    """(DatasetDict, annotation report or None) of one source."""
    import datasets

    report = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if any(path.glob("manifest-r*-of-*.json")):
            from ..annotate.pipeline import load_annotations

            ds = load_annotations(path, status="accepted")
            ds = ds.remove_columns([c for c in ("status", "reasons", "candidate") if c in ds.column_names])
            if (path / "report.json").is_file():
                report = json.loads((path / "report.json").read_text(encoding="utf-8"))
            source = ds
        elif (path / "qa.parquet").is_file():
            from ..qa import qa_features

            source = datasets.Dataset.from_parquet(str(path / "qa.parquet"), features=qa_features())
        elif path.is_dir():
            source = datasets.load_from_disk(str(path))
        else:
            raise StagingError(f"{path}: no such dataset directory")
    if isinstance(source, datasets.Dataset):
        source = datasets.DatasetDict({"train": source})
    if not isinstance(source, datasets.DatasetDict):
        raise StagingError(f"{kind}: expected a directory, Dataset or DatasetDict, got {type(source).__name__}")
    return source, report


def _prepare_uas(ds, name: str):
    from datasets import Audio

    from ..schema import uas_features

    missing = [c for c in ("id", "uas", "audio") if c not in ds.column_names]
    if missing:
        raise StagingError(f"{name}: a UAS dataset needs columns id, uas and audio; missing {missing}")
    if ds.features["audio"] != Audio(decode=False):  # a plain {bytes, path} struct, or a decoding Audio
        ds = ds.cast_column("audio", Audio(decode=False))
    if ds.features["uas"] != uas_features():
        ds = ds.cast_column("uas", uas_features())
    _check_audio_sources(ds, name)
    return ds


def _check_audio_sources(ds, name: str) -> None:
    """Every row's audio has bytes or a readable file (checked before anything is written)."""
    import pyarrow.compute as pc

    table = ds.select_columns(["id", "audio"]).with_format("arrow")[:]  # honours a filter's indices
    audio = table.column("audio").combine_chunks()
    no_bytes = pc.is_null(audio.field("bytes")).to_pylist()
    paths, ids = audio.field("path").to_pylist(), table.column("id").to_pylist()
    bad = [f"{row_id} ({path or 'no path'})" for row_id, missing, path in zip(ids, no_bytes, paths)
           if missing and not (path and Path(path).is_file())]
    if bad:
        raise StagingError(f"{name}: cannot embed an audio file: rows without bytes or a readable file: {bad[:5]}")


def _embed_uas(shard, name: str):
    from datasets.table import embed_table_storage

    try:
        shard = shard.with_format("arrow").map(embed_table_storage, batched=True, keep_in_memory=True)
    except (FileNotFoundError, OSError) as err:
        raise StagingError(f"{name}: cannot embed an audio file: {err}") from err
    missing = [row_id for row_id, audio in zip(shard["id"].to_pylist(), shard["audio"].to_pylist())
               if audio is None or audio["bytes"] is None]
    if missing:
        raise StagingError(f"{name}: rows without audio bytes or a readable path: {missing[:5]}")
    return shard.with_format(None)


def _embed_qa(shard, name: str):
    def embed(row: dict[str, Any]) -> dict[str, Any]:
        for message in row["messages"]:
            for part in message["content"]:
                audio = part.get("audio")
                if part["type"] != "audio":
                    continue
                if not audio or (audio.get("bytes") is None and not audio.get("path")):
                    raise StagingError(f"{name}: row {row['id']} has an audio part without bytes or a path")
                if audio.get("bytes") is None:
                    try:
                        audio["bytes"] = Path(audio["path"]).read_bytes()
                    except OSError as err:
                        raise StagingError(f"{name}: row {row['id']}: cannot read {audio['path']}: {err}") from err
                    audio["path"] = Path(audio["path"]).name
        return {"messages": row["messages"]}

    return shard.map(embed, keep_in_memory=True, features=shard.features)


def stage_dataset(
    sources: Mapping[str, Any],
    out_dir: str | Path,
    *,
    repo_id: str,
    annotation_config: Any = None,
    review_report: Mapping[str, Any] | None = None,
    license: str = "cc-by-4.0",
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> Path:
    """Write a dataset repository folder into ``out_dir`` (new or empty).

    ``sources``: dataset kind (``uas``, ``uas_qa``) → an annotation output directory (its accepted records and
    ``report.json``), a QA output directory, a saved ``datasets`` directory, a ``Dataset`` or a ``DatasetDict``
    (splits are kept). Audio is embedded as bytes; the UAS column keeps ``uas_features()``.
    """
    from .dataset_card import KINDS, build_dataset_card

    unknown = sorted(set(sources) - set(KINDS))
    if unknown or not sources:
        raise StagingError(f"dataset kinds must be some of {list(KINDS)}, got {sorted(sources)}")
    out = _fresh_dir(out_dir)
    staged, report = {}, None
    for kind, source in sources.items():
        data, kind_report = _load_source(kind, source)
        report = report or kind_report
        splits = {}
        for split, ds in data.items():
            name = f"{kind}/{split}"
            if kind == "uas":
                ds = _prepare_uas(ds, name)
            elif "messages" not in ds.column_names:
                raise StagingError(f"{name}: a UAS-QA dataset needs a 'messages' column")
            num_shards = max(1, min(len(ds), -(-ds._estimate_nbytes() // max_shard_bytes)))
            (out / kind).mkdir(exist_ok=True)
            for index in range(num_shards):
                shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
                shard = _embed_uas(shard, name) if kind == "uas" else _embed_qa(shard, name)
                shard.to_parquet(str(out / kind / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"))
            splits[split] = ds
        staged[kind] = splits
    import datasets

    card = build_dataset_card({k: datasets.DatasetDict(v) for k, v in staged.items()}, annotation_report=report,
                              annotation_config=annotation_config, review_report=review_report, license=license,
                              repo_id=repo_id)
    card.save(out / "README.md")
    return out


# --- the commit -------------------------------------------------------------------------------------------


def commit_operations(folder: str | Path) -> list[CommitOperationAdd]:
    """One ``CommitOperationAdd`` per file of ``folder`` (paths relative, sorted); refuses pickle files."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    pickles = [str(p.relative_to(folder)) for p in files if p.suffix in PICKLE_SUFFIXES]
    if pickles:
        raise StagingError(f"{folder}: pickle files must not be published: {pickles}")
    return [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p)) for p in files]


def push_folder(folder: str | Path, repo_id: str, *, repo_type: str = "model", private: bool | None = None,
                commit_message: str | None = None, api: HfApi | None = None) -> CommitInfo:
    """Create ``repo_id`` if needed and upload every file of the staged ``folder`` in one commit."""
    if repo_type not in ("model", "dataset"):
        raise ValueError(f"repo_type must be 'model' or 'dataset', got {repo_type!r}")
    operations = commit_operations(folder)
    api = api or HfApi()  # token: HF_TOKEN or the stored login, resolved by huggingface_hub
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    logger.info("pushing %d files to %s (%s)", len(operations), repo_id, repo_type)
    return api.create_commit(repo_id, operations=operations, repo_type=repo_type,
                             commit_message=commit_message or f"Upload {repo_type} with uas-audio")
