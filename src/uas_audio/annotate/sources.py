"""Open what the user points the runner at as a ``datasets`` dataset with undecoded audio.

Accepted: a ``Dataset`` / ``IterableDataset`` object; a directory written by ``save_to_disk``; a folder of
audio files (searched recursively; id = path relative to the folder); parquet files or a folder of them; parquet
files by URL, globs allowed (``hf://datasets/ORG/NAME/data/*.parquet`` on the Hub, ``s3://...``: any fsspec
filesystem installed), read with ``datasets.load_dataset("parquet", data_files=URL)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".aiff", ".aif", ".au", ".m4a")


def open_source(source: Any, audio_column: str = "audio"):
    """A Dataset or IterableDataset whose audio column is not decoded (``Audio(decode=False)``)."""
    import datasets

    if isinstance(source, datasets.DatasetDict):
        raise ValueError(f"got a DatasetDict with splits {list(source)}; pass one split, e.g. ds['train']")
    if isinstance(source, (datasets.Dataset, datasets.IterableDataset)):
        ds = source
    elif is_url(source):
        try:
            ds = datasets.load_dataset("parquet", data_files=source, split="train")
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{source}: no parquet file found there ({err})") from None
        except ValueError as err:  # datasets: "At least one valid data file must be specified"
            if "data file" not in str(err):
                raise
            raise FileNotFoundError(f"{source}: no parquet file found there ({err})") from None
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{source}: no such dataset directory, audio folder or parquet file")
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "state.json").exists()):
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                raise ValueError(f"{source}: holds splits {list(ds)}; point at one split's directory")
        elif path.suffix == ".parquet" or (path.is_dir() and any(path.glob("*.parquet"))):
            files = [str(path)] if path.is_file() else sorted(str(p) for p in path.glob("*.parquet"))
            ds = datasets.load_dataset("parquet", data_files=files, split="train")
        elif path.is_dir():
            ds = _audio_folder(path, audio_column)
        else:
            raise ValueError(f"{source}: not a dataset directory, an audio folder or a parquet file")
    features = ds.features
    if features is not None and audio_column not in features:
        raise ValueError(f"dataset has no audio column {audio_column!r} (columns: {', '.join(features)})")
    if features is not None and isinstance(features[audio_column], datasets.Audio) and features[audio_column].decode:
        ds = ds.cast_column(audio_column, datasets.Audio(decode=False))
    return ds


def is_url(source: Any) -> bool:
    """Whether ``source`` is a URL (``hf://``, ``s3://``, ...) rather than a local path."""
    return isinstance(source, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source) is not None


def _audio_folder(path: Path, audio_column: str):
    import datasets

    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise ValueError(f"{path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    ds = datasets.Dataset.from_dict(
        {"id": [str(p.relative_to(path)) for p in files],
         audio_column: [{"bytes": None, "path": str(p.resolve())} for p in files]},
    )
    # cast, not features=: building with an Audio feature would re-encode the files through torchcodec
    return ds.cast_column(audio_column, datasets.Audio(decode=False))
