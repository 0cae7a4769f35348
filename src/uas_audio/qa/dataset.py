"""Build a UAS-QA dataset from annotation output (or any dataset with ``id``, ``uas`` and ``audio``).

Memory stays bounded whatever the corpus size: the accepted records are read twice in batches (once for the
distractor pools, once for the questions) and the questions are written to parquet as they are made. A QA
row refers to its clip instead of carrying a copy of the audio: ``source_id`` is the clip id and the audio
part is ``{"bytes": None, "path": ...}``, the source's own file when it has no bytes, otherwise a file
``audio/<hash of the clip id><ext>`` written once per clip beside ``qa.parquet``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Iterable

from .generate import KINDS, QAGenerator

#: Records read per batch (each pass) and QA rows written per parquet row group.
READ_BATCH = 64
WRITE_BATCH = 2048
AUDIO_DIR = "audio"


def qa_features():
    """``datasets.Features`` of a UAS-QA row (conversational ``messages`` with the audio reference)."""
    from datasets import Features, List, Value

    part = {"type": Value("string"), "audio": {"bytes": Value("binary"), "path": Value("string")},
            "text": Value("string")}
    return Features({
        "id": Value("string"), "source_id": Value("string"), "kind": Value("string"), "field": Value("string"),
        "messages": List({"role": Value("string"), "content": List(part)}),
        "answer": Value("string"), "choices": List(Value("string")),
    })


def _accepted(source: Any):
    """The accepted rows of ``source`` as a (lazily filtered, not materialised) dataset."""
    import datasets

    if isinstance(source, (str, Path)) and Path(source).is_dir() and any(Path(source).glob("manifest-r*.json")):
        from ..annotate.pipeline import load_annotations

        ds = load_annotations(source, status="accepted")
    elif isinstance(source, (str, Path)):
        ds = datasets.load_from_disk(str(source))
    else:
        ds = source
    if not isinstance(ds, (datasets.Dataset, datasets.IterableDataset)):
        raise ValueError(f"QA needs a Dataset, an annotation output or a saved dataset, got {type(ds).__name__}")
    columns = ds.column_names or []
    missing = [c for c in ("id", "uas") if c not in columns]
    if missing:
        raise ValueError(f"{source}: QA needs columns id and uas; missing {missing}")
    if "status" in columns:
        ds = ds.filter(lambda s: s == "accepted", input_columns="status")
    audio = ds.features.get("audio") if ds.features else None
    if isinstance(audio, datasets.Audio) and audio.decode:
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
    return ds.select_columns([c for c in ("id", "uas", "audio") if c in columns])


def _rows(ds, columns: list[str]) -> Iterator[dict[str, Any]]:
    """Rows of ``columns``, read ``READ_BATCH`` at a time."""
    for batch in ds.select_columns(columns).iter(batch_size=READ_BATCH):
        yield from (dict(zip(columns, values)) for values in zip(*(batch[c] for c in columns)))


class _ClipFiles:
    """Audio references for QA rows: the source's file when it has no bytes, else the bytes written once."""

    def __init__(self, folder: Path):
        self.folder = folder

    def reference(self, clip_id: str, audio: Any) -> dict[str, Any] | None:
        if audio is None:
            return None
        if audio.get("bytes") is None:
            return {"bytes": None, "path": audio.get("path")}
        from ..annotate.sources import AUDIO_EXTENSIONS

        suffix = Path(audio.get("path") or "").suffix.lower()
        name = hashlib.sha1(clip_id.encode()).hexdigest()[:20] + (suffix if suffix in AUDIO_EXTENSIONS else ".wav")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        path.write_bytes(audio["bytes"])
        return {"bytes": None, "path": str(path.resolve())}

    def rows(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            if row.get("uas"):
                yield {**row, "audio": self.reference(str(row["id"]), row.get("audio"))}


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_qa(
    source: Any,
    out_dir: str | Path,
    kinds: Iterable[str] = KINDS,
    seed: int = 0,
    llm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``qa.parquet`` (and ``audio/`` when the source embeds audio bytes) and ``qa_stats.json`` into
    ``out_dir``; returns the stats.

    ``llm`` (a backend spec as for stage 2: ``{"endpoint": URL, "model": ...}`` or ``{"model": path}``)
    switches on the LLM-written variant.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ds = _accepted(source)
    generator = QAGenerator(kinds, seed).fit(row["uas"] for row in _rows(ds, ["uas"]))
    backend, llm_counts = None, Counter()
    if llm:
        from ..annotate.backends import build_backend

        backend = build_backend({**llm, "constrained": False} if "endpoint" not in llm else llm)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    schema = qa_features().arrow_schema
    partial = out / "qa.parquet.partial"
    clips = _ClipFiles(out / AUDIO_DIR)
    with pq.ParquetWriter(partial, schema) as writer:
        for chunk in _chunks(generator.stream(clips.rows(_rows(ds, ds.column_names))), WRITE_BATCH):
            if backend is not None:
                from .llm import rewrite_questions

                llm_counts.update(rewrite_questions(chunk, backend))
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
    partial.replace(out / "qa.parquet")
    result = generator.stats.to_dict()
    if backend is not None:
        result["llm"] = dict(llm_counts)
    (out / "qa_stats.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
